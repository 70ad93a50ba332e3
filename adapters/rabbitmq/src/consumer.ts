// Consuming one subscription: a channel of its own with prefetch and manual acks, re-opened after the channel
// or the connection is lost, and deliveries that know which channel (generation) they came from, so that an ack
// for a delivery whose channel has closed is reported as STALE_DELIVERY instead of reaching a newer channel
// (where its delivery tag would mean another message, or close the channel with 406 "unknown delivery tag").
import type { Logger } from '@lossless/core';
import {
  claimSettlement,
  DeliveryBase,
  type DeliverySink,
  type DeliverySource,
  type DriverSubscribeOptions,
  type DriverSubscription,
  deadLetterHeaders,
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  type SendOutcome,
  staleDelivery,
} from '@lossless/core/driver';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { classifyNative, toError } from './error-table.js';
import {
  deadLetterCopyOptions,
  deliveryCountOf,
  deliveryHeaders,
  keyOf,
  messageIdOf,
  timestampOf,
} from './message-mapping.js';
import type { OutgoingAmqp } from './publish-lane.js';
import { deadLetterQueueName, queueName } from './topology.js';

/** What a consumer needs from its driver. */
export interface ConsumerHost {
  readonly logger: Logger;
  /** The live connection, or undefined while disconnected (the driver calls `resume()` after reconnecting). */
  currentModel(): ChannelModel | undefined;
  /** Re-declares the subscription when this driver declared it (after the broker cancelled the consumer). */
  redeclare(spec: NormalizedSubscription): Promise<void>;
  /** Publishes a dead-letter copy on a confirm channel and resolves with the broker's answer. */
  publishDeadLetter(spec: NormalizedSubscription, copy: OutgoingAmqp): Promise<SendOutcome>;
  /** Delay before re-opening attempt `attempt` (0-based), ms. */
  backoff(attempt: number): number;
  /** The consumer closed: the driver stops tracking it. */
  forget(consumer: Consumer): void;
}

/** How many message ids a classic-queue consumer remembers for its local attempt count. */
const SEEN_LIMIT = 10_000;

class AmqpDelivery extends DeliveryBase {
  constructor(
    private readonly consumer: Consumer,
    readonly channel: Channel,
    readonly msg: ConsumeMessage,
    id: string,
    key: string | undefined,
    headers: Readonly<Record<string, string>>,
    body: Uint8Array,
    timestamp: number,
    attempt: number,
  ) {
    super(id, key, headers, body, timestamp, attempt);
  }

  ack(): Promise<void> {
    return this.consumer.ack(this);
  }

  nack(_options: { delayMs: number; error: string }): Promise<void> {
    // nativeRedeliveryDelay is false: core has already held the message for the delay, delayMs is 0.
    return this.consumer.nack(this);
  }

  deadLetter(options: { error: string }): Promise<void> {
    return this.consumer.deadLetter(this, options.error);
  }
}

