// guardTelemetry against a real RocketMQ 5.3.3 (the broker kit) with the kit's TCP fault proxy between the client
// and the gRPC proxy: a raw rocketmq-client-nodejs client, shut down, must neither crash the process when its
// connection drops afterwards nor keep reconnecting when its shutdown happened during an outage.
import { randomUUID } from 'node:crypto';
import { createFaultProxy, type FaultProxy, rocketmq as rocketmqBroker } from '@lossless/brokers';
import { Producer } from 'rocketmq-client-nodejs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { guardTelemetry } from './telemetry-guard.js';

const broker = rocketmqBroker();
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const proxies: FaultProxy[] = [];
let topic: string;

type Stream = ReturnType<Producer['createTelemetryStream']>;

/** A guarded producer through a new fault proxy, and every telemetry stream it opens. */
async function producerThroughProxy(): Promise<{ producer: Producer; proxy: FaultProxy; streams: Stream[] }> {
  const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: 18081 } });
  proxies.push(proxy);
  const producer = guardTelemetry(
    new Producer({
      endpoints: proxy.address,
      namespace: '',
      maxAttempts: 1,
      requestTimeout: 1_000,
      logger: quiet,
    }),
  );
  const streams: Stream[] = [];
  const create = producer.createTelemetryStream.bind(producer);
  producer.createTelemetryStream = (endpoints) => {
    const stream = create(endpoints);
    streams.push(stream);
    return stream;
  };
  await producer.startup();
  // The first send fetches the topic's route, which opens the telemetry stream to the route's endpoints.
  await producer.send({ topic, body: Buffer.from('x') });
  return { producer, proxy, streams };
}

/**
 * Resolves when the stream closed. Polls its state: a listener would be removed by the session's release()
 * (which removes every listener), and an 'error' listener would hide the very error the guard is about.
 */
async function closed(stream: Stream): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!stream.closed) {
    if (Date.now() > deadline) throw new Error('the telemetry stream did not close within 30 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
  await broker.up();
  topic = `telemetry-guard-${randomUUID().slice(0, 8)}`;
  await broker.admin.createTopic(topic, { messageType: 'NORMAL' });
  process.on('uncaughtException', onUncaught);
}, 600_000);

afterEach(async () => {
  await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
});

afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await broker.admin.deleteTopic(topic);
}, 60_000);

describe('guardTelemetry', () => {
  it('a client shut down cleanly does not throw when its connection drops afterwards', async () => {
    const { producer, proxy, streams } = await producerThroughProxy();
    expect(streams.length).toBeGreaterThan(0);
    // Shutdown ends the telemetry stream and drops its listeners; the proxy's answer to the end is still coming.
    proxy.latency(200);
    await producer.shutdown();
    proxy.reset();
    await Promise.all(streams.map(closed));
    expect(uncaught).toEqual([]);
  }, 60_000);

  it('a client shut down during an outage does not reconnect', async () => {
    const { producer, proxy, streams } = await producerThroughProxy();
    proxy.cut();
    // The goodbye to the proxy cannot arrive: shutdown fails and the library never releases the stream.
    await producer.shutdown().catch(() => undefined);
    proxy.reset();
    proxy.restore();
    await Promise.all(streams.map(closed));
    const accepted = proxy.stats().accepted;
    // Unguarded, the session opens a new stream 1 s after the error, over a new connection (nothing signals
    // "no reconnect" but time: watch well past that).
    await new Promise((r) => setTimeout(r, 4_000));
    expect(proxy.stats().accepted).toBe(accepted);
    expect(uncaught).toEqual([]);
  }, 60_000);
});
