// Publish: validation → a slot in the bounded pending store → coalesced into a driver batch → the broker's
// answer per message → resolve, re-send (same record, same id) after a backoff, or reject. Each publish
// settles exactly once: resolved only on a durable confirm, rejected with a typed error otherwise.
import { type BackoffPolicy, backoffDelay } from './backoff.js';
import type { Driver, SendOutcome } from './driver/driver.js';
import {
  cancelledError,
  closedError,
  ErrorCode,
  isRetriable,
  LosslessError,
  toLosslessError,
} from './errors.js';
import type { Logger } from './logger.js';
import { buildRecord, type MessageRecord, type OutgoingMessage } from './message.js';
import type { OutboxOptions } from './outbox.js';
import { OutboxPublisher } from './outbox-publisher.js';
import { PendingStore } from './pending-store.js';

export interface PublishConfig {
  /** Most records in one driver batch. Default 500. */
  maxBatchSize: number;
  /** Batches of one topic awaiting the broker at once; more publishes coalesce into bigger batches. Default 8. */
  maxInFlightBatches: number;
  /** Unconfirmed messages held at once. Default 10,000. */
  maxPending: number;
  /** Unconfirmed bytes held at once. Default 64 MiB. */
  maxPendingBytes: number;
  /** How long a publish waits for room in the pending store before RESOURCE_EXHAUSTED, ms. Default 10,000. */
  pendingWaitMs: number;
  /**
   * Longest time from publish() to the broker's final answer, re-sends included, ms. Then the publish rejects
   * with CONFIRM_TIMEOUT (the message may or may not be stored). Default 30,000.
   */
  confirmTimeoutMs: number;
  /**
   * Sends per message at most (the first included) for nacks and retriable errors. Default 30: with the default
   * backoff that outlasts confirmTimeoutMs, so the confirm deadline — a time the caller can reason about — is what
   * ends re-sends (a broker restart of 10-20 s is ridden out rather than failed after ~6 s of backoff).
   */
  maxAttempts: number;
  /** Delays between re-sends. Default 50 ms doubling to 5 s, jittered. */
  retryBackoff: BackoffPolicy;
  /** Largest message, bytes; capped by the driver's own limit. */
  maxMessageBytes: number;
}

export const DEFAULT_PUBLISH_CONFIG: Omit<PublishConfig, 'maxMessageBytes'> = {
  maxBatchSize: 500,
  maxInFlightBatches: 8,
  maxPending: 10_000,
  maxPendingBytes: 64 * 1024 * 1024,
  pendingWaitMs: 10_000,
  confirmTimeoutMs: 30_000,
  maxAttempts: 30,
  retryBackoff: { initialDelayMs: 50, maxDelayMs: 5_000, factor: 2, jitter: 'full' },
};

export interface PublishOptions {
  /**
   * Aborting rejects the publish with CANCELLED. Before the message was handed to the driver, nothing is sent;
   * after, the outcome is unknown (as with CONFIRM_TIMEOUT): it may still arrive.
   */
  signal?: AbortSignal;
}

/** Proof that the broker durably stored a message — or, with an outbox in 'accepted' mode, that the outbox did. */
export interface PublishReceipt {
  readonly id: string;
  readonly topic: string;
  /**
   * 'confirmed': the broker confirmed it durably. 'accepted' (outbox with resolveOn 'accepted' only): it is in
   * the crash-safe outbox, and the bus sends it in the background until the broker confirms it.
   */
  readonly status: 'confirmed' | 'accepted';
  /** How many times it was sent (1 unless nacks or transient errors made core re-send it). */
  readonly attempts: number;
  /** Broker coordinates when the driver reports them (partition, offset, broker message id…). */
  readonly details?: Readonly<Record<string, string | number>>;
}

export type PublishResult = { ok: true; receipt: PublishReceipt } | { ok: false; error: LosslessError };

interface Entry {
  readonly topic: string;
  readonly record: MessageRecord;
  readonly size: number;
  readonly deadline: number;
  resolve: (receipt: PublishReceipt) => void;
  reject: (error: LosslessError) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  attempts: number;
  settled: boolean;
}

const noop = () => {};

interface TopicQueue {
  queued: Entry[];
  inFlight: number;
}

