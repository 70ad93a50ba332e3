// The bounded store of unconfirmed messages: a count and a byte budget. A publish takes a slot before its
// message is handed to the driver and gives it back when its promise settles (confirm, final error or
// timeout). When the store is full, publish waits — a bounded time, and only a bounded number of callers
// may wait — then rejects with RESOURCE_EXHAUSTED. So memory stays bounded under any load.
import { cancelledError, closedError, ErrorCode, LosslessError } from './errors.js';

interface Waiter {
  size: number;
  resolve: () => void;
  reject: (error: LosslessError) => void;
  timer: NodeJS.Timeout;
  cleanup: () => void;
}

export interface PendingLimits {
  maxMessages: number;
  maxBytes: number;
  /** How long a publish waits for room, ms. */
  waitMs: number;
  /** How many publishes may wait for room at once; more are rejected at once. */
  maxWaiters: number;
  /**
   * Whose limits these are, so that RESOURCE_EXHAUSTED names the option to raise: 'publish' (default), the bus's
   * unconfirmed messages (publish.maxPending / maxPendingBytes); 'outbox', the messages the outbox holds
   * (outbox.maxMessages).
   */
  owner?: 'publish' | 'outbox';
}

export class PendingStore {
  private count = 0;
  private bytes = 0;
  private readonly waiters: Waiter[] = [];
  private drained: (() => void)[] = [];
  private closed = false;

  constructor(private readonly limits: PendingLimits) {}

  get size(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  private fits(size: number): boolean {
    // An empty store takes any one message, so a message larger than the byte budget is not stuck forever.
    return (
      this.count === 0 || (this.count < this.limits.maxMessages && this.bytes + size <= this.limits.maxBytes)
    );
  }

  /**
   * Takes a slot for a message of `size` bytes. Returns undefined when it got one at once (the fast path, no
   * promise), or a promise that resolves when room was made, or rejects with RESOURCE_EXHAUSTED, CANCELLED or
   * CLOSED.
   */
  acquire(size: number, topic: string, signal?: AbortSignal): Promise<void> | undefined {
    if (this.closed) return Promise.reject(closedError('the publisher', { topic }));
    if (this.waiters.length === 0 && this.fits(size)) {
      this.count++;
      this.bytes += size;
      return undefined;
    }
    if (this.waiters.length >= this.limits.maxWaiters) {
      return Promise.reject(this.exhausted(topic, 'and too many publishes are already waiting for room'));
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.remove(waiter);
        reject(cancelledError(signal?.reason, { topic }));
      };
      const waiter: Waiter = {
        size,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.remove(waiter);
          reject(this.exhausted(topic, `and no room was made within ${this.limits.waitMs} ms`));
        }, this.limits.waitMs),
        cleanup: () => {
          try {
            signal?.removeEventListener('abort', onAbort);
          } catch {
            // a signal-like object that refuses: nothing is left to clean up on our side
          }
        },
      };
      try {
        signal?.addEventListener('abort', onAbort, { once: true });
      } catch (error) {
        clearTimeout(waiter.timer);
        reject(cancelledError(error, { topic }));
        return;
      }
      this.waiters.push(waiter);
    });
  }

  private exhausted(topic: string, why: string): LosslessError {
    const message =
      this.limits.owner === 'outbox'
        ? `publish to '${topic}' rejected: the outbox holds ${this.count} messages not yet confirmed by the ` +
          `broker (limit outbox.maxMessages = ${this.limits.maxMessages}) ${why}. ` +
          'The broker is slow or unreachable: retry later or raise outbox.maxMessages.'
        : `publish to '${topic}' rejected: ${this.count} messages (${this.bytes} bytes) await a broker confirm ` +
          `(limit ${this.limits.maxMessages} messages / ${this.limits.maxBytes} bytes) ${why}. ` +
          'The broker is slow or unreachable: retry later or raise the publish limits.';
    return new LosslessError(ErrorCode.RESOURCE_EXHAUSTED, message, { topic });
  }

  private remove(waiter: Waiter): void {
    const i = this.waiters.indexOf(waiter);
    if (i >= 0) this.waiters.splice(i, 1);
    clearTimeout(waiter.timer);
    waiter.cleanup();
  }

  /** Takes a slot whatever the limits (messages that were already accepted, e.g. replayed from an outbox). */
  take(size: number): void {
    this.count++;
    this.bytes += size;
  }

  /** Gives a slot back and lets waiting publishes in, first come first served. */
  release(size: number): void {
    this.count--;
    this.bytes -= size;
    for (;;) {
      const next = this.waiters[0];
      if (next === undefined || !this.fits(next.size)) break;
      this.waiters.shift();
      clearTimeout(next.timer);
      next.cleanup();
      this.count++;
      this.bytes += next.size;
      next.resolve();
    }
    if (this.count === 0 && this.drained.length > 0) {
      const done = this.drained;
      this.drained = [];
      for (const d of done) d();
    }
  }

  /** Rejects every waiting publish with CLOSED and refuses new ones; slots already taken stay. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.cleanup();
      w.reject(closedError('the publisher'));
    }
  }

  /** Resolves when no slot is taken. */
  whenEmpty(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }
}
