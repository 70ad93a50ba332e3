// Consume: one SimpleConsumer per driver subscription, a receive loop that keeps at most `prefetch` deliveries
// unsettled, and one DriverDelivery per received message that keeps its lease (the invisible time) alive until
// it is settled. ack = ack; nack = changeInvisibleDuration(delay), after which the broker redelivers with
// attempt + 1; deadLetter = a copy (with the dead-letter headers) sent to the subscription's dead-letter topic,
// then ack — never ack before the copy is stored.
import {
  type DeliverySink,
  type DriverDelivery,
  type DriverSubscription,
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  ReservedHeader,
} from '@lossless/core/driver';
import type { MessageView, SimpleConsumer } from 'rocketmq-client-nodejs';
import { classifyNative } from './error-table.js';
import { type DecodedMessage, fromRocketMessage } from './message-mapping.js';

/** What a subscription needs from its driver. */
export interface ConsumerHost {
  readonly invisibleDurationMs: number;
  readonly awaitDurationMs: number;
  readonly requestTimeoutMs: number;
  /** An operation reached the proxy (health: connected). */
  reportOk(): void;
  /** An operation failed (health: disconnected when UNAVAILABLE). */
  reportError(error: LosslessError): void;
  /** Stores a dead-letter copy; resolves only once the broker confirmed it (SEND_OK). */
  sendDeadLetter(
    spec: NormalizedSubscription,
    message: DecodedMessage,
    extra: Record<string, string>,
  ): Promise<void>;
  warn(message: string, meta?: Record<string, unknown>): void;
}

/**
 * How soon a released message (a nack without delay, a delivery left unsettled at close) becomes visible again,
 * ms. The broker revives invisible messages in a background scan, so shorter values gain nothing.
 */
export const RELEASE_DELAY_MS = 1_000;

/** Messages asked for per receive at most (the proxy caps a batch at 32). */
const MAX_BATCH = 32;

type State = 'held' | 'settling' | 'done';

class RocketMqDelivery implements DriverDelivery {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timestamp: number;
  readonly attempt: number;
  private state: State = 'held';
  /** Serializes lease extensions and the settlement: each uses the newest receipt handle. */
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** The broker already took the message back (a lease extension found the handle expired). */
  private lost = false;

  constructor(
    private readonly owner: RocketMqSubscription,
    readonly view: MessageView,
    private readonly decoded: DecodedMessage,
  ) {
    this.id = decoded.id;
    this.key = decoded.key;
    this.headers = decoded.headers;
    this.body = decoded.body;
    this.timestamp = decoded.timestamp;
    this.attempt = view.deliveryAttempt && view.deliveryAttempt > 0 ? view.deliveryAttempt : 1;
    this.armLease();
  }

  get held(): boolean {
    return this.state === 'held';
  }

  private armLease(): void {
    const every = Math.max(1_000, Math.floor(this.owner.host.invisibleDurationMs / 2));
    this.timer = setTimeout(() => {
      void this.extend().catch(() => undefined);
    }, every);
  }

