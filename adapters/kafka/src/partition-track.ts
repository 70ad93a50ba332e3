// One partition's deliveries during one continuous ownership, in offset order, and the offset this consumer may
// commit for it: the contiguous watermark — the lowest handed-out offset not yet settled, or one past the last
// handed out. Pure bookkeeping, no I/O: the consumer hands out and settles, the commit loop reads watermarks.

/** One handed-out offset; `settled` once it was acked, copied to the retry topic or dead-lettered. */
export interface Slot {
  readonly offset: number;
  settled: boolean;
}

/** Settled slots kept at the window's head before they are spliced away (amortized O(1) per slot). */
const COMPACT_AFTER = 1024;

export class PartitionTrack {
  /** Handed-out offsets not yet passed by the watermark, in order; `head` is the first one not passed. */
  private readonly window: Slot[] = [];
  private head = 0;
  /** One past the highest offset handed out; -1 before the first. */
  next = -1;
  /** The offset last committed by this consumer for this ownership; -1 if none. */
  committed = -1;
  /** The ownership ended (rebalance, crash, close): its deliveries are stale, nothing more is committed. */
  revoked = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** Hands out `offset` (offsets are handed out in increasing order). */
  hand(offset: number): Slot {
    const slot = { offset, settled: false };
    this.window.push(slot);
    this.next = offset + 1;
    return slot;
  }

  /** The offset to commit: the lowest unsettled handed-out offset, or one past the last handed out. */
  watermark(): number {
    while (this.head < this.window.length && this.window[this.head]?.settled) this.head++;
    if (this.head > COMPACT_AFTER && this.head * 2 > this.window.length) {
      this.window.splice(0, this.head);
      this.head = 0;
    }
    return this.window[this.head]?.offset ?? this.next;
  }

  /** The watermark when it is past what was committed (something to commit), else undefined. */
  due(): number | undefined {
    if (this.revoked || this.next < 0) return undefined;
    const offset = this.watermark();
    return offset > this.committed ? offset : undefined;
  }

  /** Handed out and not settled. */
  get unsettled(): number {
    let n = 0;
    for (let i = this.head; i < this.window.length; i++) if (!this.window[i]?.settled) n++;
    return n;
  }
}