/** One consumer of one subscription (or of its dead-letter queue). */
export class Consumer implements DriverSubscription {
  readonly queue: string;
  private readonly spec: NormalizedSubscription;
  private readonly source: DeliverySource;
  /** The current channel generation; deliveries of any other channel are stale. */
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private opening: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retries = 0;
  private stopping: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private stopped = false;
  private closed = false;
  /** Classic queues have no delivery count: deliveries of each id seen by this consumer (insertion-ordered LRU). */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: DriverSubscribeOptions,
    private readonly sink: DeliverySink,
  ) {
    this.spec = options.subscription;
    this.source = { broker: 'rabbitmq', topic: this.spec.topic, subscription: this.spec.name };
    this.queue = options.deadLetters
      ? deadLetterQueueName(this.spec.topic, this.spec.name)
      : queueName(this.spec.topic, this.spec.name);
  }

  /** Starts consuming; rejects with NOT_FOUND when the queue does not exist, UNAVAILABLE when disconnected. */
  async start(): Promise<void> {
    const model = this.host.currentModel();
    if (!model) {
      throw new LosslessError(
        ErrorCode.UNAVAILABLE,
        'rabbitmq: not connected (reconnecting): subscribe again',
        {
          broker: 'rabbitmq',
          topic: this.spec.topic,
          subscription: this.spec.name,
        },
      );
    }
    try {
      await this.open(model);
    } catch (error) {
      // A refused first consume (403, 404) also closes the channel, and its 'close' event can come before the
      // rejection and schedule a re-open: closed now, nothing keeps retrying behind a subscribe() that failed
      // (measured: eleven background retries in 3 s after a 403, which would consume once the right is given).
      await this.close();
      throw error;
    }
  }

  private context(doing: string, messageId?: string) {
    return { topic: this.spec.topic, subscription: this.spec.name, messageId, doing };
  }

  /** Opens a channel and consumes `queue` on it. Throws the broker's error, mapped. */
  private async open(model: ChannelModel): Promise<void> {
    let ch: Channel;
    try {
      ch = await model.createChannel();
    } catch (error) {
      throw toError(error, this.context(`opening a channel for queue '${this.queue}'`));
    }
    let closeError: Error | undefined;
    ch.on('error', (error: Error) => {
      closeError = error;
    });
    ch.on('close', () => this.onChannelClosed(ch, closeError));
    // Deliveries can arrive in the same read as consume-ok, before `await consume()` returns: the channel must
    // be the current generation before consuming.
    this.channel = ch;
    try {
      await ch.prefetch(this.options.prefetch); // per consumer (global false): quorum queues reject global QoS
      const ok = await ch.consume(this.queue, (msg) => this.onMessage(ch, msg), { noAck: false });
      if (this.channel === ch) this.consumerTag = ok.consumerTag;
      if (this.stopped && this.channel === ch) await ch.cancel(ok.consumerTag).catch(() => {});
    } catch (error) {
      if (this.channel === ch) this.channel = undefined;
      ch.close().catch(() => {});
      const e = closeError ?? error;
      if ((e as { code?: unknown }).code === 404) {
        throw new LosslessError(
          ErrorCode.NOT_FOUND,
          `rabbitmq: queue '${this.queue}' of subscription '${this.spec.name}' on topic '${this.spec.topic}' ` +
            'does not exist: declare the subscription first',
          { broker: 'rabbitmq', cause: e, topic: this.spec.topic, subscription: this.spec.name },
        );
      }
      throw toError(e, this.context(`consuming queue '${this.queue}'`));
    }
  }

  private onChannelClosed(ch: Channel, error: Error | undefined): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.consumerTag = undefined;
    if (this.closed || this.stopped) return;
    // A channel error (consumer_timeout, a 406 from a double ack elsewhere) or the connection going away. In the
    // latter case the reopen finds no connection and waits for the driver's resume() after the reconnect.
    if (error)
      this.host.logger.warn(`rabbitmq: consumer channel of '${this.queue}' closed: ${error.message}`);
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.retryTimer || this.opening || this.closed || this.stopped) return;
    const delay = this.host.backoff(this.retries++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.reopen();
    }, delay);
    this.retryTimer.unref();
  }

  /** Re-opens after a loss: re-declares what the driver remembers, then consumes. Retries with backoff. */
  private reopen(): Promise<boolean> {
    this.opening ??= (async () => {
      if (this.closed || this.stopped || this.channel) return true;
      const model = this.host.currentModel();
      if (!model) return false; // the driver calls resume() once reconnected
      try {
        await this.host.redeclare(this.spec);
        await this.open(model);
        this.retries = 0;
        return true;
      } catch (error) {
        this.host.logger.warn(
          `rabbitmq: re-subscribing to '${this.queue}' failed (will retry): ${(error as Error).message}`,
        );
        return false;
      }
    })().finally(() => {
      this.opening = undefined;
      if (!this.channel && !this.closed && !this.stopped && this.host.currentModel()) this.scheduleReopen();
    });
    return this.opening;
  }

  /** @internal Called by the driver once a lost connection is back. */
  resume(): void {
    if (this.closed || this.stopped || this.channel) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retries = 0;
    void this.reopen();
  }

  private onMessage(ch: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer (queue deleted, or its node went away): subscribe again.
      if (this.channel !== ch || this.closed || this.stopped) return;
      this.host.logger.warn(`rabbitmq: the broker cancelled the consumer of '${this.queue}': re-subscribing`);
      this.consumerTag = undefined;
      void this.host
        .redeclare(this.spec)
        .then(() => ch.consume(this.queue, (m) => this.onMessage(ch, m), { noAck: false }))
        .then(
          (ok) => {
            if (this.channel === ch) this.consumerTag = ok.consumerTag;
          },
          () => {
            // The channel is probably gone (404 closes it); closing it starts the re-open with backoff.
            ch.close().catch(() => {});
          },
        );
      return;
    }
    // After stop() resolved no delivery may reach the sink; a straggler returns to the queue on close().
    if (this.channel !== ch || this.stopped || this.closed) return;
    const id = messageIdOf(msg);
    const delivery = new AmqpDelivery(
      this,
      ch,
      msg,
      id,
      keyOf(msg),
      deliveryHeaders(msg),
      new Uint8Array(msg.content.buffer, msg.content.byteOffset, msg.content.byteLength),
      timestampOf(msg),
      this.attemptOf(id, msg),
    );
    this.sink(delivery);
  }

  /**
   * Quorum queues count deliveries (`x-delivery-count`, absent on the first). Classic queues only say
   * `redelivered`, so the attempt is the larger of (redelivered ? 2 : 1) and the deliveries of this id seen by
   * this consumer: exact while one consumer process keeps failing a message, approximate across consumers.
   */
  private attemptOf(id: string, msg: ConsumeMessage): number {
    const count = deliveryCountOf(msg);
    if (count !== undefined) return count + 1;
    if (this.spec.queueType === 'quorum' && !msg.fields.redelivered) return 1;
    const seen = (this.seen.get(id) ?? 0) + 1;
    this.seen.delete(id);
    this.seen.set(id, seen);
    if (this.seen.size > SEEN_LIMIT) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return Math.max(msg.fields.redelivered ? 2 : 1, seen);
  }

  private stale(d: AmqpDelivery, why: string): LosslessError {
    return staleDelivery(this.source, d.id, why);
  }

  /** Claims `d` for its settlement; STALE_DELIVERY when settled before or its channel is not the live one. */
  private claim(d: AmqpDelivery): void {
    claimSettlement(
      this.source,
      d,
      this.channel === d.channel
        ? undefined
        : 'is stale: its channel closed and the broker returned the message to the queue; it will be redelivered',
    );
  }

  /** Sends basic.ack/nack on the delivery's own channel; a closed channel → STALE_DELIVERY. */
  private wire(d: AmqpDelivery, send: (ch: Channel) => void): void {
    this.claim(d);
    try {
      send(d.channel);
    } catch (error) {
      throw Object.assign(this.stale(d, 'is stale: its channel is closing'), { cause: error });
    }
  }

  async ack(d: AmqpDelivery): Promise<void> {
    this.wire(d, (ch) => ch.ack(d.msg));
    this.seen.delete(d.id);
  }

  async nack(d: AmqpDelivery): Promise<void> {
    this.wire(d, (ch) => ch.nack(d.msg, false, true));
  }

  /**
   * With dead letters: publish a copy with the last error and attempt to the dead-letter queue on a confirm
   * channel, and ack the original only after the broker confirmed the copy. At-least-once: a crash between the
   * two leaves the original unacked (redelivered, dead-lettered again), so the dead-letter queue may hold a
   * duplicate, never miss the message. RabbitMQ's own dead-lettering cannot add our headers, hence the copy.
   */
  async deadLetter(d: AmqpDelivery, error: string): Promise<void> {
    if (!this.spec.deadLetter || this.options.deadLetters) {
      // No dead-letter destination (deadLetter: false, or this already is the dead-letter queue): the message is
      // dropped, as the subscription asked (basic.nack without requeue; no dead-letter exchange is set).
      this.wire(d, (ch) => ch.nack(d.msg, false, false));
      this.seen.delete(d.id);
      return;
    }
    this.claim(d);
    const copy: OutgoingAmqp = {
      id: d.id,
      body: d.msg.content,
      options: deadLetterCopyOptions(
        d.msg,
        deadLetterHeaders({ error, attempt: d.attempt, originalTopic: this.spec.topic }),
      ),
    };
    let outcome: SendOutcome;
    try {
      outcome = await this.host.publishDeadLetter(this.spec, copy);
    } catch (thrown) {
      outcome = { ok: false, error: toError(thrown, this.context('dead-lettering', d.id)) };
    }
    if (!outcome.ok) {
      // Not stored (or unknown): put the original back so it is delivered, and dead-lettered, again.
      if (this.channel === d.channel) {
        try {
          d.channel.nack(d.msg, false, true);
        } catch {
          /* the channel is closing: the broker returns the message anyway */
        }
      }
      throw outcome.error;
    }
    if (this.channel !== d.channel) {
      throw this.stale(
        d,
        'was copied to the dead-letter queue, but its channel closed before the ack: the original will be ' +
          'redelivered and dead-lettered again (a duplicate in the dead-letter queue)',
      );
    }
    try {
      d.channel.ack(d.msg);
    } catch (e) {
      throw Object.assign(this.stale(d, 'was copied to the dead-letter queue; its channel is closing'), {
        cause: e,
      });
    }
    this.seen.delete(d.id);
  }

  /**
   * The queue's ready messages (a passive declare on a throwaway channel; delivered-but-unacked ones are not
   * counted), or undefined while disconnected or when the check fails.
   */
  async backlog(): Promise<number | undefined> {
    const model = this.host.currentModel();
    if (!model) return undefined;
    let ch: Channel | undefined;
    try {
      ch = await model.createChannel();
      ch.on('error', () => {}); // a 404 closes the channel: the answer is then "unknown"
      return (await ch.checkQueue(this.queue)).messageCount;
    } catch {
      return undefined;
    } finally {
      await ch?.close().catch(() => {});
    }
  }

  /** basic.cancel: no new deliveries; those in hand can still be settled. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      await this.opening?.catch(() => {});
      const ch = this.channel;
      const tag = this.consumerTag;
      if (ch && tag) {
        try {
          await ch.cancel(tag);
        } catch (error) {
          // The channel is gone: nothing more will be delivered on it either.
          const e = classifyNative(error);
          if (!e) this.host.logger.warn(`rabbitmq: cancelling consumer of '${this.queue}': ${String(error)}`);
        }
      }
      this.consumerTag = undefined;
    })();
    return this.stopping;
  }

  /** Closes the channel: unsettled deliveries return to the queue; settling them afterwards is STALE_DELIVERY. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.stop();
      this.closed = true;
      const ch = this.channel;
      this.channel = undefined;
      if (ch) await ch.close().catch(() => {});
      this.host.forget(this);
    })();
    return this.closing;
  }

  /** @internal The driver closes everything at once on its own close. */
  get isClosed(): boolean {
    return this.closed;
  }
}
