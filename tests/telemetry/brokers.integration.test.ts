// OpenTelemetry against the real brokers of the kit, with the SDK's in-memory exporters: the trace context goes
// through each broker in the message headers — across a redelivery (Kafka: its retry topic) and into the
// dead-letter destination — so a message's publish, every handler run and its dead letter are one trace; the
// metrics equal what the test did; the lag gauge says what RabbitMQ and Kafka count (RocketMQ reports none yet).
import {
  createBroker,
  type KafkaSettings,
  type RabbitMqSettings,
  type RocketMqSettings,
} from '@lossless/brokers';
import { type Bus, connect, type Delivery, TELEMETRY_METRIC as METRIC, silentLogger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { kafka } from '@lossless/kafka';
import { rabbitmq } from '@lossless/rabbitmq';
import { rocketmq } from '@lossless/rocketmq';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSdk, useContextManager } from './otel-sdk.js';

let undo: () => void = () => {};
beforeAll(() => {
  undo = useContextManager();
});
afterAll(() => undo());

const suffix = `${process.pid}-${Date.now().toString(36)}`;
const fast = { initialDelayMs: 50, maxDelayMs: 100, factor: 2, jitter: 'none' as const };

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Message `heals` fails its first run and succeeds on the redelivery; message `poison` fails both of its
 * maxDeliveries (2) runs and is read back from the dead-letter destination. Checks every span and metric.
 */
async function oneTracePerMessage(system: string, driver: () => Driver): Promise<void> {
  const otel = testSdk();
  const bus: Bus = await connect(driver(), { logger: silentLogger, telemetry: otel.options });
  const topic = `otel-${suffix}`;
  try {
    await bus.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: 'warehouse', topic, maxDeliveries: 2, deadLetter: true }],
    });
    const healed = deferred();
    const deadLettered = deferred<Delivery>();
    const sub = await bus.subscribe(
      topic,
      'warehouse',
      (d) => {
        if (d.text() === 'poison' || d.attempt === 1) throw new RangeError(`attempt ${d.attempt} fails`);
        healed.resolve();
      },
      { redeliveryBackoff: fast },
    );
    const dlq = await bus.subscribe(topic, 'warehouse', (d) => deadLettered.resolve(d), {
      deadLetters: true,
    });
    const heals = await bus.publish(topic, { body: 'heals', key: 'a' });
    const poison = await bus.publish(topic, { body: 'poison', key: 'b' });
    await healed.promise;
    const dead = await deadLettered.promise;
    expect(dead.id).toBe(poison.id);
    await sub.close();
    await dlq.close();

    const publishes = otel.spans(`publish ${topic}`);
    const byId = (id: string) => publishes.find((s) => s.attributes['messaging.message.id'] === id);
    const runs = otel.spans(`process ${topic}`);
    for (const receipt of [heals, poison]) {
      const publish = byId(receipt.id);
      expect(publish?.kind).toBe(SpanKind.PRODUCER);
      expect(publish?.attributes['messaging.system']).toBe(system);
      const trace = publish?.spanContext().traceId;
      const own = runs.filter(
        (r) =>
          r.attributes['messaging.message.id'] === receipt.id &&
          r.attributes['messaging.destination.subscription.name'] === 'warehouse',
      );
      expect(own.every((r) => r.spanContext().traceId === trace)).toBe(true);
      expect(own.every((r) => r.kind === SpanKind.CONSUMER)).toBe(true);
      expect(own.every((r) => r.parentSpanContext?.spanId === publish?.spanContext().spanId)).toBe(true);
      const live = own.filter((r) => !r.attributes['lossless.subscription.dead_letters']);
      expect(live.map((r) => r.attributes['lossless.delivery.attempt']).sort()).toEqual([1, 2]);
      // The poison message read back from the dead-letter destination: still the same trace.
      expect(own.length - live.length).toBe(receipt === poison ? 1 : 0);
    }
    const [deadSpan] = otel.spans(`dead_letter ${topic}`);
    expect(deadSpan?.spanContext().traceId).toBe(byId(poison.id)?.spanContext().traceId);
    expect(deadSpan?.attributes['lossless.delivery.attempt']).toBe(2);
    const failedRuns = runs.filter((r) => r.status.code === SpanStatusCode.ERROR);
    expect(failedRuns.map((r) => r.attributes['error.type'])).toEqual([
      'RangeError',
      'RangeError',
      'RangeError',
    ]);

    const warehouse = { 'messaging.destination.subscription.name': 'warehouse' };
    expect(await otel.metric(METRIC.sent, { 'messaging.destination.name': topic })).toBe(2);
    expect(await otel.metric(METRIC.operationDuration, { 'messaging.operation.name': 'publish' })).toBe(2);
    // 2 + 2 live deliveries, 1 from the dead-letter destination (same subscription name).
    expect(await otel.metric(METRIC.consumed, warehouse)).toBe(5);
    expect(await otel.metric(METRIC.processDuration, { 'error.type': 'RangeError' })).toBe(3);
    expect(await otel.metric(METRIC.redeliveries)).toBe(2);
    expect(await otel.metric(METRIC.deadLetters)).toBe(1);
    expect(await otel.metric(METRIC.resends)).toBe(0);
  } finally {
    await bus.close();
  }
}

