// OpenTelemetry, once for every adapter: core owns publish, re-sends, consume, redeliveries and dead letters, so
// it reports them here, following the OTel messaging semantic conventions (v1.27+ attribute names, which are
// still "development" stability upstream). `@opentelemetry/api` is an optional peer dependency: connect() loads
// it when it is installed, and without an SDK registered every call below is the API's no-op.
//
// Spans: `publish {topic}` (PRODUCER, from the call until the durable confirm), `process {topic}` (CONSUMER, one
// per handler run, a child of the publisher's context carried in the message's `traceparent` / `tracestate`
// headers and linked to it), `dead_letter {topic}` (CLIENT, settle). Metrics: see TELEMETRY_METRIC below and the core
// README's "Observability" section.
import type * as Otel from '@opentelemetry/api';
import { isLosslessError, LosslessError } from './errors.js';
import type { Logger } from './logger.js';
import { Limits, type MessageRecord } from './message.js';
import type { PublishReceipt } from './publish-config.js';
import type { OptionRule, OptionShape } from './validate.js';

/** What connect() takes as `telemetry`: false turns it off; the providers default to the globally registered. */
export interface TelemetryOptions {
  /** An OTel TracerProvider (e.g. a NodeTracerProvider); default the global one. */
  tracerProvider?: { getTracer(name: string, version?: string): unknown };
  /** An OTel MeterProvider; default the global one (register it before connect(): OTel metrics are not lazy). */
  meterProvider?: { getMeter(name: string, version?: string): unknown };
  /** An OTel TextMapPropagator for the message headers; default the global one (W3C trace context in the SDKs). */
  propagator?: { inject(...args: never[]): void; extract(...args: never[]): unknown; fields(): string[] };
}

export const TELEMETRY_SHAPE: OptionShape = {
  tracerProvider: { type: 'custom', check: hasFunction('getTracer') },
  meterProvider: { type: 'custom', check: hasFunction('getMeter') },
  propagator: { type: 'custom', check: hasFunction('inject', 'extract', 'fields') },
};

/** What traceContextStore() takes: a propagator, checked as connect()'s. */
export const TRACE_CONTEXT_SHAPE: OptionShape = { propagator: TELEMETRY_SHAPE.propagator as OptionRule };

function hasFunction(...names: string[]): (v: unknown) => string | undefined {
  return (v) =>
    v !== null &&
    typeof v === 'object' &&
    names.every((n) => typeof (v as Record<string, unknown>)[n] === 'function')
      ? undefined
      : `an object with ${names.map((n) => `${n}()`).join(', ')}`;
}

/** Metric names: the semantic conventions' where they have one, `lossless.*` for what only lossless knows. */
export const TELEMETRY_METRIC = {
  operationDuration: 'messaging.client.operation.duration',
  processDuration: 'messaging.process.duration',
  sent: 'messaging.client.sent.messages',
  consumed: 'messaging.client.consumed.messages',
  resends: 'lossless.publish.resends',
  redeliveries: 'lossless.consume.redeliveries',
  deadLetters: 'lossless.consume.dead_letters',
  unconfirmed: 'lossless.publish.unconfirmed',
  outboxDepth: 'lossless.outbox.depth',
  lag: 'lossless.consume.lag',
} as const;

/** How long one subscription's backlog read may take at a collection before it is left out of that round. */
const LAG_READ_MS = 5_000;

const SCOPE = '@lossless/core';
const VERSION = '0.1.0';
/** Seconds, as the conventions ask, with buckets from 1 ms to 30 s (a publish waits for a disk, not a CPU). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let loaded: Promise<typeof Otel | undefined> | undefined;

/** The OTel API when it is installed, else undefined (loaded once). */
export function loadOtelApi(): Promise<typeof Otel | undefined> {
  loaded ??= import('@opentelemetry/api').then(
    (m: unknown) => {
      // Named exports when Node sees them in the CommonJS build, else the module object as `default`.
      const named = m as Partial<typeof Otel> & { default?: typeof Otel };
      return named.trace && named.SpanKind ? (named as typeof Otel) : named.default;
    },
    () => undefined,
  );
  return loaded;
}

/**
 * Whether an SDK is registered globally (a tracer provider behind the API's proxy, or a meter provider): without
 * one, and without providers passed in, a bus skips telemetry altogether — no spans to make, no instruments to
 * feed, nothing per message. Read by class name: the API exports neither no-op class, and every API version
 * names them so.
 */
