// The transactional outbox: `outbox.publish(tx, topic, message)` writes the message into the outbox table inside
// the caller's own transaction — committed with the order row, or rolled back with it; nothing is sent before
// the commit. The relay (relay.ts) sends committed rows through a bus. The message is checked exactly as
// bus.publish() checks it (core's buildRecord) before anything is written.
import {
  type Bus,
  buildRecord,
  checkOptions,
  invalidArgument,
  type Logger,
  type OptionShape,
  type OutgoingMessage,
  silentLogger,
  validateName,
} from '@lossless/core';
import { LOGGER_RULE } from '@lossless/core/driver';
import { type Executor, isExecutor, type Pool, run } from './pg-types.js';
import { RELAY_SHAPE, Relay, type RelayOptions } from './relay.js';
import { POOL_AND_TABLES_SHAPE, type ResolvedTables, resolveTables, type TableNames } from './schema.js';

export interface PostgresOutboxOptions extends TableNames {
  /** The pool the relay reads and deletes with (its own connections; your transactions bring theirs). */
  pool: Pool;
  /** Largest message (body + headers) accepted into the table. Default 4 MiB, the smallest broker default. */
  maxMessageBytes?: number;
  /** Where the relay's warnings go. Default: none. */
  logger?: Logger;
}

const OUTBOX_SHAPE: OptionShape = {
  ...POOL_AND_TABLES_SHAPE,
  maxMessageBytes: { type: 'integer', min: 1, max: 1024 * 1024 * 1024 },
  logger: LOGGER_RULE,
};

export interface OutboxReceipt {
  /** The message id (yours, or the UUIDv7 made for it): the broker message will carry it. */
  readonly id: string;
}

export class PostgresOutbox {
  readonly tables: ResolvedTables;
  private readonly pool: Pool;
  private readonly maxMessageBytes: number;
  private readonly logger: Logger;

  constructor(options: PostgresOutboxOptions) {
    const o = checkOptions<PostgresOutboxOptions>('postgresOutbox()', options, OUTBOX_SHAPE);
    if (o.pool === undefined) throw invalidArgument('postgresOutbox(): `pool` (a pg Pool) is required');
    this.pool = o.pool;
    this.tables = resolveTables(o);
    this.maxMessageBytes = o.maxMessageBytes ?? 4 * 1024 * 1024;
    this.logger = o.logger ?? silentLogger;
  }

  /**
   * Writes `message` for `topic` into the outbox inside `tx` (a pg client between BEGIN and COMMIT, or an
   * executor function). Resolves with its id once the row is written — sent only after `tx` commits.
   * INVALID_ARGUMENT / TOO_LARGE as bus.publish() for a bad message; nothing is written then.
   */
  async publish(tx: Executor, topic: string, message: OutgoingMessage): Promise<OutboxReceipt> {
    if (!isExecutor(tx)) {
      throw invalidArgument(
        'outbox.publish(): tx must be a pg client in a transaction, or an executor function',
        {
          topic,
        },
      );
    }
    validateName('topic', topic);
    const record = buildRecord(topic, message, this.maxMessageBytes);
    // One statement (an executor runs one at a time): the row, and the NOTIFY the relay wakes on at commit.
    await run(
      tx,
      `WITH written AS (
         INSERT INTO ${this.tables.outbox} (id, topic, key, headers, body, ts) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING seq
       ) SELECT pg_notify($7, '') FROM written`,
      [
        record.id,
        topic,
        record.key ?? null,
        JSON.stringify(record.headers),
        Buffer.from(record.body.buffer, record.body.byteOffset, record.body.byteLength),
        record.timestamp,
        this.tables.channel,
      ],
    );
    return { id: record.id };
  }

  /**
   * Starts a relay that sends this outbox's committed rows through `bus` (see relay.ts). Close it before the bus.
   */
  relay(bus: Bus, options?: RelayOptions): Relay {
    const o = checkOptions<RelayOptions>('outbox.relay()', options, RELAY_SHAPE);
    const relay = new Relay(this.pool, this.tables, bus, o, this.logger);
    relay.start();
    return relay;
  }
}

export function postgresOutbox(options: PostgresOutboxOptions): PostgresOutbox {
  return new PostgresOutbox(options);
}
