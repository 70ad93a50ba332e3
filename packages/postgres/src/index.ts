// @lossless/postgres — the database boundary: a transactional outbox (messages written in your transaction, sent
// by a relay after the commit, deleted after the broker's confirm) and an idempotent inbox (the handler's writes
// and the "handled" row commit together, redeliveries are acked without running it again) in your PostgreSQL.
export {
  type InboxHandler,
  type InboxStats,
  PostgresInbox,
  type PostgresInboxOptions,
  postgresInbox,
} from './inbox.js';
export { type OutboxReceipt, PostgresOutbox, type PostgresOutboxOptions, postgresOutbox } from './outbox.js';
export type { Executor, Pool, PooledClient, Queryable, QueryResult } from './pg-types.js';
export { Relay, type RelayOptions, type RelayStats } from './relay.js';
export { migrate, type ResolvedTables, resolveTables, schemaSql, type TableNames } from './schema.js';
