// Consume: one SimpleConsumer per driver subscription, a receive loop that keeps at most `prefetch` deliveries
// unsettled, and one DriverDelivery per received message that keeps its lease (the invisible time) alive until
// it is settled. ack = ack; nack = changeInvisibleDuration(delay), after which the broker redelivers with
// attempt + 1; deadLetter = a copy (with the dead-letter headers) sent to the subscription's dead-letter topic,
// then ack — never ack before the copy is stored.
import {
  claimSettlement,
  DeliveryBase,
  type DeliverySink,
  type DeliverySource,
  type DriverSubscription,
  deadLetterHeaders,
  describeError,
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  Outstanding,
  ReservedHeader,
  retryPause,
  staleDelivery,
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

/** `settled` is claimed by a settlement or by release(): the lease is no longer renewed then. */
class RocketMqDelivery extends DeliveryBase {
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
    const attempt = view.deliveryAttempt && view.deliveryAttempt > 0 ? view.deliveryAttempt : 1;
    super(decoded.id, decoded.key, decoded.headers, decoded.body, decoded.timestamp, attempt);
    this.armLease();
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
      if (this.settled || this.lost) return;
      try {
        await this.owner.consumer.changeInvisibleDuration(this.view, this.owner.host.invisibleDurationMs);
        this.owner.host.reportOk();
      } catch (thrown) {
        const error = this.classify(thrown);
        this.owner.host.reportError(error);
        if (error.code === ErrorCode.STALE_DELIVERY) this.lost = true;
        else this.owner.host.warn(`could not extend the lease of message ${this.id}: ${error.message}`);
      }
      if (!this.settled && !this.lost) this.armLease();
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
        await this.owner.host.sendDeadLetter(
          spec,
          this.decoded,
          deadLetterHeaders({
            error: options.error,
            attempt: this.attempt,
            originalTopic: this.headers[ReservedHeader.ORIGINAL_TOPIC] ?? spec.topic,
            reason: this.owner.readsDeadLetters ? 'kept-in-dead-letters' : 'max-deliveries',
          }),
        );
      }
      await this.owner.consumer.ack(this.view);
    });
  }

  /** Gives the message back to the broker soon (close): it is redelivered with attempt + 1. */
  release(): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    clearTimeout(this.timer);
    const run = this.chain.then(async () => {
      if (this.lost) return;
      await this.owner.consumer.changeInvisibleDuration(this.view, RELEASE_DELAY_MS);
    });
    this.chain = run.catch(() => undefined);
    return this.chain;
  }

  private settle(what: string, operation: () => Promise<unknown>): Promise<void> {
    try {
      claimSettlement(
        this.owner.source,
        this,
        this.owner.closed
          ? 'is stale: its subscription was closed and the message returned to the broker for redelivery'
          : undefined,
      );
    } catch (stale) {
      return Promise.reject(stale);
    }
    clearTimeout(this.timer);
    const run = this.chain.then(async () => {
      try {
        if (this.lost) {
          throw staleDelivery(
            this.owner.source,
            this.id,
            `cannot be settled (${what}): its invisible time ran out and the broker took it back for redelivery`,
          );
        }
        await operation();
        this.owner.host.reportOk();
      } catch (thrown) {
        const error = this.classify(thrown);
        this.owner.host.reportError(error);
        throw error;
      } finally {
        this.owner.settled(this);
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private classify(thrown: unknown): LosslessError {
    const context = { ...this.owner.source, messageId: this.id };
    return (
      classifyNative(thrown, context) ??
      new LosslessError(
        ErrorCode.INTERNAL,
        `rocketmq: unexpected error settling message ${this.id}: ${describeError(thrown)}`,
        { ...context, cause: thrown, retriable: false },
      )
    );
  }
}

/** One subscription's receive loop over its SimpleConsumer. */
export class RocketMqSubscription implements DriverSubscription {
  /** Handed out and unsettled, at most prefetch: the receive loop waits for room. */
  private readonly outstanding: Outstanding<RocketMqDelivery>;
  readonly source: DeliverySource;
  private stopped = false;
  closed = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(
    readonly host: ConsumerHost,
    readonly consumer: SimpleConsumer,
    readonly spec: NormalizedSubscription,
    readonly readsDeadLetters: boolean,
    prefetch: number,
    private readonly sink: DeliverySink,
    private readonly onClosed: () => void,
  ) {
    this.outstanding = new Outstanding(prefetch);
    this.source = { broker: 'rocketmq', topic: spec.topic, subscription: spec.name };
  }

  /** Starts the receive loop. */
  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.outstanding.full) {
        await this.outstanding.untilRoom(this.abort.signal);
        continue;
      }
      let views: MessageView[];
      try {
        views = await this.consumer.receive(
          Math.min(MAX_BATCH, this.outstanding.room),
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
        await retryPause(failures, this.abort.signal);
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

  /** @internal A delivery was settled (or gave up): room for one more. */
  settled(delivery: RocketMqDelivery): void {
    this.outstanding.delete(delivery);
  }

  /**
   * Stops receiving: no delivery reaches the sink after this resolves (a receive still in flight hands its
   * messages back to the broker). Deliveries already handed out can still be settled. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
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
      await Promise.allSettled(this.outstanding.drain().map((d) => d.release()));
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