export function sdkRegistered(api: typeof Otel): boolean {
  try {
    const tracerProvider = api.trace.getTracerProvider() as Otel.TracerProvider & {
      getDelegate?: () => Otel.TracerProvider;
    };
    const tracing = tracerProvider.getDelegate?.() ?? tracerProvider;
    const meterProvider = api.metrics.getMeterProvider();
    return (
      tracing.constructor?.name !== 'NoopTracerProvider' ||
      meterProvider.constructor?.name !== 'NoopMeterProvider'
    );
  } catch {
    return false;
  }
}

/**
 * `record` with the propagation headers of `carrier` added (names the record already has keep its value), or
 * undefined when none is added or they would pass the header count, `maxHeaderBytes` or `maxMessageBytes`
 * (body + headers). `added`: the bytes the carrier would add, for the caller's warning.
 */
function withCarrier(
  record: MessageRecord,
  carrier: Readonly<Record<string, string>>,
  limits: { maxMessageBytes: number; maxHeaderBytes?: number },
): { record: MessageRecord | undefined; added: number } {
  let added = 0;
  let count = 0;
  for (const name in carrier) {
    if (record.headers[name] !== undefined) continue;
    added += byteLength(name) + byteLength(carrier[name] ?? '');
    count++;
  }
  if (count === 0) return { record: undefined, added: 0 };
  let headerBytes = 0;
  for (const name in record.headers) {
    headerBytes += byteLength(name) + byteLength(record.headers[name] ?? '');
    count++;
  }
  const fits =
    count <= Limits.headersMax &&
    headerBytes + added <= (limits.maxHeaderBytes ?? Number.POSITIVE_INFINITY) &&
    record.body.byteLength + headerBytes + added <= limits.maxMessageBytes;
  return { record: fits ? { ...record, headers: { ...carrier, ...record.headers } } : undefined, added };
}

/**
 * Trace context for a message that waits in a store of its own before a bus publishes it (the PostgreSQL
 * outbox: written in the caller's transaction, published later by a relay, maybe in another process).
 * `carry()` adds the writer's active span context to the record's headers, as publish() would inject it;
 * `within()` runs the later publish inside the context those headers carry, so its `publish` span is a child of
 * the writer's span, and the consumer's `process` span (a child of the carried `traceparent`) joins its trace.
 */
export interface TraceContextStore {
  /**
   * `record` with the active span's context in its headers — or `record` itself: no valid span is active (no SDK
   * registered: the cost is one context lookup), the caller set `traceparent` by hand, the propagator writes
   * nothing, or the added headers would pass the header count or `maxMessageBytes` (body + headers).
   */
  carry(record: MessageRecord, maxMessageBytes: number): MessageRecord;
  /** Runs `fn` with the context `headers` carry as the active one; `fn()` alone when they carry none. */
  within<T>(headers: Readonly<Record<string, string>>, fn: () => T): T;
}

/**
 * A TraceContextStore on the OTel API, with `propagator` or the globally registered one (W3C trace context in
 * the SDKs); undefined when `@opentelemetry/api` is not installed. Never throws: an SDK that throws turns it
 * into a pass-through.
 */
export async function traceContextStore(
  options: { propagator?: TelemetryOptions['propagator'] } = {},
): Promise<TraceContextStore | undefined> {
  const api = await loadOtelApi();
  if (api === undefined) return undefined;
  const propagator =
    (options.propagator as Otel.TextMapPropagator | undefined) ?? (api.propagation as Otel.TextMapPropagator);
  let off = false;
  return {
    carry(record, maxMessageBytes) {
      if (off || record.headers.traceparent !== undefined) return record;
      try {
        const active = api.context.active();
        const span = api.trace.getSpanContext(active);
        if (span === undefined || !api.isSpanContextValid(span)) return record;
        const carrier: Record<string, string> = {};
        propagator.inject(active, carrier, setter);
        return withCarrier(record, carrier, { maxMessageBytes }).record ?? record;
      } catch {
        off = true;
        return record;
      }
    },
    within(headers, fn) {
      if (off || headers.traceparent === undefined) return fn();
      let ctx: Otel.Context;
      try {
        ctx = propagator.extract(api.ROOT_CONTEXT, headers, getter);
      } catch {
        off = true;
        return fn();
      }
      let ran = false;
      try {
        return api.context.with(ctx, () => {
          ran = true;
          return fn();
        });
      } catch (error) {
        if (ran) throw error; // fn's own throw
        off = true; // a context manager that throws before running fn
        return fn();
      }
    },
  };
}

