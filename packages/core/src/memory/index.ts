// @lossless/core/memory — the in-memory driver and broker.

export type { MemoryDriverOptions, SendFault } from './memory-driver.js';
export { MemoryBroker, MemoryNetwork, memoryDriver } from './memory-driver.js';
