// Trace context through the PostgreSQL outbox, against a real PostgreSQL and RabbitMQ (the kit's, or
// LOSSLESS_POSTGRES_URL and LOSSLESS_BROKERS=external) with the OpenTelemetry SDK's in-memory exporter: the
// writer's active span goes into the outbox row, the relay publishes inside it (its `publish` span a child of the
// writer's) and the consumer's `process` span joins the writer's trace; a `traceparent` the caller set is kept as
// is; a globally registered SDK needs no option; without an SDK the row and the message carry no trace header.
import { createBroker, postgres as postgresFixture } from '@lossless/brokers';
import { type Bus, connect, type Delivery, silentLogger } from '@lossless/core';
import { rabbitmq } from '@lossless/rabbitmq';
import { propagation, type SpanContext, SpanKind, trace } from '@opentelemetry/api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestSdk, testSdk, useContextManager } from '../../../tests/telemetry/otel-sdk.js';
import { type PostgresOutbox, postgresOutbox } from './outbox.js';
import { migrate } from './schema.js';

const db = postgresFixture();
const mq = createBroker('rabbitmq');
let pool: pg.Pool;
const suffix = `${process.pid}_${Date.now().toString(36)}`;
let n = 0;

beforeAll(async () => {
  await Promise.all([db.up(), mq.up()]);
  pool = new pg.Pool({ connectionString: db.settings.url, max: 10 });
}, 300_000);
afterAll(async () => {
  await pool?.end();
});

/** A fresh outbox table, topic and subscription; a bus with the SDK's providers (or telemetry left default). */
async function fresh(otel?: TestSdk) {
  n++;
  const schema = `tr_${suffix}_${n}`;
  await migrate(pool, { schema });
  const topic = `pgtr-${suffix.replace(/_/g, '-')}-${n}`;
  const bus = await connect(rabbitmq({ url: mq.settings.urls[0] ?? '', logger: silentLogger }), {
    logger: silentLogger,
    ...(otel ? { telemetry: otel.options } : {}),
  });
  await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'w', topic }] });
  return { schema, topic, bus };
}

/** One committed transaction writing `message`; resolves with its id. */
async function commit(
  outbox: PostgresOutbox,
  topic: string,
  message: Parameters<PostgresOutbox['publish']>[2],
) {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const { id } = await outbox.publish(c, topic, message);
    await c.query('COMMIT');
    return id;
  } finally {
    c.release();
  }
}

/** The headers stored in the outbox row of message `id`. */
async function storedHeaders(schema: string, id: string): Promise<Record<string, string>> {
  const r = await pool.query<{ headers: Record<string, string> }>(
    `SELECT headers FROM ${schema}.lossless_outbox WHERE id = $1`,
    [id],
  );
  expect(r.rows).toHaveLength(1);
  return r.rows[0]?.headers ?? {};
}

/** Starts a relay, waits for message `id` to be handled, and returns its delivery. */
async function relayed(outbox: PostgresOutbox, bus: Bus, topic: string, id: string): Promise<Delivery> {
  let got!: (d: Delivery) => void;
  const arrived = new Promise<Delivery>((resolve) => {
    got = resolve;
  });
  const sub = await bus.subscribe(topic, 'w', (d) => {
    if (d.id === id) got(d);
  });
  const relay = outbox.relay(bus, { pollIntervalMs: 100 });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      arrived,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`message ${id} did not arrive`)), 30_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await sub.close();
    await relay.close();
  }
}

const traceparentOf = (sc: SpanContext) => `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags}`;

