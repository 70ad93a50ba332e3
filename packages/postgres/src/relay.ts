// The relay: sends committed outbox rows through a bus — core's normal publish path, so the same ids, per-key
// order, confirms and re-sends — and deletes a row only after its broker confirm. One relay sends at a time per
// outbox table: the others (other processes) wait on a session advisory lock and take over when the holder's
// connection ends, so a relay that dies mid-batch loses nothing (its unconfirmed rows are sent again: duplicates
// with the same id, never a loss). A batch is bounded, so memory stays flat while the broker is down and the
// table grows.
//
// Waking: while rows keep coming the relay reads again as soon as a batch is done, and writers send no NOTIFY
// (one NOTIFY per commit serialises every writer's commit on a server-wide lock). Each writer takes a shared
// transaction-level advisory lock (the writers' lock) with its row, or, when it cannot, sends the NOTIFY. The
// relay goes idle only by taking the writers' lock exclusively — granted once no writer transaction holding it
// is open, so every row written without a NOTIFY is committed by then — and reading once more; while idle it holds
// that lock, so every writer NOTIFYs, and it sleeps until a NOTIFY (or the poll interval) and lets go of it again.

import type { TraceContextStore } from '@lossless/core';
import {
  BACKOFF_SHAPE,
  type BackoffPolicy,
  type Bus,
  backoffDelay,
  describeError,
  ErrorCode,
  isLosslessError,
  type Logger,
  mergeBackoff,
  type OptionShape,
} from '@lossless/core';
import type { Pool, PooledClient } from './pg-types.js';
import type { ResolvedTables } from './schema.js';

export interface RelayOptions {
  /** Rows read and published at once. Default 200. */
  batchSize?: number;
  /** How often to look for rows without a NOTIFY (another writer, a missed notification), ms. Default 1,000. */
  pollIntervalMs?: number;
  /** Pause before a failed row is tried again: default 500 ms doubling to 60 s. */
  retryBackoff?: Partial<BackoffPolicy>;
}

export const RELAY_SHAPE: OptionShape = {
  batchSize: { type: 'integer', min: 1, max: 10_000 },
  pollIntervalMs: { type: 'integer', min: 10, max: 3_600_000 },
  retryBackoff: { type: 'object', shape: BACKOFF_SHAPE },
};

/** While writers are in flight (the writers' lock is not free) the relay polls: 1 ms doubling to this. */
const BUSY_POLL_MAX_MS = 50;

const DEFAULT_RETRY_BACKOFF: BackoffPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 60_000,
  factor: 2,
  jitter: 'full',
};

export interface RelayStats {
  /** true while this relay holds the lock and sends. */
  leader: boolean;
  /** Rows confirmed by the broker and deleted. */
  sent: number;
  /** Publishes that failed (the row stays, tried again after a backoff). */
  failed: number;
  batches: number;
}

interface Row {
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  headers: Record<string, string>;
  body: Buffer;
  ts: string;
  attempts: number;
}

export class Relay {
  readonly stats: RelayStats = { leader: false, sent: 0, failed: 0, batches: 0 };
  private closed = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  /** A NOTIFY (or a lost connection) came while no pause was waiting: the next pause returns at once. */
  private woken = false;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly backoff: BackoffPolicy;

  constructor(
    private readonly pool: Pool,
    private readonly tables: ResolvedTables,
    private readonly bus: Bus,
    options: RelayOptions,
    private readonly logger: Logger,
    /** The outbox's trace-context store, once loaded: a row carrying a trace is published inside it. */
    private readonly trace: () => TraceContextStore | undefined = () => undefined,
  ) {
    this.batchSize = options.batchSize ?? 200;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.backoff = mergeBackoff('outbox.relay(): retryBackoff', DEFAULT_RETRY_BACKOFF, options.retryBackoff);
  }

