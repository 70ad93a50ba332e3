// The producer outbox: with it, publish first writes the message to a store that survives the death of this
// process, then sends it; a confirm deletes it; on start the bus re-sends whatever the store still holds, with
// the same ids, before new messages. The store is pluggable (OutboxStore): @lossless/outbox-lmdb is the
// crash-safe embedded one; memoryOutbox() is for tests; a user's database can back a transactional outbox.
import type { MessageRecord } from './message.js';
import type { OptionShape } from './validate.js';

/** One message held by the outbox. */
export interface OutboxEntry {
  readonly topic: string;
  readonly record: MessageRecord;
}

/**
 * Where unconfirmed messages live. Implementations must be safe to call concurrently; core batches calls (one
 * put and one delete per event-loop turn at most) so that a store can make each call one durable commit.
 */
export interface OutboxStore {
  /** Everything the store holds, oldest first. Called once, when the bus connects. */
  load(): Promise<OutboxEntry[]>;
  /** Stores the entries; resolves only once they would survive a crash of this process (fsync or equivalent). */
  put(entries: readonly OutboxEntry[]): Promise<void>;
  /** Forgets confirmed entries. Need not be durable at once: a crash before it lands only causes a re-send. */
  delete(ids: readonly string[]): Promise<void>;
  /** Flushes and releases the store. */
  close(): Promise<void>;
}

export interface OutboxOptions {
  store: OutboxStore;
  /**
   * 'confirmed' (default): publish resolves once the broker confirmed the message, as without an outbox — but
   * a crash of this process before the confirm no longer loses it. 'accepted': publish resolves once the message
   * is safely in the outbox (receipt status 'accepted'); the bus keeps sending it in the background, across
   * broker outages and restarts of this process, until the broker confirms it.
   */
  resolveOn?: 'confirmed' | 'accepted';
  /** Messages the outbox holds at most; publish waits for room up to the publish `pendingWaitMs`. Default 100,000. */
  maxMessages?: number;
  /**
   * A message the broker refuses for good (NOT_FOUND, TOO_LARGE, UNROUTABLE…) after it was accepted: it is
   * removed from the outbox and handed here. Default: logged as an error.
   */
  onUndeliverable?: (entry: OutboxEntry, error: Error) => void;
}

/** What `connect(driver, { outbox })` accepts; see checkOptions. */
export const OUTBOX_SHAPE: OptionShape = {
  store: {
    type: 'custom',
    check: (v) => {
      if (v === null || typeof v !== 'object')
        return 'an OutboxStore (load, put, delete and close functions)';
      for (const f of ['load', 'put', 'delete', 'close']) {
        if (typeof (v as Record<string, unknown>)[f] !== 'function')
          return `an OutboxStore with a ${f}() function`;
      }
      return undefined;
    },
  },
  resolveOn: { type: 'enum', values: ['confirmed', 'accepted'] },
  maxMessages: { type: 'integer', min: 1, max: 100_000_000 },
  onUndeliverable: { type: 'function' },
};

/** An outbox in memory: the semantics without the durability, for tests. */
export function memoryOutbox(): OutboxStore & { readonly size: number } {
  const held = new Map<string, OutboxEntry>();
  return {
    get size() {
      return held.size;
    },
    async load() {
      return [...held.values()];
    },
    async put(entries) {
      for (const e of entries) held.set(e.record.id, e);
    },
    async delete(ids) {
      for (const id of ids) held.delete(id);
    },
    async close() {},
  };
}

/**
 * Coalesces calls made in one event-loop turn into one call of `flush` with all their items, so a store does
 * one durable write for many publishes. `add` resolves when the flush containing the item did.
 */
export class Coalescer<T> {
  private items: T[] = [];
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private inFlight = new Set<Promise<void>>();

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(item: T): Promise<void> {
    this.items.push(item);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
    return done;
  }

  private run(): void {
    this.scheduled = false;
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    const p = this.flush(items).then(
      () => {
        for (const w of waiters) w.resolve();
      },
      (error: unknown) => {
        for (const w of waiters) w.reject(error);
      },
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Resolves when everything added so far was flushed (successfully or not). */
  async idle(): Promise<void> {
    while (this.scheduled || this.inFlight.size > 0) {
      await new Promise((r) => setImmediate(r));
      await Promise.allSettled([...this.inFlight]);
    }
  }
}
