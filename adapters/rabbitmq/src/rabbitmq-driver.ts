// The RabbitMQ driver: one AMQP connection (amqplib), failover across the given node URLs, topology declared on
// throwaway channels and remembered for re-declaration, publishing through confirm channels (publish-lane.ts),
// consuming through a channel per subscription (consumer.ts), and truthful health.
//
// Reconnection is this driver's own loop, not amqplib 2.x's opt-in `recovery`: that wrapper reconnects to one
// fixed URL (no failover to the other nodes of a cluster), hides which connection a channel belongs to (we need
// connection and channel generations to fail in-flight confirms and detect stale acks), and its first connect
// cannot be bounded by the caller's AbortSignal. Our loop is small: try the next URL with a jittered backoff,
// re-declare the remembered topology, re-open the consumers.
import { inspect } from 'node:util';
import { consoleLogger, type Logger } from '@lossless/core';
import type { Secrets } from '@lossless/core/driver';
import {
  abortableDelay,
  type BackoffPolicy,
  backoffDelay,
  type Capabilities,
  type DeliverySink,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  describeError,
  ErrorCode,
  type Health,
  HealthTracker,
  isLosslessError,
  LosslessError,
  type MessageRecord,
  type NormalizedSubscription,
  type NormalizedTopic,
  type NormalizedTopology,
  type SendOutcome,
  type SendProgress,
} from '@lossless/core/driver';
import type { Channel, ChannelModel } from 'amqplib';
import { explainFailure, openConnection, REFUSALS } from './connection-attempt.js';
import { Consumer, type ConsumerHost } from './consumer.js';
import { classifyNative, toError } from './error-table.js';
import { publishOptions, toBuffer } from './message-mapping.js';
import {
  optionSecrets,
  type RabbitMqDriverOptions,
  type ResolvedOptions,
  redact,
  resolveOptions,
} from './options.js';
import { type LaneConnection, type OutgoingAmqp, PublishLane } from './publish-lane.js';
import {
  deadLetterExchangeName,
  deadLetterQueueName,
  declareSubscription,
  declareTopic,
  exchangeName,
} from './topology.js';

/** The RabbitMQ driver: the core contract plus what an operator may want to see. */
export interface RabbitMqDriver extends Driver {
  /** The URL (password redacted) of the node the driver is connected to now; undefined when disconnected. */
  readonly connectedUrl: string | undefined;
}

/** One open AMQP connection and what lives on it. Replaced, never reused, after a loss. */
class Link implements LaneConnection {
  blocked = false;
  ended = false;
  private readonly unblockWaiters = new Set<{ resolve: () => void; reject: (e: LosslessError) => void }>();
  readonly lanes = new Map<string, PublishLane>();

  constructor(
    readonly model: ChannelModel,
    readonly url: string,
  ) {}

  whenUnblocked(): Promise<void> {
    if (!this.blocked) return Promise.resolve();
    if (this.ended) return Promise.reject(this.endedError());
    return new Promise((resolve, reject) => this.unblockWaiters.add({ resolve, reject }));
  }

  setBlocked(blocked: boolean): void {
    this.blocked = blocked;
    if (blocked) return;
    for (const w of this.unblockWaiters) w.resolve();
    this.unblockWaiters.clear();
  }

  end(): void {
    this.ended = true;
    for (const w of this.unblockWaiters) w.reject(this.endedError());
    this.unblockWaiters.clear();
  }

  private endedError(): LosslessError {
    return new LosslessError(
      ErrorCode.UNAVAILABLE,
      'rabbitmq: the connection was lost while the broker blocked publishing (resource alarm)',
      { broker: 'rabbitmq' },
    );
  }

  lane(key: string, create: () => PublishLane): PublishLane {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = create();
      this.lanes.set(key, lane);
    }
    return lane;
  }
}

function subKey(topic: string, name: string): string {
  return `${topic}\u0000${name}`;
}