  /** @internal Started by outbox.relay(). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stops sending (a batch in flight settles first) and gives the lock back. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let client: PooledClient | undefined;
      let lost: Error | undefined;
      try {
        client = await this.pool.connect();
        const onError = (error: unknown) => {
          lost = error instanceof Error ? error : new Error(String(error));
          this.wakeUp();
        };
        client.on('error', onError);
        const locked = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
          [this.tables.outbox],
        );
        if (locked.rows[0]?.ok !== true) {
          // Another relay sends: wait, then ask again (its connection ending frees the lock).
          client.removeListener('error', onError);
          client.release();
          client = undefined;
          await this.pause(this.pollIntervalMs);
          continue;
        }
        this.stats.leader = true;
        failures = 0;
        await this.lead(client, () => lost);
      } catch (error) {
        lost ??= error instanceof Error ? error : new Error(String(error));
        failures++;
        if (!this.closed) {
          this.logger.warn(`postgres relay: ${describeError(error)}; trying again`, {
            table: this.tables.outbox,
          });
          await this.pause(Math.min(30_000, 200 * 2 ** Math.min(failures, 8)));
        }
      } finally {
        this.stats.leader = false;
        if (client) {
          // A lost connection is destroyed (the lock died with it); a healthy one unlocks and goes back.
          if (lost === undefined) {
            await client
              .query('SELECT pg_advisory_unlock(hashtext($1))', [this.tables.outbox])
              .catch(() => {});
          }
          client.release(lost ?? undefined);
        }
      }
    }
  }

  /**
   * As the lock holder: LISTEN, then send batches until closed or the connection is lost. Busy (rows found, or
   * writers in flight) it reads again at once or after a short poll; idle it holds the writers' lock and sleeps.
   */
  private async lead(client: PooledClient, lost: () => Error | undefined): Promise<void> {
    const onNotify = () => this.wakeUp();
    client.on('notification', onNotify);
    await client.query(`LISTEN ${this.tables.channel}`);
    let idle = false; // holding the writers' lock exclusively
    let quiet = 0; // empty reads in a row while writers were in flight
    try {
      while (!this.closed) {
        const broken = lost();
        if (broken) throw broken;
        this.woken = false; // what comes from here on is in the read below, or wakes the pause after it
        const rows = await this.next(client);
        if (rows.length > 0) {
          quiet = 0;
          if (idle) {
            // Busy again: writers stop sending NOTIFYs from here on.
            await client.query('SELECT pg_advisory_unlock(hashtext($1), 1)', [this.tables.outbox]);
            idle = false;
          }
          await this.send(client, rows);
          continue;
        }
        if (idle) {
          await this.pause(this.pollIntervalMs);
          continue;
        }
        const locked = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock(hashtext($1), 1) AS ok',
          [this.tables.outbox],
        );
        if (locked.rows[0]?.ok === true) {
          // No writer that skipped its NOTIFY is still open: read once more, then sleep (next round).
          idle = true;
          continue;
        }
        // Writers in flight: their rows come at their commits, which send no NOTIFY.
        await this.pause(Math.min(this.pollIntervalMs, BUSY_POLL_MAX_MS, 2 ** quiet));
        quiet++;
      }
    } finally {
      client.removeListener('notification', onNotify);
      if (idle && lost() === undefined) {
        await client
          .query('SELECT pg_advisory_unlock(hashtext($1), 1)', [this.tables.outbox])
          .catch(() => {});
      }
      await client.query(`UNLISTEN ${this.tables.channel}`).catch(() => {});
    }
  }

  /**
   * The oldest rows due, in seq order — except rows whose key has an older row waiting out a failure's backoff:
   * a key's messages leave in the order they were written.
   */
  private async next(client: PooledClient): Promise<Row[]> {
    const t = this.tables.outbox;
    const result = await client.query<Row>(
      `SELECT o.seq, o.id, o.topic, o.key, o.headers, o.body, o.ts, o.attempts FROM ${t} o
        WHERE o.next_attempt <= now()
          AND (o.key IS NULL OR NOT EXISTS (
            SELECT 1 FROM ${t} b WHERE b.key = o.key AND b.seq < o.seq AND b.next_attempt > now()))
        ORDER BY o.seq LIMIT $1`,
      [this.batchSize],
    );
    return result.rows;
  }

  /** Publishes a batch through the bus (in seq order), deletes the confirmed rows, backs off the failed ones. */
  private async send(client: PooledClient, rows: Row[]): Promise<void> {
    this.stats.batches++;
    const trace = this.trace();
    const outcomes = await Promise.allSettled(
      rows.map((r) => {
        const publish = () =>
          this.bus.publish(r.topic, {
            id: r.id,
            ...(r.key === null ? {} : { key: r.key }),
            headers: r.headers,
            body: new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.byteLength),
            timestamp: Number(r.ts),
          });
        // A row written under a span: its publish span is a child of the writer's (the headers travel as stored).
        return trace && r.headers.traceparent !== undefined ? trace.within(r.headers, publish) : publish();
      }),
    );
    const confirmed: string[] = [];
    const failed: { seq: string; error: string; delayMs: number }[] = [];
    let closedBus = false;
    outcomes.forEach((o, i) => {
      const row = rows[i];
      if (!row) return;
      if (o.status === 'fulfilled') confirmed.push(row.seq);
      else {
        if (isLosslessError(o.reason) && o.reason.code === ErrorCode.CLOSED) closedBus = true;
        failed.push({
          seq: row.seq,
          error: describeError(o.reason).slice(0, 2_000),
          delayMs: backoffDelay(this.backoff, row.attempts + 1),
        });
      }
    });
    if (confirmed.length > 0) {
      await client.query(`DELETE FROM ${this.tables.outbox} WHERE seq = ANY($1::bigint[])`, [confirmed]);
      this.stats.sent += confirmed.length;
    }
    if (failed.length > 0) {
      this.stats.failed += failed.length;
      await client.query(
        `UPDATE ${this.tables.outbox} o SET attempts = o.attempts + 1, last_error = f.error,
                next_attempt = now() + make_interval(secs => f.delay_ms / 1000.0)
           FROM unnest($1::bigint[], $2::text[], $3::int[]) AS f(seq, error, delay_ms)
          WHERE o.seq = f.seq`,
        [failed.map((f) => f.seq), failed.map((f) => f.error), failed.map((f) => Math.round(f.delayMs))],
      );
      this.logger.warn(
        `postgres relay: ${failed.length} of ${rows.length} messages not confirmed (${failed[0]?.error ?? ''}); ` +
          'they stay in the outbox and are sent again',
        { table: this.tables.outbox },
      );
    }
    if (closedBus) this.closed = true; // the bus is gone: nothing more can be sent through it
  }

  private wakeUp(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Waits `ms`, or less when a NOTIFY, a lost connection or close() wakes it (or already did). */
  private pause(ms: number): Promise<void> {
    if (this.closed || this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        this.woken = false;
        done();
      };
    });
  }
}
