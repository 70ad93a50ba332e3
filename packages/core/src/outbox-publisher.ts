// The publish path with an outbox: a slot in the outbox's bound, a durable write (coalesced per event-loop
// turn), then the ordinary send path; a confirm (or a final answer) deletes the entry. In 'accepted' mode the
// caller is answered after the write and the bus drives the send in the background until the broker confirms,
// retrying transient failures forever with backoff; on close the drive stops and the entry stays for the next
// start, where replay() sends it again with the same id.
import { abortableDelay, backoffDelay, unlimitedAbortController } from './backoff.js';
import { ErrorCode, isRetriable, type LosslessError } from './errors.js';
import type { Logger } from './logger.js';
import type { MessageRecord } from './message.js';
import { Coalescer, type OutboxEntry, type OutboxOptions, type OutboxStore } from './outbox.js';
import { PendingStore } from './pending-store.js';
import type { PublishConfig, PublishReceipt } from './publish-config.js';

type Send = (
  topic: string,
  record: MessageRecord,
  signal: AbortSignal | undefined,
) => Promise<PublishReceipt>;

export class OutboxPublisher {
  private readonly store: OutboxStore;
  private readonly slots: PendingStore;
  private readonly puts: Coalescer<OutboxEntry>;
  private readonly deletes: Coalescer<string>;
  private readonly accepted: boolean;
  private readonly drives = new Set<Promise<void>>();
  private readonly stopping = unlimitedAbortController();
  private replaying: Promise<void> | undefined;

  constructor(
    private readonly options: OutboxOptions,
    private readonly config: PublishConfig,
    private readonly logger: Logger,
    private readonly send: Send,
  ) {
    this.store = options.store;
    this.accepted = options.resolveOn === 'accepted';
    const maxMessages = options.maxMessages ?? 100_000;
    this.slots = new PendingStore({
      maxMessages,
      maxBytes: Number.MAX_SAFE_INTEGER,
      waitMs: config.pendingWaitMs,
      maxWaiters: maxMessages,
      owner: 'outbox',
    });
    this.puts = new Coalescer((entries) => this.store.put(entries));
    this.deletes = new Coalescer((ids) => this.store.delete(ids));
  }

  get size(): number {
    return this.slots.size;
  }

  /** Sends everything the store holds, oldest first, ahead of publishes made after this call. */
  replay(): Promise<void> {
    this.replaying ??= (async () => {
      const entries = await this.store.load();
      for (const entry of entries) {
        this.slots.take(entry.record.body.byteLength);
        this.drive(entry);
      }
      if (entries.length > 0) this.logger.info(`outbox: re-sending ${entries.length} unconfirmed messages`);
    })();
    return this.replaying;
  }

  async publish(
    topic: string,
    record: MessageRecord,
    signal: AbortSignal | undefined,
  ): Promise<PublishReceipt> {
    if (this.replaying) await this.replaying;
    const size = record.body.byteLength;
    await this.slots.acquire(size, topic, signal);
    const entry: OutboxEntry = { topic, record };
    try {
      await this.puts.add(entry);
    } catch (error) {
      this.slots.release(size);
      throw error;
    }
    if (this.accepted) {
      this.drive(entry);
      return { id: record.id, topic, status: 'accepted', attempts: 0 };
    }
    try {
      return await this.send(topic, record, signal);
    } finally {
      this.forget(entry);
    }
  }

  /** Sends `entry` in the background until the broker confirms it, refuses it for good, or the bus stops. */
  private drive(entry: OutboxEntry): void {
    const run = (async () => {
      for (let retry = 1; !this.stopping.signal.aborted; retry++) {
        try {
          await this.send(entry.topic, entry.record, undefined);
          this.forget(entry);
          return;
        } catch (error) {
          const e = error as LosslessError;
          if (e.code === ErrorCode.CLOSED || this.stopping.signal.aborted) return; // kept for the next start
          if (!isRetriable(e)) {
            this.forget(entry);
            this.undeliverable(entry, e);
            return;
          }
          await this.pause(backoffDelay(this.config.retryBackoff, retry));
        }
      }
    })();
    this.drives.add(run);
    void run.finally(() => this.drives.delete(run));
  }

  private pause(ms: number): Promise<void> {
    return abortableDelay(ms, this.stopping.signal);
  }

  private undeliverable(entry: OutboxEntry, error: Error): void {
    if (this.options.onUndeliverable) this.options.onUndeliverable(entry, error);
    else
      this.logger.error(
        `outbox: message ${entry.record.id} to '${entry.topic}' was refused for good: ${error.message}`,
      );
  }

  /** The message is settled: free its slot and delete it from the store (a lost delete only causes a re-send). */
  private forget(entry: OutboxEntry): void {
    this.slots.release(entry.record.body.byteLength);
    this.deletes.add(entry.record.id).catch((error: unknown) => {
      this.logger.warn(
        `outbox: could not delete ${entry.record.id} (it will be re-sent on restart): ${String(error)}`,
      );
    });
  }

  /** Resolves once the outbox holds nothing. */
  whenEmpty(): Promise<void> {
    return this.slots.whenEmpty();
  }

  /** Stops background sends (what they hold stays in the store). Publishes waiting for room reject CLOSED. */
  stop(): void {
    this.stopping.abort();
    this.slots.close();
  }

  /** After the send path closed: waits for the drives to end and the store to be written, then closes it. */
  async close(): Promise<void> {
    this.stop();
    await Promise.allSettled([...this.drives]);
    await this.puts.idle();
    await this.deletes.idle();
    await this.store.close();
  }
}