/** What core's own instruments record; made once per bus by connect(). */
export class Telemetry {
  private readonly tracer: Otel.Tracer;
  private readonly propagator: Otel.TextMapPropagator;
  private readonly operationDuration: Otel.Histogram;
  private readonly processDuration: Otel.Histogram;
  private readonly sent: Otel.Counter;
  private readonly consumed: Otel.Counter;
  private readonly resends: Otel.Counter;
  private readonly redeliveries: Otel.Counter;
  private readonly deadLetters: Otel.Counter;
  private readonly meter: Otel.Meter;
  private readonly gauges: Otel.ObservableGauge[] = [];
  private readonly gaugeCallbacks: Otel.ObservableCallback[] = [];
  private warnedHeaders = false;
  /** Set when the SDK (or a provider the user passed) threw: telemetry then stops for this bus, nothing else. */
  private off = false;
  /** The subscriptions whose driver tells its backlog, read by one lag gauge (made with the first). */
  private readonly lagReaders = new Set<{
    attributes: Otel.Attributes;
    read: () => Promise<number | undefined>;
  }>();
  private lagGauge: Otel.ObservableGauge | undefined;

  constructor(
    private readonly api: typeof Otel,
    private readonly system: string,
    options: TelemetryOptions,
    private readonly limits: { maxMessageBytes: number; maxHeaderBytes: number },
    private readonly logger: Logger,
  ) {
    const tracerProvider = (options.tracerProvider as Otel.TracerProvider | undefined) ?? api.trace;
    const meterProvider = (options.meterProvider as Otel.MeterProvider | undefined) ?? api.metrics;
    this.tracer = tracerProvider.getTracer(SCOPE, VERSION);
    this.meter = meterProvider.getMeter(SCOPE, VERSION);
    this.propagator =
      (options.propagator as Otel.TextMapPropagator | undefined) ??
      (api.propagation as Otel.TextMapPropagator);
    const m = this.meter;
    const seconds = { unit: 's', advice: { explicitBucketBoundaries: DURATION_BUCKETS } };
    this.operationDuration = m.createHistogram(TELEMETRY_METRIC.operationDuration, {
      ...seconds,
      description: 'Publish: from the call until the broker confirmed it durably (or it failed).',
    });
    this.processDuration = m.createHistogram(TELEMETRY_METRIC.processDuration, {
      ...seconds,
      description: 'One run of a handler.',
    });
    const count = (name: string, description: string) =>
      m.createCounter(name, { unit: '{message}', description });
    this.sent = count(TELEMETRY_METRIC.sent, 'Publishes settled: confirmed, or failed (with error.type).');
    this.consumed = count(
      TELEMETRY_METRIC.consumed,
      'Deliveries handed to a subscription, redeliveries included.',
    );
    this.resends = count(
      TELEMETRY_METRIC.resends,
      'Re-sends of a message after a nack or a transient error.',
    );
    this.redeliveries = count(
      TELEMETRY_METRIC.redeliveries,
      'Deliveries returned for redelivery (a handler failed).',
    );
    this.deadLetters = count(TELEMETRY_METRIC.deadLetters, 'Messages moved to the dead-letter destination.');
  }

  /** Observable gauges read from the bus at each collection; removed by close(). */
  observe(name: string, description: string, read: () => number): void {
    this.guard(() => this.addGauge(name, description, read));
  }

  private addGauge(name: string, description: string, read: () => number): void {
    const gauge = this.meter.createObservableGauge(name, { unit: '{message}', description });
    const callback: Otel.ObservableCallback = (result) =>
      result.observe(read(), { 'messaging.system': this.system });
    gauge.addCallback(callback);
    this.gauges.push(gauge);
    this.gaugeCallbacks.push(callback);
  }

