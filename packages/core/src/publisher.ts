// Publish: validation → a slot in the bounded pending store → coalesced into a driver batch → the broker's
// answer per message → resolve, re-send (same record, same id) after a backoff, or reject. Each publish
// settles exactly once: resolved only on a durable confirm, rejected with a typed error otherwise.
import { backoffDelay } from './backoff.js';
import type { Driver, SendOutcome } from './driver/driver.js';
import {
  cancelledError,
  closedError,
  ErrorCode,
  invalidArgument,
  isLosslessError,
  isRetriable,
  LosslessError,
  toLosslessError,
} from './errors.js';
import type { Logger } from './logger.js';
import { buildRecord, type MessageRecord, type OutgoingMessage } from './message.js';
import type { OutboxOptions } from './outbox.js';
import { OutboxPublisher } from './outbox-publisher.js';
import { PendingStore } from './pending-store.js';
import type { PublishConfig, PublishReceipt } from './publish-config.js';
import type { Telemetry } from './telemetry.js';
import { describeValue, isSignal } from './validate.js';

export interface PublishOptions {
  /**
   * Aborting rejects the publish with CANCELLED. Before the message was handed to the driver, nothing is sent;
   * after, the outcome is unknown (as with CONFIRM_TIMEOUT): it may still arrive.
   */
  signal?: AbortSignal;
}

export type PublishResult = { ok: true; receipt: PublishReceipt } | { ok: false; error: LosslessError };

/**
 * The signal of publish options. Checked by hand, not through checkOptions: it runs on every publish that passes
 * options (bench/src/validation.ts measures both).
 */
function signalOf(options: unknown, topic: string): AbortSignal | undefined {
  if (options === null || typeof options !== 'object') {
    throw invalidArgument(`publish(): options must be an object, got ${describeValue(options)}`, { topic });
  }
  for (const key in options) {
    if (key !== 'signal') {
      throw invalidArgument(
        `publish(): unknown option '${key}'${key.toLowerCase().startsWith('sig') ? " (did you mean 'signal'?)" : ''}; valid: signal`,
        { topic },
      );
    }
  }
  const signal = (options as PublishOptions).signal;
  if (signal === undefined || isSignal(signal)) return signal;
  throw invalidArgument(`publish(): options.signal must be an AbortSignal, got ${describeValue(signal)}`, {
    topic,
  });
}

/** The abort reason of a signal, which a signal-like object may refuse to give. */
function reasonOf(signal: AbortSignal): unknown {
  try {
    return signal.reason;
  } catch {
    return undefined;
  }
}

/** One publish on its way: queued, in flight, or waiting for a re-send. Fixed shape: it is made per publish. */
class Entry {
  /** Set only when the caller passed an AbortSignal. */
  abort: AbortHook | undefined = undefined;
  attempts = 0;
  settled = false;
  constructor(
    readonly queue: TopicQueue,
    readonly record: MessageRecord,
    readonly deadline: number,
    readonly resolve: (receipt: PublishReceipt) => void,
    readonly reject: (error: LosslessError) => void,
  ) {}
}

interface AbortHook {
  readonly signal: AbortSignal;
  readonly listener: () => void;
}

/** The receipt handed to the caller; a class so every receipt has one shape. */
class Receipt implements PublishReceipt {
  readonly status = 'confirmed' as const;
  constructor(
    readonly id: string,
    readonly topic: string,
    readonly attempts: number,
    readonly details: Readonly<Record<string, string | number>> | undefined,
  ) {}
}

// Node's queueMicrotask wraps each callback in an AsyncResource; a then() on a settled promise is the bare
// microtask.
const resolvedPromise = Promise.resolve();

// `new Promise(executor)` with a closure per publish costs an allocation; a shared executor hands the resolving
// functions over through these two slots, read right after the (synchronous) constructor call.
let takenResolve: ((receipt: PublishReceipt) => void) | undefined;
let takenReject: ((error: LosslessError) => void) | undefined;
function takeResolvers(resolve: (receipt: PublishReceipt) => void, reject: (error: LosslessError) => void) {
  takenResolve = resolve;
  takenReject = reject;
}

