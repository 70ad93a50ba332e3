// The bus: what applications hold. connect() wraps a driver; the bus validates, declares, publishes through
// the Publisher, consumes through Subscriptions, reports health and shuts everything down in order.

import { mergeBackoff, TIMER_MAX_MS } from './backoff.js';
import type { Driver, Health } from './driver/driver.js';
import {
  cancelledError,
  closedError,
  describeError,
  ErrorCode,
  invalidArgument,
  LosslessError,
  toLosslessError,
} from './errors.js';
import { consoleLogger, guardedLogger, LOGGER_RULE, type Logger } from './logger.js';
import { type OutgoingMessage, validateName } from './message.js';
import { OUTBOX_SHAPE, type OutboxOptions } from './outbox.js';
import {
  DEFAULT_PUBLISH_CONFIG,
  PUBLISH_CONFIG_SHAPE,
  type PublishConfig,
  type PublishReceipt,
} from './publish-config.js';
import { Publisher, type PublishOptions, type PublishResult } from './publisher.js';
import {
  type Handler,
  type ResolvedSubscribeOptions,
  resolveSubscribeOptions,
  SUBSCRIBE_SHAPE,
  type SubscribeOptions,
  Subscription,
} from './subscriber.js';
import {
  loadOtelApi,
  sdkRegistered,
  TELEMETRY_METRIC,
  TELEMETRY_SHAPE,
  Telemetry,
  type TelemetryOptions,
} from './telemetry.js';
import {
  DEFAULT_MAX_DELIVERIES,
  type NormalizedSubscription,
  normalizeTopology,
  type Topology,
} from './topology.js';
import { checkOptions, describeValue, type OptionShape } from './validate.js';

export interface ConnectOptions {
  /** How long connect() waits for the broker before rejecting with UNAVAILABLE, ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Publish pipeline settings (batching, pending bound, confirm timeout, re-sends). */
  publish?: Partial<PublishConfig>;
  /** Where core's warnings go. Default: stderr. */
  logger?: Logger;
  /**
   * A durable outbox in front of publishing: unconfirmed messages survive the death of this process and are
   * re-sent (same ids) when the next bus connects with the same store. See OutboxOptions.
   */
  outbox?: OutboxOptions;
  /**
   * OpenTelemetry spans and metrics (see the core README's "Observability"). On by default when
   * `@opentelemetry/api` is installed: it then reports to the globally registered SDK, or to the providers given
   * here; `false` turns it off. Without the API package, or without an SDK, it costs nothing measurable.
   */
  telemetry?: false | TelemetryOptions;
}

export interface BusSubscribeOptions extends SubscribeOptions {
  /**
   * Used when this bus has not declared the subscription itself (another process did): maxDeliveries and
   * deadLetter of the declared subscription. Declaring on every bus that subscribes is simpler and safe.
   */
  maxDeliveries?: number;
  deadLetter?: boolean;
}

/** The portable messaging API. Every method is safe to call concurrently. */
export class Bus {
  private readonly publisher: Publisher;
  private readonly declaredTopics = new Set<string>();
  private readonly declaredSubscriptions = new Map<string, NormalizedSubscription>();
  private readonly subscriptions = new Set<Subscription>();
  private closing: Promise<void> | undefined;

  /** @internal Use connect(). */
  constructor(
    readonly driver: Driver,
    private readonly logger: Logger,
    publishConfig: PublishConfig,
    outbox?: OutboxOptions,
    private readonly telemetry?: Telemetry,
  ) {
    this.publisher = new Publisher(
      driver,
      publishConfig,
      outbox ? { options: outbox, logger } : undefined,
      telemetry,
    );
    telemetry?.observe(
      TELEMETRY_METRIC.unconfirmed,
      'Published messages not yet confirmed.',
      () => this.pendingConfirms,
    );
    if (outbox)
      telemetry?.observe(TELEMETRY_METRIC.outboxDepth, 'Messages in the outbox.', () => this.outboxSize);
  }