  /**
   * Reports a subscription's backlog (DriverSubscription.backlog) as `lossless.consume.lag` at each collection;
   * returns the function that stops it (the subscription's close).
   */
  observeLag(
    topic: string,
    subscription: string,
    fromDeadLetters: boolean,
    read: () => Promise<number | undefined>,
  ): () => void {
    const entry = {
      attributes: {
        ...consumeAttributes(this.system, topic, subscription),
        ...(fromDeadLetters ? { 'lossless.subscription.dead_letters': true } : {}),
      },
      read,
    };
    this.guard(() => {
      if (this.lagGauge === undefined) {
        const gauge = this.meter.createObservableGauge(TELEMETRY_METRIC.lag, {
          unit: '{message}',
          description: 'Messages of a subscription not consumed yet, as the broker counts them.',
        });
        gauge.addCallback(this.readLags);
        this.lagGauge = gauge;
        this.gauges.push(gauge);
        this.gaugeCallbacks.push(this.readLags);
      }
      this.lagReaders.add(entry);
    });
    return () => this.lagReaders.delete(entry);
  }

  /** One collection: every subscription's backlog at once, each bounded; one that fails or hangs is left out. */
  private readonly readLags: Otel.ObservableCallback = async (result) => {
    await Promise.all(
      [...this.lagReaders].map(async ({ attributes, read }) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const n = await Promise.race([
            read(),
            new Promise<undefined>((resolve) => {
              timer = setTimeout(() => resolve(undefined), LAG_READ_MS);
              timer.unref();
            }),
          ]);
          if (typeof n === 'number' && Number.isFinite(n) && n >= 0) result.observe(n, attributes);
        } catch {
          // unknown this round
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  };

  close(): void {
    this.guard(() =>
      this.gauges.forEach((g, i) => {
        const cb = this.gaugeCallbacks[i];
        if (cb) g.removeCallback(cb);
      }),
    );
    this.gauges.length = 0;
  }

  // --- publish -----------------------------------------------------------------------------------------------

  /**
   * Runs one publish inside a `publish {topic}` span: the span's context goes into the record's headers (unless
   * the user set `traceparent` themselves, or the headers would no longer fit the broker), `send` does the rest,
   * and the span ends, with the duration and counters recorded, when the publish settles.
   */
  publish(
    topic: string,
    record: MessageRecord,
    send: (record: MessageRecord) => Promise<PublishReceipt>,
  ): Promise<PublishReceipt> {
    if (this.off) return send(record);
    let span: Otel.Span;
    let carried: MessageRecord;
    const started = performance.now();
    try {
      span = this.startPublish(topic, record);
      // A sampled-out span still has a valid context: it travels (sampled flag off), so consumers keep the decision.
      carried = this.api.isSpanContextValid(span.spanContext()) ? this.inject(topic, record, span) : record;
    } catch (error) {
      this.broke(error);
      return send(record);
    }
    return send(carried).then(
      (receipt) => {
        this.guard(() => this.confirmed(topic, span, started, receipt));
        return receipt;
      },
      (error: unknown) => {
        this.guard(() => this.failed(topic, span, started, error));
        throw error;
      },
    );
  }

  private startPublish(topic: string, record: MessageRecord): Otel.Span {
    return this.tracer.startSpan(`publish ${topic}`, {
      kind: this.api.SpanKind.PRODUCER,
      attributes: {
        'messaging.system': this.system,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'publish',
        'messaging.destination.name': topic,
        'messaging.message.id': record.id,
        'messaging.message.body.size': record.body.byteLength,
      },
    });
  }

  private confirmed(topic: string, span: Otel.Span, started: number, receipt: PublishReceipt): void {
    const attributes = { 'messaging.system': this.system, 'messaging.destination.name': topic };
    this.operationDuration.record((performance.now() - started) / 1000, {
      ...attributes,
      'messaging.operation.name': 'publish',
    });
    this.sent.add(1, attributes);
    if (receipt.attempts > 1) span.setAttribute('lossless.publish.attempts', receipt.attempts);
    const partition = receipt.details?.partition;
    if (partition !== undefined) span.setAttribute('messaging.destination.partition.id', String(partition));
    span.end();
  }

  private failed(topic: string, span: Otel.Span, started: number, error: unknown): void {
    const attributes = { 'messaging.system': this.system, 'messaging.destination.name': topic };
    const type = errorType(error);
    this.operationDuration.record((performance.now() - started) / 1000, {
      ...attributes,
      'messaging.operation.name': 'publish',
      'error.type': type,
    });
    this.sent.add(1, { ...attributes, 'error.type': type });
    this.fail(span, error, type);
    span.end();
  }

  /** A re-send of a message (core's retry after a nack or a transient error). */
  resent(topic: string): void {
    this.guard(() =>
      this.resends.add(1, { 'messaging.system': this.system, 'messaging.destination.name': topic }),
    );
  }

  /**
   * Runs an SDK call; the first throw turns telemetry off for this bus with one warning: an SDK (or a provider
   * passed in) that throws must not fail a publish, wedge a delivery or crash the process.
   */
  private guard(fn: () => void): void {
    if (this.off) return;
    try {
      fn();
    } catch (error) {
      this.broke(error);
    }
  }

  private broke(error: unknown): void {
    if (this.off) return;
    this.off = true;
    this.logger.warn(
      `telemetry: the OpenTelemetry SDK threw (${errorType(error)}: ${statusMessage(error)}); no more spans or ` +
        'metrics from this bus, messaging goes on',
    );
  }

  /** The record with the span's context in its headers, or the record unchanged (see publish()). */
  private inject(topic: string, record: MessageRecord, span: Otel.Span): MessageRecord {
    if (record.headers.traceparent !== undefined) return record; // the caller propagates by hand
    const carrier: Record<string, string> = {};
    this.propagator.inject(this.api.trace.setSpan(this.api.context.active(), span), carrier, setter);
    const { record: carried, added } = withCarrier(record, carrier, this.limits);
    if (carried) return carried;
    if (added > 0) {
      if (!this.warnedHeaders) {
        this.warnedHeaders = true;
        this.logger.warn(
          `telemetry: a message to '${topic}' fills the header count, header bytes or size limit, so its trace context ` +
            `(${added} bytes) is not sent with it; its consumer starts a new trace (said once per bus)`,
        );
      }
      span.setAttribute('lossless.trace_context_dropped', true);
    }
    return record;
  }

  // --- consume -----------------------------------------------------------------------------------------------

  /** A delivery reached a subscription (counted once per delivery). */
  delivered(topic: string, subscription: string): void {
    this.guard(() => this.consumed.add(1, consumeAttributes(this.system, topic, subscription)));
  }

  /**
   * Starts the `process {topic}` span of one handler run: a child of the context the message carries, linked to
   * it too (the conventions' creation-context link), with the attempt. Returns the context to run the handler in.
   */
  startProcess(delivery: TracedDelivery, fromDeadLetters: boolean): ProcessRun | undefined {
    if (this.off) return undefined;
    try {
      return this.openProcess(delivery, fromDeadLetters);
    } catch (error) {
      this.broke(error);
      return undefined;
    }
  }

  private openProcess(delivery: TracedDelivery, fromDeadLetters: boolean): ProcessRun {
    const api = this.api;
    const creation = this.propagator.extract(api.ROOT_CONTEXT, delivery.headers, getter);
    const creationSpan = api.trace.getSpanContext(creation);
    const links = creationSpan && api.isSpanContextValid(creationSpan) ? [{ context: creationSpan }] : [];
    const span = this.tracer.startSpan(
      `process ${delivery.topic}`,
      {
        kind: api.SpanKind.CONSUMER,
        links,
        attributes: {
          'messaging.system': this.system,
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': delivery.topic,
          'messaging.destination.subscription.name': delivery.subscription,
          'messaging.consumer.group.name': delivery.subscription,
          'messaging.message.id': delivery.id,
          'messaging.message.body.size': delivery.body.byteLength,
          'lossless.delivery.attempt': delivery.attempt,
          ...(fromDeadLetters ? { 'lossless.subscription.dead_letters': true } : {}),
        },
      },
      creation,
    );
    return new ProcessRun(this, span, api.trace.setSpan(creation, span), performance.now(), delivery);
  }

  /** @internal ProcessRun.end */
  ended(run: ProcessRun, failure: { error: unknown } | undefined): void {
    this.guard(() => this.closeProcess(run, failure));
  }

  private closeProcess(run: ProcessRun, failure: { error: unknown } | undefined): void {
    const attributes = consumeAttributes(this.system, run.delivery.topic, run.delivery.subscription);
    if (failure) {
      const type = errorType(failure.error);
      this.processDuration.record((performance.now() - run.started) / 1000, {
        ...attributes,
        'error.type': type,
      });
      this.fail(run.span, failure.error, type);
    } else {
      this.processDuration.record((performance.now() - run.started) / 1000, attributes);
    }
    run.span.end();
  }

  /** A settlement of a delivery: counters, and a `dead_letter {topic}` span for a dead letter. */
  settled(
    delivery: TracedDelivery,
    how: 'ack' | 'nack' | 'dead_letter',
    parent: Otel.Context | undefined,
  ): void {
    this.guard(() => this.settle(delivery, how, parent));
  }

  private settle(
    delivery: TracedDelivery,
    how: 'ack' | 'nack' | 'dead_letter',
    parent: Otel.Context | undefined,
  ): void {
    const attributes = consumeAttributes(this.system, delivery.topic, delivery.subscription);
    if (how === 'nack') this.redeliveries.add(1, attributes);
    if (how !== 'dead_letter') return;
    this.deadLetters.add(1, attributes);
    const api = this.api;
    const span = this.tracer.startSpan(
      `dead_letter ${delivery.topic}`,
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'messaging.system': this.system,
          'messaging.operation.type': 'settle',
          'messaging.operation.name': 'dead_letter',
          'messaging.destination.name': delivery.topic,
          'messaging.destination.subscription.name': delivery.subscription,
          'messaging.message.id': delivery.id,
          'lossless.delivery.attempt': delivery.attempt,
        },
      },
      parent ?? this.propagator.extract(api.ROOT_CONTEXT, delivery.headers, getter),
    );
    span.end();
  }