class RabbitMqDriverImpl implements RabbitMqDriver, ConsumerHost {
  readonly name = 'rabbitmq';
  readonly capabilities: Capabilities;
  readonly logger: Logger;
  private readonly options: ResolvedOptions;
  /** The passwords of the URLs: never in an error, a log line or a health reason. */
  private readonly secrets: Secrets;
  private link: Link | undefined;
  private readonly healthState: HealthTracker;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** The URL to try first on the next attempt. */
  private urlIndex = 0;
  private reconnecting: Promise<void> | undefined;
  /** Aborted on close: ends the reconnect loop's waits. */
  private readonly closeSignal = new AbortController();
  /** The reconnect backoff from the options. */
  private readonly reconnectBackoff: BackoffPolicy;
  private readonly topics = new Map<string, NormalizedTopic>();
  private readonly subscriptions = new Map<string, NormalizedSubscription>();
  private readonly consumers = new Set<Consumer>();

  constructor(options: RabbitMqDriverOptions) {
    this.options = resolveOptions(options);
    this.secrets = optionSecrets(this.options); // the addresses in use, read once by resolveOptions
    this.healthState = new HealthTracker((text) => this.secrets.text(text));
    this.healthState.set('connecting', 'not connected yet');
    this.reconnectBackoff = {
      initialDelayMs: this.options.reconnectInitialDelayMs,
      maxDelayMs: this.options.reconnectMaxDelayMs,
      factor: 2,
      jitter: 'full',
    };
    this.logger = this.secrets.logger(this.options.logger ?? consoleLogger);
    this.capabilities = {
      maxMessageBytes: this.options.maxMessageBytes,
      // amqplib encodes the header table into a 64 KiB buffer ("Encoded field table exceeds the 65536 byte
      // encoding buffer", found by conformance P14): leave room for each field's type and length bytes and for
      // the x-lossless-* headers the driver adds.
      maxHeaderBytes: 60 * 1024,
      unroutable: true, // mandatory publishes come back as basic.return
      nativeRedeliveryDelay: false, // AMQP 0-9-1 has no delayed requeue: core holds the message for the delay
      deadLetters: true, // the `.dlq` queue, read with subscribe(..., { deadLetters: true })
      keyOrdering: true, // one queue is FIFO for its consumer; core serializes handlers per key
      externalProcess: true,
      replication: this.options.replicated, // quorum queues on a cluster of more than one node
      staleAckDetection: true, // deliveries carry their channel generation
      storesSubscriptionSettings: true, // the queue argument / marker exchanges hold maxDeliveries
      retainsBeforeSubscription: false, // an exchange keeps nothing: only bound queues receive messages
      authentication: ['PLAIN', 'AMQPLAIN', 'EXTERNAL'], // `auth`; EXTERNAL takes the user from tls.cert
      tls: true, // amqps:// URLs with `tls`
    };
  }

  /** util.inspect shows what an operator needs, never the options: they hold the passwords and the TLS key. */
  [inspect.custom](): string {
    const { state, reason } = this.healthState.snapshot();
    const shown = this.secrets.text(`${state}${reason ? `: ${reason}` : ''}`);
    return `RabbitMqDriver { connectedUrl: ${this.connectedUrl ?? 'none'}, health: ${shown} }`;
  }

  get connectedUrl(): string | undefined {
    return this.link && !this.link.ended ? redact(this.link.url) : undefined;
  }

  // --- connection -------------------------------------------------------------------------------------------

  health(): Health {
    return this.healthState.snapshot();
  }

  /** Jittered exponential delay before re-opening attempt `attempt` (0-based), ms. */
  backoff(attempt: number): number {
    return backoffDelay(this.reconnectBackoff, attempt + 1);
  }

  /** One TCP (+ TLS) + AMQP handshake to `url`. */
  private async openLink(url: string): Promise<Link> {
    return new Link(await openConnection(url, this.options), url);
  }

  /** Makes `link` the live connection and watches it. */
  private adopt(link: Link): void {
    const { model } = link;
    // Without an 'error' listener amqplib's emit would throw; the reason arrives with 'close' too.
    model.on('error', (error: Error) => this.logger.debug(`rabbitmq: connection error: ${error.message}`));
    model.on('close', (error?: Error) => this.onLinkEnded(link, error));
    model.on('blocked', (reason: string) => {
      link.setBlocked(true);
      this.logger.warn(`rabbitmq: the broker blocks publishing (${reason}): sends wait until it unblocks`);
    });
    model.on('unblocked', () => {
      link.setBlocked(false);
      this.logger.info('rabbitmq: the broker unblocked publishing');
    });
    this.link = link;
  }

