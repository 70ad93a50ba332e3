// @lossless/outbox-lmdb — a crash-safe embedded outbox for lossless publishers.

export type { LmdbOutbox, LmdbOutboxOptions } from './lmdb-outbox.js';
export { lmdbOutbox } from './lmdb-outbox.js';