  /** Runs `fn` with `ctx` as the active context (the handler's own spans become children of its process span). */
  within<T>(ctx: Otel.Context, fn: () => T): T {
    if (this.off) return fn();
    let ran = false;
    try {
      return this.api.context.with(ctx, () => {
        ran = true;
        return fn();
      });
    } catch (error) {
      if (ran) throw error; // the handler's own throw
      // A context manager that throws before running it: telemetry stops, the handler runs all the same.
      this.broke(error);
      return fn();
    }
  }

  /** The active span's trace and span ids, for log records; undefined outside a recording span. */
  logIds(): { trace_id: string; span_id: string } | undefined {
    if (this.off) return undefined;
    try {
      const sc = this.api.trace.getSpanContext(this.api.context.active());
      if (!sc || !this.api.isSpanContextValid(sc)) return undefined;
      return { trace_id: sc.traceId, span_id: sc.spanId };
    } catch {
      return undefined; // called while logging: nothing left to report to
    }
  }

  private fail(span: Otel.Span, error: unknown, type: string): void {
    span.setAttribute('error.type', type);
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: statusMessage(error) });
  }
}

/** What the consume side needs of a delivery (the Delivery the handler sees). */
export interface TracedDelivery {
  readonly id: string;
  readonly topic: string;
  readonly subscription: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly attempt: number;
}