/** Counts a send of the entry and gives its record to the batch (a named function: no closure per batch). */
function startAttempt(e: Entry): MessageRecord {
  e.attempts++;
  return e.record;
}

function isUnsettled(e: Entry): boolean {
  return !e.settled;
}

/** The publishes of one topic: queued for the next batch, and how many batches await the broker. */
interface TopicQueue {
  readonly topic: string;
  queued: Entry[];
  inFlight: number;
}

export class Publisher {
  private readonly store: PendingStore;
  private readonly queues = new Map<string, TopicQueue>();
  /**
   * Where the timeout sweep finds every unsettled entry besides the topic queues: the batches awaiting the
   * broker, and the entries waiting out a backoff before a re-send. Nothing per message: a confirmed entry is
   * garbage at once.
   */
  private readonly inFlightBatches = new Set<Entry[]>();
  private readonly backingOff = new Set<Entry>();
  /** The queue of the topic published to last: most buses publish to few topics, so skip the map lookup. */
  private lastQueue: TopicQueue | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private closed = false;

  /** The driver's header budget (Capabilities.maxHeaderBytes), or no limit beyond core's own. */
  private readonly maxHeaderBytes: number;

  /** The outbox in front of the send path, when the bus has one. */
  private readonly outbox: OutboxPublisher | undefined;

  constructor(
    private readonly driver: Driver,
    private readonly config: PublishConfig,
    outbox?: { options: OutboxOptions; logger: Logger },
    /** Spans and metrics of each publish (telemetry.ts); undefined when telemetry is off or not installed. */
    private readonly telemetry?: Telemetry,
  ) {
    const declared = driver.capabilities.maxHeaderBytes;
    this.maxHeaderBytes = typeof declared === 'number' && declared > 0 ? declared : Number.POSITIVE_INFINITY;
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

  /** Never throws: every failure, whatever the caller passed, is a rejected promise with a LosslessError. */
  publish(topic: string, message: OutgoingMessage, options?: PublishOptions): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(closedError('the bus', { topic }));
    let signal: AbortSignal | undefined;
    let record: MessageRecord;
    try {
      signal = options === undefined ? undefined : signalOf(options, topic);
      if (signal?.aborted) return Promise.reject(cancelledError(reasonOf(signal), { topic }));
      record = buildRecord(topic, message, this.config.maxMessageBytes, this.maxHeaderBytes);
    } catch (error) {
      return Promise.reject(
        isLosslessError(error)
          ? error
          : invalidArgument(
              'publish(): the message or its options could not be read (a getter or Proxy threw)',
              {
                topic,
                cause: error,
              },
            ),
      );
    }
    const stampedNow = message.timestamp === undefined;
    if (this.telemetry !== undefined) {
      return this.telemetry.publish(topic, record, (r) => this.dispatch(topic, r, signal, stampedNow));
    }
    return this.dispatch(topic, record, signal, stampedNow);
  }

  /** A validated record into the outbox, or straight to the send path. */
  private dispatch(
    topic: string,
    record: MessageRecord,
    signal: AbortSignal | undefined,
    stampedNow: boolean,
  ): Promise<PublishReceipt> {
    if (this.outbox) return this.outbox.publish(topic, record, signal);
    return this.admit(topic, record, signal, stampedNow);
  }

  /** Sends a validated record and resolves on the broker's confirm (the path without an outbox). */
  sendRecord(topic: string, record: MessageRecord, signal: AbortSignal | undefined): Promise<PublishReceipt> {
    if (this.closed) return Promise.reject(closedError('the bus', { topic, messageId: record.id }));
    return this.admit(topic, record, signal, false);
  }

  /**
   * Takes a slot in the pending store (waiting for one if it is full), then starts the send. `stampedNow`: the
   * record's timestamp was made by this publish call, so the confirm deadline can count from it.
   */
  private admit(
    topic: string,
    record: MessageRecord,
    signal: AbortSignal | undefined,
    stampedNow: boolean,
  ): Promise<PublishReceipt> {
    const size = record.body.byteLength;
    const waiting = this.store.acquire(size, topic, signal);
    if (waiting === undefined) return this.start(topic, record, signal, stampedNow);
    return waiting.then(() => {
      if (this.closed) {
        this.store.release(size);
        throw closedError('the bus', { topic, messageId: record.id });
      }
      return this.start(topic, record, signal, false);
    });
  }