  /** Unconfirmed messages held right now. */
  get pendingConfirms(): number {
    return this.publisher.pending;
  }

  /** Messages in the outbox right now (0 without an outbox). */
  get outboxSize(): number {
    return this.publisher.outboxed;
  }

  /** Resolves once every message published so far is confirmed or failed, and the outbox (if any) is empty. */
  flush(): Promise<void> {
    return this.publisher.drained();
  }

  /** @internal Re-sends what the outbox holds; connect() calls it before handing out the bus. */
  replayOutbox(): Promise<void> {
    return this.publisher.replay();
  }

  /**
   * Creates the topics and subscriptions that do not exist, leaves identical ones alone, and rejects with
   * CONFLICT when one exists with other settings. Idempotent and safe to run concurrently from many processes.
   */
  async declare(topology: Topology): Promise<void> {
    this.assertOpen();
    const normalized = normalizeTopology(topology, this.declaredTopics);
    try {
      await this.driver.declare(normalized);
    } catch (error) {
      throw toLosslessError(error, (e) => this.driver.classify(e), this.driver.name);
    }
    for (const t of normalized.topics) this.declaredTopics.add(t.name);
    for (const s of normalized.subscriptions) this.declaredSubscriptions.set(subKey(s.topic, s.name), s);
  }