  private onLinkEnded(link: Link, error: Error | undefined): void {
    link.end();
    if (this.link !== link) return;
    this.link = undefined;
    if (this.closed) return;
    const why = error?.message ?? 'closed by the broker';
    this.logger.warn(`rabbitmq: connection to ${redact(link.url)} lost (${why}): reconnecting`);
    this.healthState.set('disconnected', `connection lost: ${why}`);
    // On a loss, try the next node first: the one we were on may be the one that went down.
    this.urlIndex = (this.options.urls.indexOf(link.url) + 1) % this.options.urls.length;
    this.reconnecting ??= this.reconnectLoop().finally(() => {
      this.reconnecting = undefined;
    });
  }

  /** Sleeps `ms`, or less when the driver closes or `signal` aborts. */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    const close = this.closeSignal.signal;
    return abortableDelay(ms, signal ? AbortSignal.any([signal, close]) : close);
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.secrets.guard(() => this.connectOnce(signal));
  }

  private async connectOnce(signal: AbortSignal): Promise<void> {
    if (this.closed) throw this.closedError();
    this.healthState.set('connecting', 'connecting');
    let lastError: unknown;
    let round = 0;
    const aborted = () =>
      new LosslessError(
        ErrorCode.UNAVAILABLE,
        `rabbitmq: could not connect to ${this.options.urls.map(redact).join(', ')}` +
          `${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
        { broker: 'rabbitmq', cause: lastError ?? signal.reason },
      );
    while (!signal.aborted && !this.closed) {
      for (let k = 0; k < this.options.urls.length && !signal.aborted && !this.closed; k++) {
        const url = this.urlAt(this.urlIndex + k);
        const attempt = this.openLink(url);
        // amqplib cannot cancel a handshake in flight: race it with the signal and close a late success.
        let onAbort: (() => void) | undefined;
        const abortedWait = new Promise<'aborted'>((resolve) => {
          onAbort = () => resolve('aborted');
          signal.addEventListener('abort', onAbort, { once: true });
        });
        try {
          const winner = await Promise.race([attempt, abortedWait]);
          if (winner === 'aborted') {
            attempt.then(
              (late) => late.model.close().catch(() => {}),
              () => {},
            );
            throw aborted();
          }
          if (this.closed) {
            await winner.model.close().catch(() => {});
            throw this.closedError();
          }
          this.adopt(winner);
          this.urlIndex = (this.urlIndex + k) % this.options.urls.length;
          this.healthState.set('connected');
          return;
        } catch (error) {
          if (isLosslessError(error)) throw error;
          const explained = await explainFailure(url, error, this.options);
          // A refusal no retry can change (credentials, vhost access, no such vhost, a certificate that failed
          // verification, the wrong scheme for the port) ends connect() now. RabbitMQ keeps users and vhosts
          // cluster-wide, and a cluster's nodes share one certificate policy, so one node's refusal speaks for all.
          const refused = classifyNative(explained, { doing: `connecting to ${redact(url)}` });
          if (refused && REFUSALS.has(refused.code) && !refused.retriable) throw refused;
          lastError = explained;
          this.healthState.set('connecting', `connecting: ${redact(url)}: ${describe(explained)}`);
        } finally {
          if (onAbort) signal.removeEventListener('abort', onAbort);
        }
      }
      await this.sleep(this.backoff(round++), signal);
    }
    if (this.closed) throw this.closedError();
    throw aborted();
  }

  /** The node URL at position `n` of the rotation, modulo the list (resolveOptions requires at least one URL). */
  private urlAt(n: number): string {
    const { urls } = this.options;
    const url = urls[n % urls.length];
    if (url === undefined) {
      throw new LosslessError(ErrorCode.INTERNAL, 'rabbitmq: no node URL', { broker: 'rabbitmq' });
    }
    return url;
  }

  private async reconnectLoop(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      const url = this.urlAt(this.urlIndex);
      try {
        const link = await this.openLink(url);
        if (this.closed) {
          await link.model.close().catch(() => {});
          return;
        }
        this.adopt(link);
        await this.redeclareAll(link);
        if (link.ended) throw new Error('Connection closed during re-declaration');
        this.healthState.set('connected');
        this.logger.info(`rabbitmq: reconnected to ${redact(url)}`);
        for (const c of this.consumers) c.resume();
        return;
      } catch (error) {
        this.urlIndex = (this.urlIndex + 1) % this.options.urls.length;
        this.healthState.set('disconnected', `reconnecting (attempt ${attempt + 1}): ${describe(error)}`);
        const refused = classifyNative(await explainFailure(url, error, this.options));
        // Refused credentials or vhost after a loss (a password rotated, a vhost deleted): said once, then every
        // 20th attempt, while the loop keeps trying (there is no caller to reject).
        if (refused && REFUSALS.has(refused.code) && attempt % 20 === 0) {
          this.logger.warn(`rabbitmq: reconnecting to ${redact(url)} refused: ${refused.message}`);
        }
        await this.sleep(this.backoff(attempt++));
      }
    }
  }

  private closedError(): LosslessError {
    return new LosslessError(
      ErrorCode.CLOSED,
      'rabbitmq: the driver is closed: create a new one to continue',
      {
        broker: 'rabbitmq',
      },
    );
  }

  /** The live connection, or a typed error: CLOSED after close(), UNAVAILABLE while (re)connecting. */
  private requireLink(doing: string): Link {
    if (this.closed) throw this.closedError();
    const link = this.link;
    if (!link || link.ended) {
      throw new LosslessError(
        ErrorCode.UNAVAILABLE,
        `rabbitmq: not connected while ${doing} (${this.healthState.reason ?? this.healthState.state}); retry once reconnected`,
        { broker: 'rabbitmq' },
      );
    }
    return link;
  }

  /**
   * Driver.deadLetterDepth: the `.dlq` queue's ready messages (a passive declare on a throwaway channel; ones
   * held unacked by a reader are not counted). NOT_FOUND when the queue does not exist.
   */
  async deadLetterDepth(spec: NormalizedSubscription): Promise<number> {
    const queue = deadLetterQueueName(spec.topic, spec.name);
    const link = this.requireLink(`counting dead-letter queue '${queue}'`);
    const ch = await link.model.createChannel();
    let closedBy404 = false;
    ch.on('error', (e: { code?: number }) => {
      if (e?.code === 404) closedBy404 = true;
    });
    try {
      return (await ch.checkQueue(queue)).messageCount;
    } catch (error) {
      if (closedBy404 || (error as { code?: number }).code === 404) {
        throw new LosslessError(
          ErrorCode.NOT_FOUND,
          `rabbitmq: dead-letter queue '${queue}' does not exist: subscription '${spec.name}' of topic ` +
            `'${spec.topic}' is not declared or keeps no dead letters`,
          { broker: 'rabbitmq', topic: spec.topic, subscription: spec.name },
        );
      }
      throw this.classify(error) ?? error;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  currentModel(): ChannelModel | undefined {
    const link = this.link;
    return link && !link.ended && !this.closed ? link.model : undefined;
  }

  // --- topology ---------------------------------------------------------------------------------------------

  /**
   * Declares topics then subscriptions on throwaway channels. A 406 (inequivalent arguments) or 404 closes the
   * channel it happened on; that channel is discarded and the next item gets a fresh one. With `strict`, the
   * first failure is thrown (mapped); otherwise non-retriable failures are logged and retriable ones thrown.
   */
  private async declareOn(model: ChannelModel, topology: NormalizedTopology, strict: boolean): Promise<void> {
    let ch: Channel | undefined;
    let closeError: Error | undefined;
    const channel = async (): Promise<Channel> => {
      if (ch) return ch;
      const fresh = await model.createChannel();
      closeError = undefined;
      fresh.on('error', (error: Error) => {
        closeError = error;
      });
      fresh.on('close', () => {
        if (ch === fresh) ch = undefined;
      });
      ch = fresh;
      return fresh;
    };
    const items: Array<() => Promise<void>> = [
      ...topology.topics.map((t) => async () => {
        try {
          await declareTopic(await channel(), t, (exchange) => exchangeExists(model, exchange));
        } catch (error) {
          if (isLosslessError(error)) throw error;
          throw this.declareError(closeError ?? error, { topic: t.name }, `topic '${t.name}'`);
        }
      }),
      ...topology.subscriptions.map((s) => async () => {
        try {
          await declareSubscription(await channel(), s, {
            exchange: (name) => exchangeExists(model, name),
            queue: (name) => queueExists(model, name),
          });
        } catch (error) {
          if (isLosslessError(error)) throw error;
          throw this.declareError(
            closeError ?? error,
            { topic: s.topic, subscription: s.name },
            `subscription '${s.name}' of topic '${s.topic}'`,
          );
        }
      }),
    ];
    try {
      for (const item of items) {
        try {
          await item();
        } catch (error) {
          const e = error as LosslessError;
          if (strict || e.retriable) throw e;
          this.logger.error(`rabbitmq: re-declaring after a reconnect: ${e.message}`, { code: e.code });
        }
      }
    } finally {
      const last = ch as Channel | undefined;
      if (last) await last.close().catch(() => {});
    }
  }

  private declareError(
    error: unknown,
    where: { topic: string; subscription?: string },
    what: string,
  ): LosslessError {
    const code = (error as { code?: unknown }).code;
    const detail = error instanceof Error ? error.message : String(error);
    if (code === 406) {
      return new LosslessError(
        ErrorCode.CONFLICT,
        `rabbitmq: ${what} exists with other settings (${detail}): keep the declaration identical, or delete ` +
          'the queue/exchange first (its messages go with it)',
        { broker: 'rabbitmq', cause: error, ...where },
      );
    }
    if (code === 404) {
      return new LosslessError(
        ErrorCode.NOT_FOUND,
        `rabbitmq: declaring ${what}: ${detail}: declare the topic first`,
        { broker: 'rabbitmq', cause: error, ...where },
      );
    }
    return toError(error, { ...where, doing: `declaring ${what}` });
  }

  /** The subscription as this broker declares it: the queue type resolved to the driver's default. */
  private resolved(s: NormalizedSubscription): NormalizedSubscription {
    return s.queueType ? s : { ...s, queueType: this.options.defaultQueueType };
  }

  async declare(declared: NormalizedTopology): Promise<void> {
    try {
      await this.declareTopology(declared);
    } catch (error) {
      throw this.secrets.scrub(error);
    }
  }

  private async declareTopology(declared: NormalizedTopology): Promise<void> {
    const link = this.requireLink('declaring topology');
    const topology = {
      topics: declared.topics,
      subscriptions: declared.subscriptions.map((s) => this.resolved(s)),
    };
    await this.declareOn(link.model, topology, true);
    for (const t of topology.topics) this.topics.set(t.name, t);
    for (const s of topology.subscriptions) this.subscriptions.set(subKey(s.topic, s.name), s);
  }

  /** After a reconnect: everything this driver declared, again (a restarted broker keeps durable objects). */
  private async redeclareAll(link: Link): Promise<void> {
    if (this.topics.size === 0 && this.subscriptions.size === 0) return;
    await this.declareOn(
      link.model,
      { topics: [...this.topics.values()], subscriptions: [...this.subscriptions.values()] },
      false,
    );
  }

  async redeclare(spec: NormalizedSubscription): Promise<void> {
    const known = this.subscriptions.get(subKey(spec.topic, spec.name));
    if (!known) return; // declared by someone else: nothing to re-create from here
    const link = this.requireLink(`re-declaring subscription '${spec.name}'`);
    const topic = this.topics.get(spec.topic);
    await this.declareOn(link.model, { topics: topic ? [topic] : [], subscriptions: [known] }, true);
  }

  // --- publish ----------------------------------------------------------------------------------------------

  async send(
    topic: string,
    records: readonly MessageRecord[],
    progress?: SendProgress,
  ): Promise<SendOutcome[]> {
    const link = this.requireLink(`publishing to topic '${topic}'`);
    const lane = link.lane(
      `topic\u0000${topic}`,
      () =>
        new PublishLane(link, {
          exchange: exchangeName(topic),
          routingKey: '',
          topic,
          label: `topic '${topic}'`,
          notFound: `rabbitmq: topic '${topic}' does not exist (no exchange '${exchangeName(topic)}'): declare it first`,
          unroutable: (id) =>
            `rabbitmq: message ${id} to topic '${topic}' reached no subscription (no queue is bound): ` +
            'declare a subscription before publishing',
        }),
    );
    const out: OutgoingAmqp[] = records.map((r) => ({
      id: r.id,
      body: toBuffer(r.body),
      options: publishOptions(r),
    }));
    if (this.secrets.empty) return lane.send(out, progress);
    const scrub = (o: SendOutcome): SendOutcome =>
      o.ok ? o : { ok: false, error: this.secrets.scrub(o.error) };
    const outcomes = await lane.send(out, progress && ((index, outcome) => progress(index, scrub(outcome))));
    return outcomes.map(scrub);
  }

  async publishDeadLetter(spec: NormalizedSubscription, copy: OutgoingAmqp): Promise<SendOutcome> {
    const link = this.requireLink(`dead-lettering a message of subscription '${spec.name}'`);
    const queue = deadLetterQueueName(spec.topic, spec.name);
    const exchange = deadLetterExchangeName(spec.topic, spec.name);
    const lane = link.lane(
      `dlq\u0000${queue}`,
      () =>
        new PublishLane(link, {
          // The subscription's own dead-letter exchange (fanout, bound to the queue), not the default exchange:
          // writing there needs a right on this subscription's names only, where write on `amq.default` would let
          // a user publish to every queue of the vhost (RabbitMQ checks write on the exchange, not the queue).
          exchange,
          routingKey: '',
          topic: spec.topic,
          subscription: spec.name,
          label: `dead-letter queue '${queue}'`,
          notFound: `rabbitmq: dead-letter exchange '${exchange}' not found: declare the subscription with deadLetter: true`,
          unroutable: (id) =>
            `rabbitmq: dead-letter queue '${queue}' does not exist, message ${id} was not dead-lettered: ` +
            'declare the subscription with deadLetter: true',
        }),
    );
    const [outcome] = await lane.send([copy]);
    if (outcome === undefined) {
      // The lane answers one outcome per record.
      throw new LosslessError(
        ErrorCode.INTERNAL,
        `rabbitmq: no outcome for dead-lettering message ${copy.id}`,
        {
          broker: 'rabbitmq',
          topic: spec.topic,
          subscription: spec.name,
          messageId: copy.id,
        },
      );
    }
    return outcome;
  }

  // --- consume ----------------------------------------------------------------------------------------------

  async subscribe(requested: DriverSubscribeOptions, sink: DeliverySink): Promise<DriverSubscription> {
    this.requireLink(`subscribing to '${requested.subscription.name}'`);
    const options = { ...requested, subscription: this.resolved(requested.subscription) };
    const consumer = new Consumer(this, options, sink);
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      this.consumers.delete(consumer);
      throw this.secrets.scrub(error);
    }
    return consumer;
  }

  forget(consumer: Consumer): void {
    this.consumers.delete(consumer);
  }

  // --- errors and shutdown ----------------------------------------------------------------------------------

  classify(error: unknown): LosslessError | undefined {
    return this.secrets.scrub(classifyNative(error));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.healthState.close();
      this.closeSignal.abort();
      await Promise.allSettled([...this.consumers].map((c) => c.close()));
      const link = this.link;
      this.link = undefined;
      if (link) {
        link.end();
        await link.model.close().catch(() => {});
      }
      await this.reconnecting?.catch(() => {});
    })();
    return this.closing;
  }
}

/**
 * Creates a RabbitMQ driver. Pass it to `connect()` of `@lossless/core`; use the driver directly only to read
 * `connectedUrl` or `health()`. Throws INVALID_ARGUMENT for bad options. Nothing connects until `connect()`.
 */
export function rabbitmq(options: RabbitMqDriverOptions): RabbitMqDriver {
  return new RabbitMqDriverImpl(options);
}

function describe(error: unknown): string {
  return describeError(error);
}

/** A passive declare on a channel of its own: RabbitMQ closes the channel when the exchange does not exist. */
function exchangeExists(model: ChannelModel, exchange: string): Promise<boolean> {
  return exists(model, (ch) => ch.checkExchange(exchange));
}

/** A passive queue declare on a channel of its own (a missing queue closes that channel with 404). */
function queueExists(model: ChannelModel, queue: string): Promise<boolean> {
  return exists(model, (ch) => ch.checkQueue(queue));
}

/** Runs a passive check on a throwaway channel: false on 404 (which closes that channel), else rethrows. */
async function exists(model: ChannelModel, check: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  const ch = await model.createChannel();
  ch.on('error', () => {});
  try {
    await check(ch);
    await ch.close().catch(() => {});
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return false;
    await ch.close().catch(() => {});
    throw error;
  }
}