/** One handler run's span. */
export class ProcessRun {
  private done = false;
  constructor(
    private readonly telemetry: Telemetry,
    readonly span: Otel.Span,
    readonly context: Otel.Context,
    readonly started: number,
    readonly delivery: TracedDelivery,
  ) {}
  end(failure?: { error: unknown }): void {
    if (this.done) return;
    this.done = true;
    this.telemetry.ended(this, failure);
  }
}

function consumeAttributes(system: string, topic: string, subscription: string): Otel.Attributes {
  return {
    'messaging.system': system,
    'messaging.destination.name': topic,
    'messaging.destination.subscription.name': subscription,
  };
}

/** error.type: the LosslessError code, else the error's class name, else '_OTHER' (the conventions' fallback). */
function errorType(error: unknown): string {
  if (isLosslessError(error)) return error.code;
  try {
    const name = (error as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name.length > 0 && name.length <= 100 ? name : '_OTHER';
  } catch {
    return '_OTHER';
  }
}

/** A short, safe status message: a LosslessError's message is scrubbed of secrets; others give their class. */
function statusMessage(error: unknown): string {
  if (error instanceof LosslessError) return error.message.slice(0, 500);
  try {
    const message = (error as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? message.slice(0, 500) : 'handler failed';
  } catch {
    return 'handler failed';
  }
}

const setter: Otel.TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: Otel.TextMapGetter<Readonly<Record<string, string>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const encoder = new TextEncoder();
function byteLength(s: string): number {
  // ASCII (every W3C trace header) is one byte a character; anything else is measured.
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return encoder.encode(s).byteLength;
  return s.length;
}