export class Publisher {
  private readonly store: PendingStore;
  private readonly queues = new Map<string, TopicQueue>();
  /** Every unsettled entry, oldest first (deadlines are monotonic), for the timeout sweep. */
  private readonly live: Entry[] = [];
  private liveHead = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private closed = false;

  /** The outbox in front of the send path, when the bus has one. */
  private readonly outbox: OutboxPublisher | undefined;

  constructor(
    private readonly driver: Driver,
    private readonly config: PublishConfig,
    outbox?: { options: OutboxOptions; logger: Logger },
  ) {
    this.outbox = outbox
      ? new OutboxPublisher(outbox.options, config, outbox.logger, (t, r, s) => this.sendRecord(t, r, s))
      : undefined;
    this.store = new PendingStore({
      maxMessages: config.maxPending,
      maxBytes: config.maxPendingBytes,
      waitMs: config.pendingWaitMs,
      maxWaiters: config.maxPending,
    });
  }

  /** Unconfirmed messages held now. */
  get pending(): number {
    return this.store.size;
  }

  /** Messages in the outbox now (0 without one). */
  get outboxed(): number {
    return this.outbox?.size ?? 0;
  }

  /** With an outbox: re-sends what it still holds (same ids), ahead of new publishes. */
  replay(): Promise<void> {
    return this.outbox?.replay() ?? Promise.resolve();
  }

  /** Resolves once nothing is waiting for a confirm and the outbox (if any) is empty. */
  async drained(): Promise<void> {
    await this.outbox?.whenEmpty();
    await this.store.whenEmpty();
  }