  /** Renews the invisible time (changeInvisibleDuration) so that no other consumer gets the message meanwhile. */
  extend(): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.state !== 'held' || this.lost) return;
      try {
        await this.owner.consumer.changeInvisibleDuration(this.view, this.owner.host.invisibleDurationMs);
        this.owner.host.reportOk();
      } catch (thrown) {
        const error = this.classify(thrown);
        this.owner.host.reportError(error);
        if (error.code === ErrorCode.STALE_DELIVERY) this.lost = true;
        else this.owner.host.warn(`could not extend the lease of message ${this.id}: ${error.message}`);
      }
      if (this.state === 'held' && !this.lost) this.armLease();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  ack(): Promise<void> {
    return this.settle('ack', () => this.owner.consumer.ack(this.view));
  }

  nack(options: { delayMs: number; error: string }): Promise<void> {
    // changeInvisibleDuration has no lower bound on the proxy (only receive has 10 s), so the delay is native;
    // the broker's revive scan makes anything under about a second come back after about a second.
    const delay = Math.min(Math.max(Math.round(options.delayMs), RELEASE_DELAY_MS), 12 * 3600_000);
    return this.settle('nack', () => this.owner.consumer.changeInvisibleDuration(this.view, delay));
  }

  deadLetter(options: { error: string }): Promise<void> {
    return this.settle('deadLetter', async () => {
      const spec = this.owner.spec;
      if (spec.deadLetter) {
        await this.owner.host.sendDeadLetter(spec, this.decoded, {
          [ReservedHeader.ATTEMPT]: String(this.attempt),
          [ReservedHeader.LAST_ERROR]: options.error,
          [ReservedHeader.DEAD_LETTER_REASON]: this.owner.readsDeadLetters
            ? 'kept-in-dead-letters'
            : 'max-deliveries',
          [ReservedHeader.ORIGINAL_TOPIC]: this.headers[ReservedHeader.ORIGINAL_TOPIC] ?? spec.topic,
        });
      }
      await this.owner.consumer.ack(this.view);
    });
  }

  /** Gives the message back to the broker soon (close): it is redelivered with attempt + 1. */
  release(): Promise<void> {
    if (this.state !== 'held') return Promise.resolve();
    this.state = 'done';
    clearTimeout(this.timer);
    const run = this.chain.then(async () => {
      if (this.lost) return;
      await this.owner.consumer.changeInvisibleDuration(this.view, RELEASE_DELAY_MS);
    });
    this.chain = run.catch(() => undefined);
    return this.chain;
  }

  private settle(what: string, operation: () => Promise<unknown>): Promise<void> {
    if (this.state !== 'held') {
      return Promise.reject(
        new LosslessError(
          ErrorCode.STALE_DELIVERY,
          this.owner.closed
            ? `delivery of message ${this.id} is stale: its subscription was closed and the message returned to ` +
                'the broker for redelivery'
            : `delivery of message ${this.id} was already settled`,
          this.context(),
        ),
      );
    }
    this.state = 'settling';
    clearTimeout(this.timer);
    const run = this.chain.then(async () => {
      try {
        if (this.lost) {
          throw new LosslessError(
            ErrorCode.STALE_DELIVERY,
            `cannot ${what} message ${this.id}: its invisible time ran out and the broker took it back for ` +
              'redelivery',
            this.context(),
          );
        }
        await operation();
        this.owner.host.reportOk();
      } catch (thrown) {
        const error = this.classify(thrown);
        this.owner.host.reportError(error);
        throw error;
      } finally {
        this.state = 'done';
        this.owner.settled(this);
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private context() {
    return {
      broker: 'rocketmq',
      topic: this.owner.spec.topic,
      subscription: this.owner.spec.name,
      messageId: this.id,
    };
  }

  private classify(thrown: unknown): LosslessError {
    return (
      classifyNative(thrown, this.context()) ??
      new LosslessError(
        ErrorCode.INTERNAL,
        `rocketmq: unexpected error settling message ${this.id}: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
        { ...this.context(), cause: thrown, retriable: false },
      )
    );
  }
}

/** One subscription's receive loop over its SimpleConsumer. */
export class RocketMqSubscription implements DriverSubscription {
  private readonly outstanding = new Set<RocketMqDelivery>();
  private stopped = false;
  closed = false;
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(
    readonly host: ConsumerHost,
    readonly consumer: SimpleConsumer,
    readonly spec: NormalizedSubscription,
    readonly readsDeadLetters: boolean,
    private readonly prefetch: number,
    private readonly sink: DeliverySink,
    private readonly onClosed: () => void,
  ) {}

  /** Starts the receive loop. */
  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.outstanding.size >= this.prefetch) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      let views: MessageView[];
      try {
        views = await this.consumer.receive(
          Math.min(MAX_BATCH, this.prefetch - this.outstanding.size),
          this.host.invisibleDurationMs,
        );
        failures = 0;
        this.host.reportOk();
      } catch (thrown) {
        if (this.stopped) break;
        const error =
          classifyNative(thrown, { topic: this.spec.topic, subscription: this.spec.name }) ??
          new LosslessError(ErrorCode.INTERNAL, `rocketmq: receive failed: ${String(thrown)}`, {
            cause: thrown,
          });
        this.host.reportError(error);
        failures++;
        if (failures === 1 || failures % 20 === 0) {
          this.host.warn(
            `subscription '${this.spec.name}' of '${this.spec.topic}': receive failed (${failures}x), retrying: ${error.message}`,
          );
        }
        await this.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
        continue;
      }
      for (const view of views) {
        if (this.stopped) {
          // Received after stop(): not handed out. Give it back so that it is redelivered soon.
          void this.consumer.changeInvisibleDuration(view, RELEASE_DELAY_MS).catch(() => undefined);
          continue;
        }
        const delivery = new RocketMqDelivery(this, view, fromRocketMessage(view));
        this.outstanding.add(delivery);
        this.sink(delivery);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** @internal A delivery was settled (or gave up): room for one more. */
  settled(delivery: RocketMqDelivery): void {
    this.outstanding.delete(delivery);
    this.wake?.();
  }

  /**
   * Stops receiving: no delivery reaches the sink after this resolves (a receive still in flight hands its
   * messages back to the broker). Deliveries already handed out can still be settled. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
  }

  /**
   * Stops, gives every unsettled delivery back to the broker (its invisible time is cut to about a second, so
   * it is redelivered soon, with attempt + 1), and shuts the consumer down. Settling a delivery afterwards
   * rejects with STALE_DELIVERY. Messages the broker handed to this consumer in a receive that had not
   * answered yet come back after their invisible time. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.stop();
      this.closed = true;
      const held = [...this.outstanding].filter((d) => d.held);
      await Promise.allSettled(held.map((d) => d.release()));
      this.outstanding.clear();
      // The loop ends when its long poll returns (at most awaitDuration + the request timeout).
      const bound = this.host.awaitDurationMs + this.host.requestTimeoutMs + 1_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.loop,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, bound);
        }),
      ]);
      clearTimeout(timer);
      await this.consumer.shutdown().catch(() => undefined);
      this.onClosed();
    })();
    return this.closing;
  }
}
