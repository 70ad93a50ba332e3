// OpenTelemetry on the in-memory driver, with the SDK's in-memory span exporter and a metric reader: what a user
// with an SDK sees for a publish, a handler that fails once, a dead letter, a failed publish and re-sends; that
// their own traceparent is kept; that trace context never breaks a message that fills its limits; that
// `telemetry: false` (or no SDK at all) emits nothing; that core's log lines carry the trace id (pino and winston
// as they are); that a throwing SDK stops telemetry, never messaging; the lag gauge; and that a message replayed
// by the lmdb outbox after its producer died stays in its publish span's trace.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  connect,
  type Delivery,
  isLosslessError,
  type Logger,
  TELEMETRY_METRIC as METRIC,
  silentLogger,
} from '@lossless/core';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { lmdbOutbox } from '@lossless/outbox-lmdb';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { testSdk as sdk, type TestSdk, useContextManager } from './otel-sdk.js';

const fast = { initialDelayMs: 1, maxDelayMs: 2, factor: 1, jitter: 'none' as const };
let undo: () => void = () => {};
beforeAll(() => {
  undo = useContextManager();
});
afterAll(() => undo());

async function setup(otel: TestSdk, maxDeliveries = 5, logger: Logger = silentLogger) {
  const broker = new MemoryBroker();
  const bus = await connect(memoryDriver({ broker }), { logger, telemetry: otel.options });
  await bus.declare({
    topics: [{ name: 'orders' }],
    subscriptions: [{ name: 'warehouse', topic: 'orders', maxDeliveries }],
  });
  return bus;
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const ctx = (s: ReadableSpan): SpanContext => s.spanContext();

describe('telemetry', () => {
  it('one trace from publish through a failed attempt and its redelivery to the successful handler', async () => {
    const otel = sdk();
    const bus = await setup(otel);
    const seen: Delivery[] = [];
    const done = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      (d) => {
        seen.push(d);
        if (d.attempt === 1) throw new TypeError('warehouse offline');
        done.resolve();
      },
      { redeliveryBackoff: fast },
    );
    const receipt = await bus.publish('orders', { body: 'order-1', key: 'k1' });
    await done.promise;
    await sub.close();
    await bus.close();

    const [publish] = otel.spans('publish orders');
    expect(publish).toBeDefined();
    if (!publish) return;
    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'memory',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 'orders',
      'messaging.message.id': receipt.id,
      'messaging.message.body.size': 7,
    });
    expect(publish.status.code).not.toBe(SpanStatusCode.ERROR);
    const runs = otel.spans('process orders');
    expect(runs.map((s) => s.attributes['lossless.delivery.attempt'])).toEqual([1, 2]);
    for (const run of runs) {
      expect(run.kind).toBe(SpanKind.CONSUMER);
      expect(ctx(run).traceId).toBe(ctx(publish).traceId);
      expect(run.parentSpanContext?.spanId).toBe(ctx(publish).spanId);
      expect(run.links.map((l) => l.context.spanId)).toEqual([ctx(publish).spanId]);
      expect(run.attributes).toMatchObject({
        'messaging.destination.subscription.name': 'warehouse',
        'messaging.consumer.group.name': 'warehouse',
        'messaging.message.id': receipt.id,
      });
    }
    expect(runs[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(runs[0]?.attributes['error.type']).toBe('TypeError');
    expect(runs[1]?.status.code).not.toBe(SpanStatusCode.ERROR);
    // The handler saw the W3C header the publisher's span wrote, on both deliveries.
    expect(seen.map((d) => d.headers.traceparent?.split('-')[1])).toEqual([
      ctx(publish).traceId,
      ctx(publish).traceId,
    ]);

    expect(await otel.metric(METRIC.sent, { 'messaging.destination.name': 'orders' })).toBe(1);
    expect(await otel.metric(METRIC.operationDuration, { 'messaging.operation.name': 'publish' })).toBe(1);
    expect(
      await otel.metric(METRIC.consumed, { 'messaging.destination.subscription.name': 'warehouse' }),
    ).toBe(2);
    expect(await otel.metric(METRIC.processDuration)).toBe(2);
    expect(await otel.metric(METRIC.processDuration, { 'error.type': 'TypeError' })).toBe(1);
    expect(await otel.metric(METRIC.redeliveries)).toBe(1);
    expect(await otel.metric(METRIC.deadLetters)).toBe(0);
  });

  it("a handler's own spans are children of its process span", async () => {
    const otel = sdk();
    const bus = await setup(otel);
    const tracer = otel.options.tracerProvider.getTracer('app');
    const done = deferred();
    const sub = await bus.subscribe('orders', 'warehouse', () => {
      tracer.startSpan('write shipment').end();
      done.resolve();
    });
    await bus.publish('orders', { body: 'x' });
    await done.promise;
    await sub.close();
    await bus.close();
    const [run] = otel.spans('process orders');
    const [inner] = otel.spans('write shipment');
    expect(inner?.parentSpanContext?.spanId).toBe(run ? ctx(run).spanId : 'none');
  });

  it('a message that fails maxDeliveries times: a dead_letter span in its trace and the counter', async () => {
    const otel = sdk();
    const bus = await setup(otel, 2);
    const attempts: number[] = [];
    const twice = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      (d) => {
        attempts.push(d.attempt);
        if (attempts.length === 2) twice.resolve();
        throw new Error('poison');
      },
      { redeliveryBackoff: fast },
    );
    await bus.publish('orders', { body: 'poison' });
    await twice.promise;
    await sub.close();
    await bus.close();
    const [publish] = otel.spans('publish orders');
    const [dead] = otel.spans('dead_letter orders');
    expect(dead?.kind).toBe(SpanKind.CLIENT);
    expect(dead?.attributes).toMatchObject({
      'messaging.operation.type': 'settle',
      'messaging.operation.name': 'dead_letter',
      'lossless.delivery.attempt': 2,
    });
    expect(dead && ctx(dead).traceId).toBe(publish && ctx(publish).traceId);
    expect(await otel.metric(METRIC.deadLetters)).toBe(1);
    expect(await otel.metric(METRIC.redeliveries)).toBe(1);
  });

  it('a failed publish has an error span and error.type; re-sends are counted', async () => {
    const otel = sdk();
    const broker = new MemoryBroker();
    const bus = await connect(memoryDriver({ broker }), {
      logger: silentLogger,
      telemetry: otel.options,
      publish: { retryBackoff: fast },
    });
    await bus.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
    let nacks = 2;
    broker.faults.onSend = () => (nacks-- > 0 ? 'nack' : 'confirm');
    const receipt = await bus.publish('orders', { body: 'after two nacks' });
    expect(receipt.attempts).toBe(3);
    const failed = await bus.publish('nowhere', { body: 'x' }).catch((e: unknown) => e);
    expect(isLosslessError(failed) && failed.code).toBe('NOT_FOUND');
    await bus.close();
    const [ok] = otel.spans('publish orders');
    expect(ok?.attributes['lossless.publish.attempts']).toBe(3);
    const [bad] = otel.spans('publish nowhere');
    expect(bad?.status.code).toBe(SpanStatusCode.ERROR);
    expect(bad?.attributes['error.type']).toBe('NOT_FOUND');
    expect(await otel.metric(METRIC.resends)).toBe(2);
    expect(await otel.metric(METRIC.sent, { 'error.type': 'NOT_FOUND' })).toBe(1);
    expect(await otel.metric(METRIC.sent)).toBe(2);
  });

  it("keeps the user's own traceparent, and never breaks a message that fills its size limit", async () => {
    const otel = sdk();
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const broker = new MemoryBroker();
    const bus = await connect(memoryDriver({ broker, maxMessageBytes: 1_000 }), {
      logger,
      telemetry: otel.options,
    });
    await bus.declare({
      topics: [{ name: 'orders' }],
      subscriptions: [{ name: 'warehouse', topic: 'orders' }],
    });
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const got: Delivery[] = [];
    const two = deferred();
    const sub = await bus.subscribe('orders', 'warehouse', (d) => {
      got.push(d);
      if (got.length === 4) two.resolve();
    });
    await bus.publish('orders', { body: 'mine', headers: { traceparent: own } });
    await bus.publish('orders', { body: 'x'.repeat(990), headers: { a: 'bcdefghij' } }); // exactly 1,000 bytes
    await bus.publish('orders', { body: 'x'.repeat(990), headers: { a: 'bcdefghij' } });
    // Core's most headers (64), small: the context would be a 65th.
    const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`h${i}`, 'v']));
    await bus.publish('orders', { body: 'many headers', headers: many });
    await two.promise;
    await sub.close();
    await bus.close();
    const byBody = (n: number) => got.find((d) => d.body.byteLength === n);
    expect(byBody(4)?.headers.traceparent).toBe(own);
    expect(byBody(990)?.headers.traceparent).toBeUndefined();
    expect(byBody(12)?.headers.traceparent).toBeUndefined();
    expect(Object.keys(byBody(12)?.headers ?? {})).toHaveLength(64);
    expect(warnings.filter((w) => w.includes('trace context'))).toHaveLength(1);
    const full = otel.spans('publish orders').filter((s) => s.attributes['lossless.trace_context_dropped']);
    expect(full).toHaveLength(3);
  });

  it('telemetry: false emits nothing and adds no header; bad telemetry options are INVALID_ARGUMENT', async () => {
    const otel = sdk();
    const bus = await connect(memoryDriver(), { logger: silentLogger, telemetry: false });
    await bus.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
    const got = deferred<Delivery>();
    const sub = await bus.subscribe('orders', 'w', (d) => got.resolve(d));
    await bus.publish('orders', { body: 'x' });
    expect((await got.promise).headers.traceparent).toBeUndefined();
    await sub.close();
    await bus.close();
    expect(otel.spans()).toHaveLength(0);

    for (const telemetry of [
      { tracerProvidr: otel.options.tracerProvider },
      { meterProvider: {} },
      'on',
      null,
    ]) {
      const refused = await connect(memoryDriver(), {
        logger: silentLogger,
        telemetry: telemetry as never,
      }).catch((e: unknown) => e);
      expect(isLosslessError(refused) && refused.code).toBe('INVALID_ARGUMENT');
    }
  });

  it("core's log lines from a handler failure carry the trace and span ids", async () => {
    const otel = sdk();
    const metas: Record<string, unknown>[] = [];
    const logger: Logger = { ...silentLogger, warn: (_m, meta) => metas.push(meta ?? {}) };
    const bus = await setup(otel, 1, logger);
    const once = deferred();
    const sub = await bus.subscribe('orders', 'warehouse', () => {
      once.resolve();
      throw new Error('fails');
    });
    await bus.publish('orders', { body: 'x' });
    await once.promise;
    await sub.close();
    await bus.close();
    const [run] = otel.spans('process orders');
    expect(metas.some((m) => run && m.trace_id === ctx(run).traceId && m.span_id === ctx(run).spanId)).toBe(
      true,
    );
  });

  it('the unconfirmed gauge reads what the bus holds', async () => {
    const otel = sdk();
    const broker = new MemoryBroker();
    const bus = await connect(memoryDriver({ broker }), {
      logger: silentLogger,
      telemetry: otel.options,
      publish: { confirmTimeoutMs: 200 },
    });
    await bus.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
    broker.faults.onSend = () => 'hang';
    const hanging = [bus.publish('orders', { body: 'a' }), bus.publish('orders', { body: 'b' })];
    expect(await otel.metric(METRIC.unconfirmed)).toBe(2);
    const outcomes = await Promise.allSettled(hanging);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(await otel.metric(METRIC.unconfirmed)).toBe(0);
    await bus.close();
  });

  it('a pino or a winston logger, passed as it is, gets the meta and the trace ids of a handler failure', async () => {
    for (const make of [
      (out: Writable) => pino(out),
      (out: Writable) =>
        winston.createLogger({
          format: winston.format.json(),
          transports: [new winston.transports.Stream({ stream: out })],
        }),
    ]) {
      const lines: Record<string, unknown>[] = [];
      const out = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
          done();
        },
      });
      const otel = sdk();
      const bus = await setup(otel, 1, make(out) as unknown as Logger);
      const once = deferred();
      const sub = await bus.subscribe('orders', 'warehouse', () => {
        once.resolve();
        throw new Error('fails');
      });
      await bus.publish('orders', { body: 'x' });
      await once.promise;
      await sub.close();
      await bus.close();
      const [run] = otel.spans('process orders');
      const line = lines.find((l) => JSON.stringify(l).includes('fails'));
      expect(line).toMatchObject({ code: 'INTERNAL', trace_id: run?.spanContext().traceId });
    }
  });

  it('an SDK or provider that throws never fails a publish or wedges a delivery: one warning, telemetry off', async () => {
    const real = sdk().options;
    const boom = () => {
      throw new Error('sdk bug');
    };
    const throwingMeter = {
      getMeter: () =>
        new Proxy(real.meterProvider.getMeter('x'), {
          get: (target, key) =>
            key === 'createCounter'
              ? () => ({ add: boom })
              : (target as unknown as Record<string | symbol, unknown>)[key],
        }),
    };
    const cases: Record<string, unknown> = {
      'getTracer throws': { tracerProvider: { getTracer: boom } },
      'startSpan throws': { tracerProvider: { getTracer: () => ({ startSpan: boom }) } },
      'inject throws': {
        tracerProvider: real.tracerProvider,
        propagator: {
          inject: boom,
          extract: real.propagator.extract.bind(real.propagator),
          fields: () => [],
        },
      },
      'counter add throws': { tracerProvider: real.tracerProvider, meterProvider: throwingMeter },
      'context manager throws': 'context',
    };
    for (const [name, given] of Object.entries(cases)) {
      const warnings: string[] = [];
      const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
      const telemetry = given === 'context' ? { tracerProvider: real.tracerProvider } : given;
      if (given === 'context') {
        context.disable();
        context.setGlobalContextManager({
          active: () => ROOT_CONTEXT,
          with: boom,
          bind: (_c: unknown, target: unknown) => target,
          enable() {
            return this;
          },
          disable() {
            return this;
          },
        } as never);
      }
      const bus = await connect(memoryDriver(), { logger, telemetry: telemetry as never });
      await bus.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
      const got: string[] = [];
      const two = deferred();
      const sub = await bus.subscribe('orders', 'w', (d) => {
        got.push(d.text());
        if (got.length === 2) two.resolve();
      });
      const receipts = await Promise.all([
        bus.publish('orders', { body: 'a' }),
        bus.publish('orders', { body: 'b' }),
      ]);
      await two.promise;
      await sub.close();
      await bus.close();
      expect(
        receipts.map((r) => r.status),
        name,
      ).toEqual(['confirmed', 'confirmed']);
      expect(got.sort(), name).toEqual(['a', 'b']);
      expect(sub.stats.acked, name).toBe(2);
      expect(
        warnings.filter((w) => w.startsWith('telemetry:')),
        name,
      ).toHaveLength(1);
      if (given === 'context') {
        context.disable();
        undo = useContextManager();
      }
    }
  });

  it('the lag gauge reads the subscription backlog the driver reports, and stops with the subscription', async () => {
    const otel = sdk();
    const bus = await setup(otel);
    const first = deferred();
    const release = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      async () => {
        first.resolve();
        await release.promise;
      },
      { concurrency: 1, prefetch: 1 },
    );
    for (let i = 0; i < 3; i++) await bus.publish('orders', { body: `m${i}` });
    await first.promise;
    const where = { 'messaging.destination.subscription.name': 'warehouse' };
    expect(await otel.metric(METRIC.lag, where)).toBe(2);
    release.resolve();
    await sub.close();
    await bus.close();
  });

  it('no SDK registered and no providers given: no telemetry at all; a global SDK is picked up without options', async () => {
    const plain = await connect(memoryDriver(), { logger: silentLogger });
    await plain.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
    const got = deferred<Delivery>();
    const sub = await plain.subscribe('orders', 'w', (d) => got.resolve(d));
    await plain.publish('orders', { body: 'x' });
    expect((await got.promise).headers.traceparent).toBeUndefined();
    await sub.close();
    await plain.close();

    const otel = sdk();
    trace.setGlobalTracerProvider(otel.options.tracerProvider);
    propagation.setGlobalPropagator(otel.options.propagator);
    try {
      const bus = await connect(memoryDriver(), { logger: silentLogger });
      await bus.declare({ topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] });
      const traced = deferred<Delivery>();
      const sub2 = await bus.subscribe('orders', 'w', (d) => traced.resolve(d));
      await bus.publish('orders', { body: 'y' });
      expect((await traced.promise).headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      await sub2.close();
      await bus.close();
      expect(otel.spans('publish orders')).toHaveLength(1);
      expect(otel.spans('process orders')).toHaveLength(1);
    } finally {
      trace.disable();
      propagation.disable();
    }
  });

  it("a message the lmdb outbox replays after the producer died keeps its publish span's trace", async () => {
    const path = mkdtempSync(join(tmpdir(), 'lossless-otel-outbox-'));
    try {
      const otel = sdk();
      const broker = new MemoryBroker();
      let confirm = false;
      broker.faults.onSend = () => (confirm ? 'confirm' : 'hang');
      const topology = { topics: [{ name: 'orders' }], subscriptions: [{ name: 'w', topic: 'orders' }] };
      const first = await connect(memoryDriver({ broker }), {
        logger: silentLogger,
        telemetry: otel.options,
        outbox: { store: lmdbOutbox({ path }), resolveOn: 'accepted' },
      });
      await first.declare(topology);
      const accepted = await first.publish('orders', { body: 'kept on disk' });
      expect(accepted.status).toBe('accepted');
      await first.driver.close(); // the process "dies" before the broker confirmed
      confirm = true;
      const second = await connect(memoryDriver({ broker }), {
        logger: silentLogger,
        telemetry: otel.options,
        outbox: { store: lmdbOutbox({ path }), resolveOn: 'accepted' },
      });
      await second.flush();
      const got = deferred<Delivery>();
      const sub = await second.subscribe('orders', 'w', (d) => got.resolve(d));
      expect((await got.promise).id).toBe(accepted.id);
      await sub.close();
      await second.close();
      const [publish] = otel.spans('publish orders');
      const [run] = otel.spans('process orders');
      expect(run?.parentSpanContext?.spanId).toBe(publish?.spanContext().spanId);
      expect(run?.spanContext().traceId).toBe(publish?.spanContext().traceId);
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  });
});