  private start(
    topic: string,
    record: MessageRecord,
    signal: AbortSignal | undefined,
    stampedNow: boolean,
  ): Promise<PublishReceipt> {
    const promise = new Promise<PublishReceipt>(takeResolvers);
    const resolve = takenResolve;
    const reject = takenReject;
    if (resolve === undefined || reject === undefined) {
      throw new LosslessError(ErrorCode.INTERNAL, 'the Promise executor did not hand over its resolvers', {
        topic,
        messageId: record.id,
      });
    }
    const entry = new Entry(
      this.queueOf(topic),
      record,
      (stampedNow ? record.timestamp : Date.now()) + this.config.confirmTimeoutMs,
      resolve,
      reject,
    );
    if (signal) {
      const listener = () =>
        this.fail(entry, cancelledError(reasonOf(signal), { topic, messageId: record.id }));
      try {
        signal.addEventListener('abort', listener, { once: true });
      } catch (error) {
        // A signal-like object that refuses listeners: give the slot back and fail this publish only.
        this.store.release(record.body.byteLength);
        return Promise.reject(
          invalidArgument('publish(): options.signal refused an abort listener', { topic, cause: error }),
        );
      }
      entry.abort = { signal, listener };
    }
    if (this.sweeper === undefined) this.armSweeper();
    this.enqueue(entry);
    return promise;
  }

  private queueOf(topic: string): TopicQueue {
    const last = this.lastQueue;
    if (last !== undefined && last.topic === topic) return last;
    let q = this.queues.get(topic);
    if (!q) {
      q = { topic, queued: [], inFlight: 0 };
      this.queues.set(topic, q);
    }
    this.lastQueue = q;
    return q;
  }

  private enqueue(entry: Entry): void {
    entry.queue.queued.push(entry);
    this.scheduleFlush();
  }

  /**
   * A microtask, not a timer: publishes made in the same turn (callers resumed by one batch of confirms, a loop
   * without awaits, publishBatch) coalesce into one batch, and a lone publish is sent at once. Under load, the
   * cap on batches in flight makes the queue — and so the next batch — grow.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    resolvedPromise.then(this.flushNow);
  }

  private readonly flushNow = () => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    for (const q of this.queues.values()) {
      while (q.queued.length > 0 && q.inFlight < this.config.maxInFlightBatches) {
        const taken = q.queued.splice(0, this.config.maxBatchSize);
        const batch = taken.every(isUnsettled) ? taken : taken.filter(isUnsettled);
        if (batch.length > 0) this.send(q, batch);
      }
    }
  }

  private send(q: TopicQueue, batch: Entry[]): void {
    const topic = q.topic;
    q.inFlight++;
    this.inFlightBatches.add(batch);
    const records = batch.map(startAttempt);
    // Outcomes a driver reported early (SendProgress) are final for this attempt: the batch's answer skips them.
    let reported: Uint8Array | undefined;
    let answered = false;
    const progress = (i: number, outcome: SendOutcome) => {
      if (answered || reported?.[i]) return;
      const entry = batch[i];
      if (entry === undefined) return; // an index outside the batch
      reported ??= new Uint8Array(batch.length);
      reported[i] = 1;
      this.apply(entry, outcome);
    };
    let sending: Promise<SendOutcome[]>;
    try {
      sending = this.driver.send(topic, records, progress);
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending.then(
      (outcomes) => {
        answered = true;
        if (outcomes.length !== batch.length) {
          const error = new LosslessError(
            ErrorCode.INTERNAL,
            `driver '${this.driver.name}' answered ${outcomes.length} outcomes for a batch of ${batch.length}`,
            { topic, broker: this.driver.name },
          );
          this.failUnreported(batch, reported, error);
        } else {
          batch.forEach((entry, i) => {
            if (reported?.[i]) return;
            const outcome = outcomes[i];
            // A sparse answer from a broken driver: that message fails, the others settle, the batch ends.
            if (outcome === undefined) {
              const error = new LosslessError(
                ErrorCode.INTERNAL,
                `driver '${this.driver.name}' answered no outcome for message ${entry.record.id}`,
                { topic, messageId: entry.record.id, broker: this.driver.name, retriable: false },
              );
              this.onFailure(entry, error);
            } else this.apply(entry, outcome);
          });
        }
        this.batchDone(q, batch);
      },
      (thrown: unknown) => {
        answered = true;
        const error = toLosslessError(thrown, (e) => this.driver.classify(e), this.driver.name);
        this.failUnreported(batch, reported, error);
        this.batchDone(q, batch);
      },
    );
  }

  /** Fails every entry of the batch whose outcome the driver did not report early. */
  private failUnreported(batch: Entry[], reported: Uint8Array | undefined, error: LosslessError): void {
    batch.forEach((entry, i) => {
      if (!reported?.[i]) this.onFailure(entry, error);
    });
  }

