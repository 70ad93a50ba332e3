// The idempotent inbox: `inbox.handler(fn)` makes a subscription handler that runs `fn(delivery, tx)` in a
// transaction which also writes the inbox row (topic, subscription, message id). The handler's writes and that
// row commit together, and only then does core ack the message; a redelivered message whose row exists is acked
// without running `fn`. So the effect happens once per message id, whatever dies when: a consumer killed after
// the commit and before the ack gets the message again, finds the row and only acks.
import {
  checkOptions,
  type Delivery,
  type Handler,
  type HandlerContext,
  invalidArgument,
  type OptionShape,
} from '@lossless/core';
import type { Pool, PooledClient } from './pg-types.js';
import { POOL_AND_TABLES_SHAPE, type ResolvedTables, resolveTables, type TableNames } from './schema.js';

export interface PostgresInboxOptions extends TableNames {
  /** Each handled message checks a connection out of this pool for its transaction. */
  pool: Pool;
}

const INBOX_SHAPE: OptionShape = POOL_AND_TABLES_SHAPE;

const CLEANUP_SHAPE: OptionShape = {
  olderThanMs: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
  limit: { type: 'integer', min: 1, max: 1_000_000 },
};

/** What the wrapped handler does with a message; the transaction is a pg client between BEGIN and COMMIT. */
export type InboxHandler = (delivery: Delivery, tx: PooledClient, context: HandlerContext) => unknown;

export interface InboxStats {
  /** Messages whose handler ran and committed. */
  handled: number;
  /** Redeliveries of messages already handled: acked without running the handler. */
  duplicates: number;
}

export class PostgresInbox {
  readonly tables: ResolvedTables;
  readonly stats: InboxStats = { handled: 0, duplicates: 0 };
  private readonly pool: Pool;

  constructor(options: PostgresInboxOptions) {
    const o = checkOptions<PostgresInboxOptions>('postgresInbox()', options, INBOX_SHAPE);
    if (o.pool === undefined) throw invalidArgument('postgresInbox(): `pool` (a pg Pool) is required');
    this.pool = o.pool;
    this.tables = resolveTables(o);
  }

  /**
   * A subscription handler around `fn`: BEGIN; the inbox row (a duplicate ends here: ROLLBACK, ack); `fn(delivery,
   * tx)`; COMMIT; then core acks. `fn` throwing rolls everything back and the message is redelivered.
   */
  handler(fn: InboxHandler): Handler {
    if (typeof fn !== 'function') throw invalidArgument('inbox.handler(): fn must be a function');
    return async (delivery, context) => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      // node-postgres emits 'error' on a checked-out client whose server went away (a restart, a crash):
      // without a listener that would be an uncaught exception. The statement in flight rejects anyway.
      const onError = (error: unknown) => {
        broken ??= error instanceof Error ? error : new Error(String(error));
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        // Blocks on a concurrent transaction holding the same row (a duplicate delivered twice at once) until
        // it commits (then: nothing inserted, a duplicate) or rolls back (then: this one goes on).
        const inserted = await client.query(
          `INSERT INTO ${this.tables.inbox} (topic, subscription, message_id) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [delivery.topic, delivery.subscription, delivery.id],
        );
        if (inserted.rowCount === 0) {
          await client.query('ROLLBACK');
          this.stats.duplicates++;
          return;
        }
        await fn(delivery, client, context);
        await client.query('COMMIT');
        this.stats.handled++;
      } catch (error) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw error;
      } finally {
        // A lost connection, or one whose ROLLBACK failed (an unknown state), is destroyed, not pooled again.
        client.removeListener('error', onError);
        client.release(broken);
      }
    };
  }

  /**
   * Deletes inbox rows older than `olderThanMs` (default 7 days), at most `limit` (default 10,000) per call;
   * resolves with how many. Keep rows longer than any redelivery can take (maxDeliveries × the backoff, a
   * consumer down for a weekend): a message redelivered after its row is gone runs its handler again.
   */
  async cleanup(options?: { olderThanMs?: number; limit?: number }): Promise<number> {
    const o = checkOptions<{ olderThanMs?: number; limit?: number }>(
      'inbox.cleanup()',
      options,
      CLEANUP_SHAPE,
    );
    const olderThanMs = o.olderThanMs ?? 7 * 24 * 3_600_000;
    const result = await this.pool.query(
      `DELETE FROM ${this.tables.inbox} WHERE ctid IN (
         SELECT ctid FROM ${this.tables.inbox}
          WHERE processed_at < now() - make_interval(secs => $1::double precision / 1000.0)
          LIMIT $2)`,
      [olderThanMs, o.limit ?? 10_000],
    );
    return result.rowCount ?? 0;
  }
}

export function postgresInbox(options: PostgresInboxOptions): PostgresInbox {
  return new PostgresInbox(options);
}