  publish(topic: string, message: OutgoingMessage, options?: PublishOptions): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(closedError('the bus', { topic }));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(signal.reason, { topic }));
    let record: MessageRecord;
    try {
      record = buildRecord(topic, message, this.config.maxMessageBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.outbox) return this.outbox.publish(topic, record, signal);
    return this.sendRecord(topic, record, signal);
  }

  /** Sends a validated record and resolves on the broker's confirm (the path without an outbox). */
  sendRecord(topic: string, record: MessageRecord, signal: AbortSignal | undefined): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(closedError('the bus', { topic, messageId: record.id }));
    const size = record.body.byteLength;
    const waiting = this.store.acquire(size, topic, signal);
    if (waiting === undefined) return this.start(topic, record, size, signal);
    return waiting.then(() => {
      if (this.closed) {
        this.store.release(size);
        throw closedError('the bus', { topic, messageId: record.id });
      }
      return this.start(topic, record, size, signal);
    });
  }

  private start(
    topic: string,
    record: MessageRecord,
    size: number,
    signal: AbortSignal | undefined,
  ): Promise<PublishReceipt> {
    return new Promise<PublishReceipt>((resolve, reject) => {
      const entry: Entry = {
        topic,
        record,
        size,
        deadline: Date.now() + this.config.confirmTimeoutMs,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        attempts: 0,
        settled: false,
      };
      if (signal) {
        entry.onAbort = () =>
          this.fail(entry, cancelledError(signal.reason, { topic, messageId: record.id }));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.live.push(entry);
      this.armSweeper();
      this.enqueue(entry);
    });
  }

  private enqueue(entry: Entry): void {
    let q = this.queues.get(entry.topic);
    if (!q) {
      q = { queued: [], inFlight: 0 };
      this.queues.set(entry.topic, q);
    }
    q.queued.push(entry);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One turn of the event loop lets concurrent publish calls coalesce into one batch.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [topic, q] of this.queues) {
      while (q.queued.length > 0 && q.inFlight < this.config.maxInFlightBatches) {
        const batch = q.queued.splice(0, this.config.maxBatchSize).filter((e) => !e.settled);
        if (batch.length > 0) this.send(topic, q, batch);
      }
    }
  }

  private send(topic: string, q: TopicQueue, batch: Entry[]): void {
    q.inFlight++;
    const records = new Array<MessageRecord>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      e.attempts++;
      records[i] = e.record;
    }
    let sending: Promise<SendOutcome[]>;
    try {
      sending = this.driver.send(topic, records);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending.then(
      (outcomes) => {
        if (outcomes.length !== batch.length) {
          const error = new LosslessError(
            ErrorCode.INTERNAL,
            `driver '${this.driver.name}' answered ${outcomes.length} outcomes for a batch of ${batch.length}`,
            { topic, broker: this.driver.name },
          );
          for (const e of batch) this.onFailure(e, error);
        } else {
          for (let i = 0; i < batch.length; i++) {
            const outcome = outcomes[i]!;
            if (outcome.ok) this.succeed(batch[i]!, outcome.details);
            else this.onFailure(batch[i]!, outcome.error);
          }
        }
        this.batchDone(q);
      },
      (thrown: unknown) => {
        const error = toLosslessError(thrown, (e) => this.driver.classify(e), this.driver.name);
        for (const e of batch) this.onFailure(e, error);
        this.batchDone(q);
      },
    );
  }

  private batchDone(q: TopicQueue): void {
    q.inFlight--;
    if (q.queued.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private succeed(entry: Entry, details: Readonly<Record<string, string | number>> | undefined): void {
    if (entry.settled) return;
    this.settle(entry);
    const receipt: { -readonly [K in keyof PublishReceipt]: PublishReceipt[K] } = {
      id: entry.record.id,
      topic: entry.topic,
      status: 'confirmed',
      attempts: entry.attempts,
    };
    if (details) receipt.details = details;
    const resolve = entry.resolve;
    this.forget(entry);
    resolve(receipt);
  }

  private onFailure(entry: Entry, error: LosslessError): void {
    if (entry.settled) return;
    if (isRetriable(error) && entry.attempts < this.config.maxAttempts) {
      const delay = backoffDelay(this.config.retryBackoff, entry.attempts);
      if (Date.now() + delay < entry.deadline) {
        setTimeout(() => {
          if (!entry.settled) this.enqueue(entry);
        }, delay);
        return;
      }
    }
    const final =
      entry.attempts > 1
        ? new LosslessError(
            error.code,
            `${error.message} (gave up after ${entry.attempts} sends of message ${entry.record.id})`,
            {
              retriable: error.retriable,
              cause: error,
              topic: entry.topic,
              messageId: entry.record.id,
              broker: this.driver.name,
            },
          )
        : error.withContext({ topic: entry.topic, messageId: entry.record.id });
    this.fail(entry, final);
  }

  private fail(entry: Entry, error: LosslessError): void {
    if (entry.settled) return;
    this.settle(entry);
    const reject = entry.reject;
    this.forget(entry);
    reject(error);
  }

  private settle(entry: Entry): void {
    entry.settled = true;
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    this.store.release(entry.size);
  }

  /** After settling: the sweep list may still hold the entry for a while, so let go of what it references. */
  private forget(entry: Entry): void {
    (entry as { record: MessageRecord | undefined }).record = undefined;
    entry.resolve = noop;
    entry.reject = noop;
    entry.onAbort = undefined;
  }

  private armSweeper(): void {
    if (this.sweeper) return;
    const tick = Math.min(1_000, Math.max(10, Math.floor(this.config.confirmTimeoutMs / 20)));
    this.sweeper = setInterval(() => this.sweep(), tick);
    this.sweeper.unref();
  }

  /** Rejects with CONFIRM_TIMEOUT every entry past its deadline; drops settled entries from the head. */
  private sweep(): void {
    const now = Date.now();
    while (this.liveHead < this.live.length) {
      const e = this.live[this.liveHead]!;
      if (!e.settled) {
        if (e.deadline > now) break;
        this.fail(
          e,
          new LosslessError(
            ErrorCode.CONFIRM_TIMEOUT,
            `no confirm for message ${e.record.id} on '${e.topic}' within ${this.config.confirmTimeoutMs} ms ` +
              `(${e.attempts} sends): it may or may not be stored; re-send it with the same id`,
            { topic: e.topic, messageId: e.record.id, broker: this.driver.name },
          ),
        );
      }
      this.liveHead++;
    }
    if (this.liveHead > 1024 && this.liveHead * 2 > this.live.length) {
      this.live.splice(0, this.liveHead);
      this.liveHead = 0;
    }
    if (this.liveHead === this.live.length && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      this.live.length = 0;
      this.liveHead = 0;
    }
  }

  /**
   * Refuses new publishes (CLOSED), rejects those still waiting for room, and resolves when every message
   * already handed over is settled — confirmed, rejected, or timed out at its confirm deadline.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.outbox?.stop();
    this.store.close();
    await this.store.whenEmpty();
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.outbox?.close();
  }
}