  private apply(entry: Entry, outcome: SendOutcome): void {
    if (outcome.ok) this.succeed(entry, outcome.details);
    else this.onFailure(entry, outcome.error);
  }

  private batchDone(q: TopicQueue, batch: Entry[]): void {
    q.inFlight--;
    this.inFlightBatches.delete(batch);
    if (q.queued.length > 0) this.scheduleFlush();
  }

  private succeed(entry: Entry, details: Readonly<Record<string, string | number>> | undefined): void {
    if (entry.settled) return;
    this.settle(entry);
    entry.resolve(new Receipt(entry.record.id, entry.queue.topic, entry.attempts, details));
  }

  private onFailure(entry: Entry, error: LosslessError): void {
    if (entry.settled) return;
    if (isRetriable(error) && entry.attempts < this.config.maxAttempts) {
      const delay = backoffDelay(this.config.retryBackoff, entry.attempts);
      if (Date.now() + delay < entry.deadline) {
        this.telemetry?.resent(entry.queue.topic);
        this.backingOff.add(entry);
        setTimeout(() => {
          this.backingOff.delete(entry);
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
              topic: entry.queue.topic,
              messageId: entry.record.id,
              broker: this.driver.name,
            },
          )
        : error.withContext({ topic: entry.queue.topic, messageId: entry.record.id });
    this.fail(entry, final);
  }

  private fail(entry: Entry, error: LosslessError): void {
    if (entry.settled) return;
    this.settle(entry);
    entry.reject(error);
  }

  private settle(entry: Entry): void {
    entry.settled = true;
    const abort = entry.abort;
    if (abort) {
      entry.abort = undefined;
      try {
        abort.signal.removeEventListener('abort', abort.listener);
      } catch {
        // a signal-like object that refuses: the listener finds the entry settled and does nothing
      }
    }
    this.store.release(entry.record.body.byteLength);
  }

  private armSweeper(): void {
    const tick = Math.min(1_000, Math.max(10, Math.floor(this.config.confirmTimeoutMs / 20)));
    this.sweeper = setInterval(() => this.sweep(), tick);
    this.sweeper.unref();
  }

  /**
   * Rejects with CONFIRM_TIMEOUT every entry past its deadline — queued, in flight or backing off — and stops
   * ticking when nothing is unsettled. O(unsettled messages) per tick, which the pending store bounds.
   */
  private sweep(): void {
    const now = Date.now();
    const expired: Entry[] = [];
    const collect = (e: Entry) => {
      if (!e.settled && e.deadline <= now) expired.push(e);
    };
    for (const q of this.queues.values()) q.queued.forEach(collect);
    for (const batch of this.inFlightBatches) batch.forEach(collect);
    this.backingOff.forEach(collect);
    for (const e of expired) {
      this.fail(
        e,
        new LosslessError(
          ErrorCode.CONFIRM_TIMEOUT,
          `no confirm for message ${e.record.id} on '${e.queue.topic}' within ${this.config.confirmTimeoutMs} ms ` +
            `(${e.attempts} sends): it may or may not be stored; re-send it with the same id`,
          { topic: e.queue.topic, messageId: e.record.id, broker: this.driver.name },
        ),
      );
    }
    if (this.store.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
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
