// The tables of the outbox and the inbox, as SQL and as an idempotent migration. Names are checked identifiers
// (no quoting games): a schema and a table prefix the caller chooses, `lossless_outbox` / `lossless_inbox` in the
// `public` schema by default.
import { invalidArgument, type OptionShape } from '@lossless/core';
import type { Pool, Queryable } from './pg-types.js';

export interface TableNames {
  /** Default 'public'. */
  schema?: string;
  /** Default 'lossless_outbox'. */
  outboxTable?: string;
  /** Default 'lossless_inbox'. */
  inboxTable?: string;
}

export interface ResolvedTables {
  readonly outbox: string;
  readonly inbox: string;
  /** The NOTIFY channel the relay listens on: one per outbox table. */
  readonly channel: string;
}

/** The option rules every factory of this package shares: the pool and the table names. */
export const POOL_AND_TABLES_SHAPE: OptionShape = {
  pool: {
    type: 'custom',
    check: (v) =>
      v !== null && typeof v === 'object' && typeof (v as Pool).connect === 'function'
        ? undefined
        : 'a pg Pool (an object with connect() and query())',
  },
  schema: { type: 'string', minLength: 1, maxLength: 63 },
  outboxTable: { type: 'string', minLength: 1, maxLength: 63 },
  inboxTable: { type: 'string', minLength: 1, maxLength: 63 },
};

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function identifier(what: string, value: string): string {
  if (!IDENTIFIER.test(value)) {
    throw invalidArgument(
      `${what} must be a lower-case SQL identifier (a-z, 0-9, _; at most 63 characters), got '${value.slice(0, 80)}'`,
    );
  }
  return value;
}

export function resolveTables(names: TableNames = {}): ResolvedTables {
  const schema = identifier('schema', names.schema ?? 'public');
  const outbox = identifier('outboxTable', names.outboxTable ?? 'lossless_outbox');
  const inbox = identifier('inboxTable', names.inboxTable ?? 'lossless_inbox');
  return {
    outbox: `${schema}.${outbox}`,
    inbox: `${schema}.${inbox}`,
    channel: `${schema}_${outbox}`.slice(0, 63),
  };
}

/** The DDL, also shown in the README: run it yourself, or let migrate() run it. */
export function schemaSql(names: TableNames = {}): string {
  const t = resolveTables(names);
  const schema = t.outbox.split('.')[0];
  return `CREATE SCHEMA IF NOT EXISTS ${schema};

-- Messages written in the caller's transaction; the relay sends them in seq order and deletes each after its
-- broker confirm.
CREATE TABLE IF NOT EXISTS ${t.outbox} (
  seq          bigserial   PRIMARY KEY,
  id           text        NOT NULL,
  topic        text        NOT NULL,
  key          text,
  headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  body         bytea       NOT NULL,
  ts           bigint      NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  attempts     integer     NOT NULL DEFAULT 0,
  next_attempt timestamptz NOT NULL DEFAULT now(),
  last_error   text
);
CREATE INDEX IF NOT EXISTS ${t.outbox.split('.')[1]}_key ON ${t.outbox} (key, seq);

-- One row per message a subscription handled: written in the handler's transaction, so a redelivery of a
-- message whose row exists is acked without running the handler again.
CREATE TABLE IF NOT EXISTS ${t.inbox} (
  topic        text        NOT NULL,
  subscription text        NOT NULL,
  message_id   text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, subscription, message_id)
);
CREATE INDEX IF NOT EXISTS ${t.inbox.split('.')[1]}_processed_at ON ${t.inbox} (processed_at);
`;
}

/**
 * Creates the schema, tables and indexes that are missing; leaves existing ones alone. Safe to run from many
 * processes at once (a transaction-scoped advisory lock serialises them).
 */
export async function migrate(db: Pool | Queryable, names: TableNames = {}): Promise<void> {
  const sql = schemaSql(names);
  // One connection for the whole transaction: a Pool would run each statement on any of its connections.
  const pooled = 'connect' in db && typeof db.connect === 'function' ? await db.connect() : undefined;
  const client: Queryable = pooled ?? db;
  let lost: Error | undefined;
  // A checked-out pg client emits 'error' when its server goes away: handled here, not an uncaught exception.
  const onError = (error: unknown) => {
    lost ??= error instanceof Error ? error : new Error(String(error));
  };
  pooled?.on('error', onError);
  try {
    await client.query('BEGIN');
    try {
      await client.query("SELECT pg_advisory_xact_lock(hashtext('lossless.migrate'))");
      await client.query(sql);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  } finally {
    pooled?.removeListener('error', onError);
    pooled?.release(lost);
  }
}
