// The prefetch bound of a consumer that counts for itself (the broker does not, or not per subscription): how many
// deliveries are handed out and unsettled, how much room is left, and a wait for room. `Credit` only counts (the
// caller knows its deliveries, e.g. per partition); `Outstanding` also keeps them, so that close can take them all
// out and give them back to the broker.

/** How many deliveries are handed out and unsettled, at most `limit`. */
export class Credit {
  private count = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.count;
  }

  /** How many more may be handed out now. */
  get room(): number {
    return Math.max(0, this.limit - this.count);
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  /** One more handed out (even beyond the limit: the caller checked `room`). */
  take(): void {
    this.count++;
  }

  /** One handed out was settled or given back: its room is free again. */
  give(): void {
    if (this.count > 0) this.count--;
    this.wake();
  }

  /** Resolves when there is room (at once if there is), when `wake()` is called, or when `signal` aborts. */
  untilRoom(signal?: AbortSignal): Promise<void> {
    if (!this.full || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Wakes every waiter (they check again why they wait: room, a stop). */
  wake(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Nothing is handed out any more (close). */
  protected reset(): void {
    this.count = 0;
    this.wake();
  }
}

/** Unsettled deliveries of one consumer, at most `limit` of them, kept so that close can give them back. */
export class Outstanding<T> extends Credit {
  private readonly items = new Set<T>();

  /** Counts `item` as handed out (even beyond the limit: the caller checked `room`). */
  add(item: T): void {
    if (this.items.has(item)) return;
    this.items.add(item);
    this.take();
  }

  /** `item` was settled or given back: its room is free again. False when it was not counted. */
  delete(item: T): boolean {
    if (!this.items.delete(item)) return false;
    this.give();
    return true;
  }

  /** Takes every item out, oldest first (close: the caller gives them back to the broker), and wakes waiters. */
  drain(): T[] {
    const all = [...this.items];
    this.items.clear();
    this.reset();
    return all;
  }
}
