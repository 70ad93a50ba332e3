// Reading a subscription's dead-letter destination without core's handler loop. Core's Subscription settles
// every delivery by its handler's outcome (resolve = ack, throw = nack, then dead-letter at maxDeliveries); an
// operations tool needs a third way: look at a message and leave it where it is. So this reads through the
// driver contract directly (the bus's own driver, `deadLetters: true`), settles only what the command decided
// to remove, and closes the driver subscription: the broker takes every unsettled delivery back.
//
// What "taken back" costs on each broker: RabbitMQ requeues it in place (classic queues keep the order);
// Kafka commits nothing past it, so the next reader starts at it again; RocketMQ cuts its invisible time to
// about a second (the broker revives it in a background scan, usually within seconds) and counts one more
// delivery to the dead-letter group, which after 16 moves it to the broker's own `%DLQ%<group>_dlq` topic.
import { DEFAULT_MAX_DELIVERIES } from '@lossless/core';
import type {
  Driver,
  DriverDelivery,
  DriverSubscription,
  NormalizedSubscription,
} from '@lossless/core/driver';

/** How long a scan waits, per broker: the first delivery (a Kafka group join takes seconds), then silence. */
export const SCAN_WAITS: Readonly<Record<string, { firstMs: number; idleMs: number }>> = {
  rabbitmq: { firstMs: 1_500, idleMs: 400 },
  kafka: { firstMs: 20_000, idleMs: 1_500 },
  // A receive long-polls 5 s (awaitDurationMs): silence means one empty poll.
  rocketmq: { firstMs: 12_000, idleMs: 6_000 },
  memory: { firstMs: 200, idleMs: 100 },
};

/** Most unsettled deliveries one scan holds (RabbitMQ prefetch, RocketMQ leases): the deepest a scan looks. */
export const SCAN_WINDOW = 5_000;

export interface ScanOptions {
  /** Stop after this many deliveries (a count the broker gave, or the caller's limit). */
  readonly expected?: number | undefined;
  /** Waits; the broker's defaults from SCAN_WAITS. */
  readonly firstMs?: number | undefined;
  readonly idleMs?: number | undefined;
  readonly prefetch?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The portable subscription a dead-letter read names (only topic and name matter to the drivers). */
export function deadLetterSpec(topic: string, subscription: string): NormalizedSubscription {
  return {
    name: subscription,
    topic,
    maxDeliveries: DEFAULT_MAX_DELIVERIES,
    deadLetter: true,
    queueType: undefined,
  };
}

/**
 * An open read of one dead-letter destination. `next()` gives deliveries in the broker's order, or undefined
 * once the destination stayed silent (or `expected` were read). Settle what you remove, then `close()`:
 * everything unsettled goes back to the broker.
 */
export class DeadLetterScan {
  private readonly queue: DriverDelivery[] = [];
  private wake: (() => void) | undefined;
  private seen = 0;

  private constructor(
    private readonly sub: { current: DriverSubscription | undefined },
    private readonly waits: { firstMs: number; idleMs: number },
    private readonly expected: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  static async open(
    driver: Driver,
    spec: NormalizedSubscription,
    options: ScanOptions = {},
  ): Promise<DeadLetterScan> {
    const defaults = SCAN_WAITS[driver.name] ?? { firstMs: 5_000, idleMs: 1_000 };
    const holder: { current: DriverSubscription | undefined } = { current: undefined };
    const scan = new DeadLetterScan(
      holder,
      { firstMs: options.firstMs ?? defaults.firstMs, idleMs: options.idleMs ?? defaults.idleMs },
      options.expected,
      options.signal,
    );
    if (options.expected === 0) return scan;
    holder.current = await driver.subscribe(
      {
        subscription: spec,
        deadLetters: true,
        prefetch: options.prefetch ?? SCAN_WINDOW,
        keyOrdering: false,
      },
      (d) => scan.push(d),
    );
    return scan;
  }

  private push(d: DriverDelivery): void {
    this.queue.push(d);
    this.wake?.();
  }

  /** The next dead letter, or undefined when the read is over (silence, `expected` reached, aborted). */
  async next(): Promise<DriverDelivery | undefined> {
    if (!this.sub.current || this.signal?.aborted) return undefined;
    if (this.expected !== undefined && this.seen >= this.expected) return undefined;
    if (this.queue.length === 0) {
      const waitMs = this.seen === 0 ? this.waits.firstMs : this.waits.idleMs;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        const onAbort = () => done();
        this.signal?.addEventListener('abort', onAbort, { once: true });
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = () => {
          this.signal?.removeEventListener('abort', onAbort);
          done();
        };
      });
      this.wake = undefined;
    }
    const d = this.queue.shift();
    if (d) this.seen++;
    return d;
  }

  /** Stops fetching, then gives every unsettled delivery back to the broker. Idempotent. */
  async close(): Promise<void> {
    const sub = this.sub.current;
    this.sub.current = undefined;
    if (!sub) return;
    await sub.stop();
    await sub.close();
  }
}
