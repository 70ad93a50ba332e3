// Committing one consumer's progress: for every partition it owns, the watermark below which every delivery was
// settled — coalesced (one commit request in flight; another right after it when more settled meanwhile) and
// tried again shortly after a transient failure. Uncommitted means redelivered, never lost: a failure here only
// costs duplicates.
import type { Logger } from '@lossless/core';
import type { PartitionTrack } from './partition-track.js';

/** What the commit loop needs from its consumer. */
export interface CommitHost {
  readonly groupId: string;
  readonly logger: Logger;
  /** The partitions owned now. */
  tracks(): Iterable<PartitionTrack>;
  /** kafkajs's consumer.commitOffsets. */
  commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void>;
  /** A failure that a later join or settlement commits past anyway (rebalance, lost membership): no retry. */
  isGroupChange(error: unknown): boolean;
}

/** Delay before a commit that failed for another reason is tried again, ms. */
const RETRY_AFTER_MS = 500;

export class CommitLoop {
  private running: Promise<void> | undefined;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly host: CommitHost) {}

  /** Commits what advanced, soon (after this turn's settlements) or at once; never rejects. */
  soon(now = false): void {
    if (this.running) {
      this.again = true;
      return;
    }
    if (now) {
      void this.now();
      return;
    }
    this.running = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.loop());
  }

  /** Commits until nothing is left to commit; resolves when done (rebalance drain, close). */
  now(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop();
    return this.running;
  }

  /** No more retries (close): what is uncommitted is redelivered to the group's next consumer. */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.once();
      } while (this.again);
    } finally {
      this.running = undefined;
    }
  }

  private async once(): Promise<void> {
    const due: { track: PartitionTrack; offset: number }[] = [];
    for (const track of this.host.tracks()) {
      const offset = track.due();
      if (offset !== undefined) due.push({ track, offset });
    }
    if (due.length === 0) return;
    try {
      await this.host.commitOffsets(
        due.map(({ track, offset }) => ({
          topic: track.topic,
          partition: track.partition,
          offset: String(offset),
        })),
      );
      for (const { track, offset } of due) if (offset > track.committed) track.committed = offset;
    } catch (error) {
      // A rebalance in progress, a coordinator moving: the next settlement or join commits again; a transient
      // failure is retried shortly.
      this.host.logger.debug(`kafka: commit for group '${this.host.groupId}' failed: ${String(error)}`);
      if (!this.stopped && !this.host.isGroupChange(error) && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.soon();
        }, RETRY_AFTER_MS);
        this.retry.unref();
      }
    }
  }
}