/**
 * `lossless.consume.lag` as the broker counts it: 5 messages published, the first held by the only handler →
 * RabbitMQ counts 4 ready (the held one is unacked), Kafka 5 (nothing committed yet); once all are handled, 0.
 */
async function lagAsTheBrokerCounts(driver: () => Driver): Promise<void> {
  const otel = testSdk();
  const bus: Bus = await connect(driver(), { logger: silentLogger, telemetry: otel.options });
  const topic = `otel-lag-${suffix}`;
  try {
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'lagging', topic }] });
    const first = deferred();
    const release = deferred();
    let handled = 0;
    const all = deferred();
    const sub = await bus.subscribe(
      topic,
      'lagging',
      async () => {
        first.resolve();
        await release.promise;
        if (++handled === 5) all.resolve();
      },
      { concurrency: 1, prefetch: 1 },
    );
    for (let i = 0; i < 5; i++) await bus.publish(topic, { body: `m${i}`, key: 'one' });
    await first.promise;
    const where = { 'messaging.destination.subscription.name': 'lagging' };
    const held = await otel.metric(METRIC.lag, where);
    expect(held).toBeGreaterThanOrEqual(4);
    expect(held).toBeLessThanOrEqual(5);
    release.resolve();
    await all.promise;
    // Kafka commits in the background: wait (bounded) until the broker counts nothing left.
    const deadline = Date.now() + 30_000;
    let left = await otel.metric(METRIC.lag, where);
    while (left !== 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      left = await otel.metric(METRIC.lag, where);
    }
    expect(left).toBe(0);
    await sub.close();
  } finally {
    await bus.close();
  }
}

describe('OpenTelemetry through real brokers', () => {
  it('RabbitMQ', { timeout: 180_000 }, async () => {
    const broker = createBroker('rabbitmq');
    await broker.up();
    const { urls } = broker.settings as RabbitMqSettings;
    await oneTracePerMessage('rabbitmq', () => rabbitmq({ urls, logger: silentLogger }));
    await lagAsTheBrokerCounts(() => rabbitmq({ urls, logger: silentLogger }));
  });

  it('Kafka', { timeout: 300_000 }, async () => {
    const broker = createBroker('kafka');
    await broker.up();
    const { brokers } = broker.settings as KafkaSettings;
    await oneTracePerMessage('kafka', () => kafka({ brokers, logger: silentLogger }));
    await lagAsTheBrokerCounts(() => kafka({ brokers, logger: silentLogger }));
  });

  it('RocketMQ', { timeout: 300_000 }, async () => {
    const broker = createBroker('rocketmq');
    await broker.up();
    const s = broker.settings as RocketMqSettings;
    await oneTracePerMessage('rocketmq', () =>
      rocketmq({ endpoints: s.endpoints, namesrv: s.namesrv, cluster: s.cluster, logger: silentLogger }),
    );
  });
});
