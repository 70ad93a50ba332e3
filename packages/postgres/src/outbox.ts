// The transactional outbox: `outbox.publish(tx, topic, message)` writes the message into the outbox table inside
// the caller's own transaction — committed with the order row, or rolled back with it; nothing is sent before
// the commit. The relay (relay.ts) sends committed rows through a bus. The message is checked exactly as
// bus.publish() checks it (core's buildRecord) before anything is written. With an OpenTelemetry SDK, the
// writer's active span context goes into the row's headers, so the message the relay sends carries its trace.

import { createHash } from 'node:crypto';
import {
  type Bus,
  buildRecord,
  checkOptions,
  invalidArgument,
  type Logger,
  type OptionShape,
  type OutgoingMessage,
  silentLogger,
  type TelemetryOptions,
  TRACE_CONTEXT_SHAPE,
  type TraceContextStore,
  traceContextStore,
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
  /**
   * publish() runs its INSERT as a named prepared statement on a node-postgres client (parsed and planned once
   * per connection: about half the server's CPU for it). Default true; false behind a PgBouncer in transaction
   * mode without prepared-statement support (before 1.21, or `max_prepared_statements = 0`).
   */
  preparedStatements?: boolean;
  /**
   * Trace context (`@opentelemetry/api` installed): publish() stores the active span's context in the row's
   * headers and the relay publishes inside it. `propagator` defaults to the globally registered one (the SDKs
   * register W3C trace context); `false` turns it off. Without an SDK nothing is stored.
   */
  telemetry?: false | { propagator?: TelemetryOptions['propagator'] };
}

const OUTBOX_SHAPE: OptionShape = {
  ...POOL_AND_TABLES_SHAPE,
  maxMessageBytes: { type: 'integer', min: 1, max: 1024 * 1024 * 1024 },
  logger: LOGGER_RULE,
  preparedStatements: { type: 'boolean' },
  telemetry: {
    type: 'custom',
    check: (v) =>
      v === false || (v !== null && typeof v === 'object')
        ? undefined
        : 'false, or an object with propagator',
  },
};

/** The shared-lock key writers take: the relay holds it exclusively only while idle (see relay.ts). */
const WRITERS_LOCK = 'pg_try_advisory_xact_lock_shared(hashtext($8), 1)';

export interface OutboxReceipt {
  /** The message id (yours, or the UUIDv7 made for it): the broker message will carry it. */
  readonly id: string;
}

export class PostgresOutbox {
  readonly tables: ResolvedTables;
  private readonly pool: Pool;
  private readonly maxMessageBytes: number;
  private readonly logger: Logger;
  /** The INSERT of publish(), and its prepared statement's name (undefined: run unnamed). */
  private readonly insert: { text: string; name: string | undefined };
  /** The trace-context store once the OTel API has loaded (undefined: not installed, or turned off). */
  private trace: TraceContextStore | undefined;
  /** Pending until the OTel API has loaded (or was found missing): the first publishes wait for it. */
  private traceLoading: Promise<void> | undefined;

  constructor(options: PostgresOutboxOptions) {
    const o = checkOptions<PostgresOutboxOptions>('postgresOutbox()', options, OUTBOX_SHAPE);
    if (o.pool === undefined) throw invalidArgument('postgresOutbox(): `pool` (a pg Pool) is required');
    this.pool = o.pool;
    this.tables = resolveTables(o);
    this.maxMessageBytes = o.maxMessageBytes ?? 4 * 1024 * 1024;
    this.logger = o.logger ?? silentLogger;
    // One statement (an executor runs one at a time): the row, and — only while the relay is idle — the NOTIFY
    // it wakes on at commit. A NOTIFY serialises every committing transaction that sent one on a server-wide
    // lock held through the commit's WAL flush, so 64 writers notifying would each wait for the others' fsyncs.
    // While the relay is busy it reads again by itself, and it waits for every writer holding this shared lock
    // (whose transactions may still commit) before it goes idle and takes the lock exclusively (relay.ts).
    const text = `WITH written AS (
         INSERT INTO ${this.tables.outbox} (id, topic, key, headers, body, ts) VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING seq
       ) SELECT pg_notify($7, '') FROM written WHERE NOT ${WRITERS_LOCK}`;
    // Named after the text, so two outboxes (other tables) never share a name on one connection.
    const name = `lossless_outbox_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.insert = { text, name: o.preparedStatements === false ? undefined : name };
    if (o.telemetry !== false) {
      const t = checkOptions<{ propagator?: TelemetryOptions['propagator'] }>(
        'postgresOutbox(): telemetry',
        o.telemetry,
        TRACE_CONTEXT_SHAPE,
      );
      this.traceLoading = traceContextStore(t).then(
        (store) => {
          this.trace = store;
          this.traceLoading = undefined;
        },
        () => {
          this.traceLoading = undefined;
        },
      );
    }
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
    const checked = buildRecord(topic, message, this.maxMessageBytes);
    if (this.traceLoading) await this.traceLoading;
    const record = this.trace ? this.trace.carry(checked, this.maxMessageBytes) : checked;
    await run(
      tx,
      this.insert.text,
      [
        record.id,
        topic,
        record.key ?? null,
        JSON.stringify(record.headers),
        Buffer.from(record.body.buffer, record.body.byteOffset, record.body.byteLength),
        record.timestamp,
        this.tables.channel,
        this.tables.outbox,
      ],
      this.insert.name,
    );
    return { id: record.id };
  }

  /**
   * Starts a relay that sends this outbox's committed rows through `bus` (see relay.ts). Close it before the bus.
   */
  relay(bus: Bus, options?: RelayOptions): Relay {
    const o = checkOptions<RelayOptions>('outbox.relay()', options, RELAY_SHAPE);
    const relay = new Relay(this.pool, this.tables, bus, o, this.logger, () => this.trace);
    relay.start();
    return relay;
  }
}

export function postgresOutbox(options: PostgresOutboxOptions): PostgresOutbox {
  return new PostgresOutbox(options);
}