  /**
   * Publishes one message. Resolves with a receipt only once the broker confirmed it durably; rejects with a
   * LosslessError otherwise (never both, never neither). Concurrent calls are pipelined and coalesced into
   * batches, so awaiting each call costs no broker round trip of throughput. Nacks and transient errors are
   * re-sent with the same message id; see PublishConfig for the bounds.
   */
  publish(topic: string, message: OutgoingMessage, options?: PublishOptions): Promise<PublishReceipt> {
    try {
      validateName('topic', topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.publisher.publish(topic, message, options);
  }

  /** The same checks as publish() makes, once for a whole batch. */
  private batchOptions(topic: string, options: PublishOptions | undefined): PublishOptions | undefined {
    if (options === undefined) return undefined;
    return checkOptions<PublishOptions>('publishBatch()', options, PUBLISH_OPTIONS_SHAPE, { topic });
  }

  /**
   * Publishes several messages and reports one result per entry, in order; one entry's failure does not affect
   * the others. Rejects as a whole only when `messages` is not an array or `options` is invalid (nothing is sent);
   * an invalid topic name is a failed result for every entry.
   */
  async publishBatch(
    topic: string,
    messages: readonly OutgoingMessage[],
    options?: PublishOptions,
  ): Promise<PublishResult[]> {
    if (!Array.isArray(messages)) throw invalidArgument('publishBatch takes an array of messages', { topic });
    const checked = this.batchOptions(topic, options);
    const settled = await Promise.allSettled(Array.from(messages, (m) => this.publish(topic, m, checked)));
    return settled.map((s) =>
      s.status === 'fulfilled'
        ? { ok: true, receipt: s.value }
        : { ok: false, error: toLosslessError(s.reason, undefined, this.driver.name) },
    );
  }

  /**
   * Starts consuming `subscription` of `topic`. The handler runs for each message; the message is acked (its
   * offset committed) only after the handler resolved; a throw redelivers it with attempt + 1, and after the
   * subscription's maxDeliveries it goes to the dead-letter destination. Resolves once consuming started.
   */
  async subscribe(
    topic: string,
    subscription: string,
    handler: Handler,
    given?: BusSubscribeOptions,
  ): Promise<Subscription> {
    this.assertOpen();
    validateName('topic', topic);
    validateName('subscription', subscription);
    if (typeof handler !== 'function')
      throw invalidArgument('subscribe(): the handler must be a function', { topic, subscription });
    const options = checkSubscribeOptions(given, topic, subscription);
    const spec: NormalizedSubscription = this.declaredSubscriptions.get(subKey(topic, subscription)) ?? {
      name: subscription,
      topic,
      maxDeliveries: options.maxDeliveries,
      deadLetter: options.deadLetter,
      queueType: undefined,
    };
    const sub = new Subscription(
      this.driver,
      topic,
      spec,
      handler,
      options,
      this.logger,
      () => this.subscriptions.delete(sub),
      this.telemetry,
    );
    this.subscriptions.add(sub);
    try {
      await sub.start();
    } catch (error) {
      this.subscriptions.delete(sub);
      throw toLosslessError(error, (e) => this.driver.classify(e), this.driver.name).withContext({
        topic,
        subscription,
      });
    }
    return sub;
  }

  /** The connection's state as the driver sees it now; 'closed' after close(). */
  health(): Health {
    if (this.closing) return { state: 'closed', since: Date.now() };
    return this.driver.health();
  }

  /**
   * Closes in order: refuses new work (CLOSED), waits for every unconfirmed publish to settle (each within its
   * confirm deadline), closes subscriptions (draining running handlers), then the driver. Idempotent: a second
   * call returns the first call's promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.publisher.close();
      await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
      await this.driver.close();
      this.telemetry?.close();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw closedError('the bus');
  }
}

function subKey(topic: string, subscription: string): string {
  return `${topic}\u0000${subscription}`;
}

/**
 * Connects a driver and returns the bus. Rejects with UNAVAILABLE when the broker cannot be reached within
 * connectTimeoutMs, INVALID_ARGUMENT for bad options.
 */
export async function connect(driver: Driver, given?: ConnectOptions): Promise<Bus> {
  if (!isDriver(driver)) {
    throw invalidArgument(
      'connect() needs a driver (e.g. rabbitmq({ url }) from @lossless/rabbitmq), got ' +
        describeValue(driver),
    );
  }
  const options = checkOptions<ConnectOptions>('connect()', given, CONNECT_SHAPE);
  const limit = driver.capabilities.maxMessageBytes;
  const publishConfig: PublishConfig = {
    ...DEFAULT_PUBLISH_CONFIG,
    maxMessageBytes: limit,
    ...options.publish,
    retryBackoff: mergeBackoff(
      'connect(): publish.retryBackoff',
      DEFAULT_PUBLISH_CONFIG.retryBackoff,
      options.publish?.retryBackoff,
    ),
  };
  publishConfig.maxMessageBytes = Math.min(publishConfig.maxMessageBytes, limit);
  const baseLogger = options.logger ? guardedLogger(options.logger) : consoleLogger;
  const telemetry = await makeTelemetry(options.telemetry, driver, publishConfig, baseLogger);
  const logger = telemetry ? tracedLogger(baseLogger, telemetry) : baseLogger;
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new LosslessError(
          ErrorCode.UNAVAILABLE,
          `could not connect to ${driver.name} within ${timeoutMs} ms: is the broker running and reachable?`,
          { broker: driver.name },
        ),
      ),
    timeoutMs,
  );
  try {
    await Promise.race([
      driver.connect(controller.signal),
      new Promise<never>((_, reject) =>
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }),
      ),
    ]);
  } catch (error) {
    controller.abort(cancelledError('connect failed'));
    await Promise.resolve()
      .then(() => driver.close())
      .catch(() => {});
    throw toLosslessError(error, (e) => driver.classify(e), driver.name);
  } finally {
    clearTimeout(timer);
  }
  const bus = new Bus(driver, logger, publishConfig, options.outbox, telemetry);
  await bus.replayOutbox();
  return bus;
}