describe('postgres outbox with an OpenTelemetry SDK', () => {
  let undo: () => void = () => {};
  beforeAll(() => {
    undo = useContextManager();
  });
  afterAll(() => undo());

  it("carries the writer's span: writer → outbox row → relay's publish → consumer's process, one trace", async () => {
    const otel = testSdk();
    const { schema, topic, bus } = await fresh(otel);
    const outbox = postgresOutbox({ pool, schema, telemetry: { propagator: otel.options.propagator } });
    const tracer = otel.options.tracerProvider.getTracer('order-service');
    const { id, writer } = await tracer.startActiveSpan('place order', async (span) => {
      const written = await commit(outbox, topic, { body: 'order 1', headers: { type: 'OrderPaid' } });
      span.end();
      return { id: written, writer: span.spanContext() };
    });
    expect(await storedHeaders(schema, id)).toEqual({
      type: 'OrderPaid',
      traceparent: traceparentOf(writer),
    });

    const delivery = await relayed(outbox, bus, topic, id);
    expect(delivery.headers.traceparent).toBe(traceparentOf(writer));
    expect(delivery.headers.type).toBe('OrderPaid');
    const publish = otel.spans(`publish ${topic}`).find((s) => s.attributes['messaging.message.id'] === id);
    expect(publish?.kind).toBe(SpanKind.PRODUCER);
    expect(publish?.spanContext().traceId).toBe(writer.traceId);
    expect(publish?.parentSpanContext?.spanId).toBe(writer.spanId); // the relay published inside the row's context
    const run = otel.spans(`process ${topic}`).find((s) => s.attributes['messaging.message.id'] === id);
    expect(run?.spanContext().traceId).toBe(writer.traceId);
    expect(run?.parentSpanContext?.spanId).toBe(writer.spanId); // the message carries the writer's context
    await bus.close();
  });

  it('keeps a traceparent the caller set as is', async () => {
    const otel = testSdk();
    const { schema, topic, bus } = await fresh(otel);
    const outbox = postgresOutbox({ pool, schema, telemetry: { propagator: otel.options.propagator } });
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const id = await otel.options.tracerProvider
      .getTracer('order-service')
      .startActiveSpan('place order', async (span) => {
        const written = await commit(outbox, topic, { body: 'order 2', headers: { traceparent: own } });
        span.end();
        return written;
      });
    expect(await storedHeaders(schema, id)).toEqual({ traceparent: own });
    const delivery = await relayed(outbox, bus, topic, id);
    expect(delivery.headers.traceparent).toBe(own);
    const run = otel.spans(`process ${topic}`).find((s) => s.attributes['messaging.message.id'] === id);
    expect(run?.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(run?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    await bus.close();
  });

  it('needs no option when the SDK is registered globally', async () => {
    const otel = testSdk();
    trace.setGlobalTracerProvider(otel.options.tracerProvider);
    propagation.setGlobalPropagator(otel.options.propagator);
    try {
      const { schema, topic, bus } = await fresh();
      const outbox = postgresOutbox({ pool, schema });
      const { id, writer } = await trace
        .getTracer('order-service')
        .startActiveSpan('place order', async (span) => {
          const written = await commit(outbox, topic, { body: 'order 3' });
          span.end();
          return { id: written, writer: span.spanContext() };
        });
      expect(await storedHeaders(schema, id)).toEqual({ traceparent: traceparentOf(writer) });
      const delivery = await relayed(outbox, bus, topic, id);
      expect(delivery.headers.traceparent).toBe(traceparentOf(writer));
      const run = otel.spans(`process ${topic}`).find((s) => s.attributes['messaging.message.id'] === id);
      expect(run?.spanContext().traceId).toBe(writer.traceId);
      // Outside any span, nothing is stored.
      const plain = await commit(outbox, topic, { body: 'order 4' });
      expect(await storedHeaders(schema, plain)).toEqual({});
      await bus.close();
    } finally {
      trace.disable();
      propagation.disable();
    }
  });

  it('stores nothing with telemetry: false', async () => {
    const otel = testSdk();
    const { schema, topic, bus } = await fresh(otel);
    const outbox = postgresOutbox({ pool, schema, telemetry: false });
    const id = await otel.options.tracerProvider
      .getTracer('order-service')
      .startActiveSpan('place order', async (span) => {
        const written = await commit(outbox, topic, { body: 'order 5' });
        span.end();
        return written;
      });
    expect(await storedHeaders(schema, id)).toEqual({});
    await bus.close();
  });
});

describe('postgres outbox without an OpenTelemetry SDK', () => {
  it('adds no header to the row or the message', async () => {
    const { schema, topic, bus } = await fresh();
    const outbox = postgresOutbox({ pool, schema });
    // A tracer of an SDK that is not registered: without a context manager its span is never the active one.
    const tracer = testSdk().options.tracerProvider.getTracer('order-service');
    const id = await tracer.startActiveSpan('place order', async (span) => {
      const written = await commit(outbox, topic, { body: 'order 6', headers: { type: 'OrderPaid' } });
      span.end();
      return written;
    });
    expect(await storedHeaders(schema, id)).toEqual({ type: 'OrderPaid' });
    const delivery = await relayed(outbox, bus, topic, id);
    expect({ ...delivery.headers }).toEqual({ type: 'OrderPaid' });
    await bus.close();
  });
});
