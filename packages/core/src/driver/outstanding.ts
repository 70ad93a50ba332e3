// The prefetch bound of a consumer that counts for itself (the broker does not, or not per subscription): which
// deliveries are handed out and unsettled, how much room is left, and a wait for room. Close takes them all out
// so that the driver can give them back to the broker.

/** Unsettled deliveries of one consumer, at most `limit` of them. */
export class Outstanding<T> {
  private readonly items = new Set<T>();
  private waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.items.size;
  }

  /** How many more may be handed out now. */
  get room(): number {
    return Math.max(0, this.limit - this.items.size);
  }

  get full(): boolean {
    return this.items.size >= this.limit;
  }

  /** Counts `item` as handed out (even beyond the limit: the caller checked `room`). */
  add(item: T): void {
    this.items.add(item);
  }

  /** `item` was settled or given back: its room is free again. False when it was not counted. */
  delete(item: T): boolean {
    if (!this.items.delete(item)) return false;
    this.wake();
    return true;
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

  /** Takes every item out, oldest first (close: the caller gives them back to the broker), and wakes waiters. */
  drain(): T[] {
    const all = [...this.items];
    this.items.clear();
    this.wake();
    return all;
  }
}