/** The bus's Telemetry, or undefined: turned off, or @opentelemetry/api not installed. */
async function makeTelemetry(
  given: false | TelemetryOptions | undefined,
  driver: Driver,
  config: PublishConfig,
  logger: Logger,
): Promise<Telemetry | undefined> {
  if (given === false) return undefined;
  const options = checkOptions<TelemetryOptions>('connect(): telemetry', given, TELEMETRY_SHAPE);
  const api = await loadOtelApi();
  if (api === undefined) return undefined;
  // Nothing registered and nothing given: no telemetry to report, so none to pay for (see sdkRegistered).
  if (options.tracerProvider === undefined && options.meterProvider === undefined && !sdkRegistered(api)) {
    return undefined;
  }
  const declared = driver.capabilities.maxHeaderBytes;
  try {
    return new Telemetry(
      api,
      driver.name,
      options,
      {
        maxMessageBytes: config.maxMessageBytes,
        maxHeaderBytes: typeof declared === 'number' && declared > 0 ? declared : Number.POSITIVE_INFINITY,
      },
      logger,
    );
  } catch (error) {
    // A provider that throws when asked for a tracer or a meter: the bus works, without telemetry.
    logger.warn(`telemetry: the OpenTelemetry providers threw (${describeError(error)}); telemetry is off`);
    return undefined;
  }
}

/** Core's log records carry the active span's trace_id and span_id in their meta. */
function tracedLogger(logger: Logger, telemetry: Telemetry): Logger {
  const withIds =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, meta?: Record<string, unknown>): void => {
      const ids = telemetry.logIds();
      logger[level](message, ids ? { ...meta, ...ids } : meta);
    };
  return { debug: withIds('debug'), info: withIds('info'), warn: withIds('warn'), error: withIds('error') };
}

/** The members core calls, present with the right types; a driver's own checks come after. */
function isDriver(v: unknown): v is Driver {
  try {
    if (v === null || typeof v !== 'object') return false;
    const d = v as Record<string, unknown>;
    const caps = d.capabilities as Record<string, unknown> | undefined;
    return (
      typeof d.name === 'string' &&
      ['connect', 'declare', 'send', 'subscribe', 'health', 'classify', 'close'].every(
        (m) => typeof d[m] === 'function',
      ) &&
      typeof caps === 'object' &&
      caps !== null &&
      typeof caps.maxMessageBytes === 'number' &&
      Number.isInteger(caps.maxMessageBytes) &&
      caps.maxMessageBytes > 0
    );
  } catch {
    return false;
  }
}

const PUBLISH_OPTIONS_SHAPE: OptionShape = { signal: { type: 'signal' } };

const CONNECT_SHAPE: OptionShape = {
  connectTimeoutMs: { type: 'integer', min: 1, max: TIMER_MAX_MS },
  publish: { type: 'object', shape: PUBLISH_CONFIG_SHAPE },
  logger: LOGGER_RULE,
  outbox: { type: 'object', shape: OUTBOX_SHAPE },
  telemetry: {
    type: 'custom',
    check: (v) =>
      v === false || (v !== null && typeof v === 'object')
        ? undefined
        : 'false, or an object with tracerProvider, meterProvider and propagator',
  },
};

const BUS_SUBSCRIBE_SHAPE: OptionShape = {
  ...SUBSCRIBE_SHAPE,
  maxDeliveries: { type: 'integer', min: 1, max: 1_000 },
  deadLetter: { type: 'boolean' },
};

/**
 * Subscribe options checked once and defaulted (resolveSubscribeOptions), plus the bus's own two: maxDeliveries
 * and deadLetter, the fallback for a subscription this bus did not declare.
 */
function checkSubscribeOptions(
  given: unknown,
  topic: string,
  subscription: string,
): ResolvedSubscribeOptions & { readonly maxDeliveries: number; readonly deadLetter: boolean } {
  const options = checkOptions<BusSubscribeOptions>('subscribe()', given, BUS_SUBSCRIBE_SHAPE, {
    topic,
    subscription,
  });
  return {
    ...resolveSubscribeOptions(options),
    maxDeliveries: options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES,
    deadLetter: options.deadLetter ?? true,
  };
}
