// Runs a real RocketMQ (name server, broker and cluster-mode proxy JVMs from Maven Central jars) and drives it
// with the raw rocketmq-client-nodejs gRPC client: a smoke round trip, a route through another port (a fault
// proxy) that names that port, and a message acknowledged with SEND_OK surviving a SIGKILL of the broker. The
// first run downloads ~90 MB of jars, hence the generous hook timeouts.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MessageView } from 'rocketmq-client-nodejs';
import { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultProxy } from './fault-proxy.js';
import { rocketmq } from './rocketmq.js';

const broker = rocketmq();
const { endpoints } = broker.settings;
const clients: { shutdown(): Promise<void> }[] = [];

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

async function startProducer(through = endpoints): Promise<Producer> {
  const producer = new Producer({ endpoints: through, namespace: '', maxAttempts: 3 });
  await producer.startup();
  clients.push(producer);
  return producer;
}

/**
 * Starts a SimpleConsumer, retrying for up to a minute: right after a broker restart, grpc-js may still be backing
 * off its reconnect to the proxy (channels to one target share a subchannel), so startup can fail with gRPC code 14
 * "No connection established" although the proxy already answers.
 */
async function startConsumer(group: string, topic: string): Promise<SimpleConsumer> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const consumer = new SimpleConsumer({
      endpoints,
      namespace: '',
      consumerGroup: group,
      subscriptions: new Map([[topic, '*']]),
      awaitDuration: 5_000,
    });
    try {
      await consumer.startup();
      clients.push(consumer);
      return consumer;
    } catch (e) {
      await consumer.shutdown().catch(() => undefined);
      if (Date.now() > deadline) throw e;
    }
  }
}

/** Receives until a message with the id arrives (acking nothing else) or the deadline passes. */
async function receiveById(
  consumer: SimpleConsumer,
  messageId: string,
  timeoutMs: number,
): Promise<MessageView> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const views = await consumer.receive(16, 15_000);
      const found = views.find((v) => v.messageId === messageId);
      if (found) return found;
    } catch (e) {
      // Right after a broker restart the client may still hold a dead connection: keep polling.
      lastError = e;
    }
  }
  throw new Error(
    `message ${messageId} not received within ${timeoutMs} ms (last error: ${String(lastError)})`,
  );
}

beforeAll(async () => {
  // Two concurrent calls share one start.
  await Promise.all([broker.up(), broker.up()]);
}, 600_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.shutdown()));
  await broker.down();
  const status = await broker.status();
  expect(status.nodes.every((n) => !n.running)).toBe(true);
}, 180_000);

describe('rocketmq fixture', () => {
  it('refuses other node counts and a secured replicated group', () => {
    expect(() => rocketmq({ nodes: 2 as never })).toThrow(/nodes must be 1/);
    expect(() => rocketmq({ nodes: 3, secure: true })).toThrow(/single broker/);
  });

  it('describes the replicated group: five nodes, settings naming three replicas', () => {
    const group = rocketmq({ nodes: 3 });
    expect(group.cluster).toMatch(/-n3$/);
    expect(group.nodes.map((n) => n.name)).toEqual(['broker-0', 'broker-1', 'broker-2', 'namesrv', 'proxy']);
    expect(group.settings).toMatchObject({
      endpoints: '127.0.0.1:18181',
      namesrv: '127.0.0.1:19886',
      replicas: 3,
    });
  });

  it('reports the three nodes running with their ports', async () => {
    const status = await broker.status();
    expect(status.kind).toBe('rocketmq');
    expect(status.nodes.map((n) => [n.name, n.running])).toEqual([
      ['broker', true],
      ['namesrv', true],
      ['proxy', true],
    ]);
    expect(status.nodes[0]?.ports.broker).toBe(20911);
    expect(status.nodes[2]?.ports.grpc).toBe(18081);
    expect(broker.settings).toMatchObject({ endpoints: '127.0.0.1:18081', namesrv: '127.0.0.1:19876' });
  });

  it('creates and deletes topics through the admin', async () => {
    const topic = unique('admin');
    expect(await broker.admin.topicExists(topic)).toBe(false);
    await broker.admin.createTopic(topic, { messageType: 'FIFO', queues: 2 });
    expect(await broker.admin.topicExists(topic)).toBe(true);
    await broker.admin.deleteTopic(topic);
    expect(await broker.admin.topicExists(topic)).toBe(false);
  }, 60_000);

  it('sends, receives and acks a message', async () => {
    const topic = unique('smoke');
    const group = unique('smoke-group');
    await broker.admin.createTopic(topic, { messageType: 'NORMAL' });
    await broker.admin.createGroup(group, { retryMaxTimes: 3 });
    const consumer = await startConsumer(group, topic);
    const producer = await startProducer();

    const receipt = await producer.send({ topic, body: Buffer.from('hello'), keys: ['k1'], tag: 'smoke' });
    expect(receipt.messageId).toMatch(/\w+/);

    const view = await receiveById(consumer, receipt.messageId, 60_000);
    expect(view.body.toString()).toBe('hello');
    expect(view.tag).toBe('smoke');
    await consumer.ack(view);
  }, 120_000);

  it('routes a client that dialled another port (a fault proxy) back to that port', async () => {
    const topic = unique('routed');
    await broker.admin.createTopic(topic, { messageType: 'NORMAL' });
    const proxy = await createFaultProxy({ target: { host: '127.0.0.1', port: 18081 } });
    try {
      const producer = await startProducer(proxy.address);
      // getRouteData is protected: the route the client will use for sends, receives and acks.
      const route = await (
        producer as unknown as {
          getRouteData(t: string): Promise<{ getTotalEndpoints(): { facade: string }[] }>;
        }
      ).getRouteData(topic);
      expect(route.getTotalEndpoints().map((e) => e.facade)).toEqual([proxy.address]);
      await producer.send({ topic, body: Buffer.from('through the fault proxy') });
      expect(proxy.stats().accepted).toBe(1);
      clients.splice(clients.indexOf(producer), 1);
      await producer.shutdown();
      // rocketmq-client-nodejs drops its telemetry stream's error listener at shutdown: a connection cut before
      // the stream completed would throw an uncaught "Connection dropped". Close the proxy once the client has.
      const deadline = Date.now() + 30_000;
      while (proxy.stats().connections > 0 && Date.now() < deadline) await sleep(20);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('kills and restarts one JVM by index, leaving the others running', async () => {
    await broker.kill(0);
    expect((await broker.status()).nodes.map((n) => n.running)).toEqual([false, true, true]);
    await broker.restart(0);
    expect((await broker.status()).nodes.map((n) => n.running)).toEqual([true, true, true]);
    // Ready means routed again: a topic created now is routed by the proxy (createTopic waits for that).
    await broker.admin.createTopic(unique('after-restart'), { messageType: 'NORMAL' });
  }, 120_000);

  it('keeps a message acknowledged with SEND_OK across a SIGKILL of the broker', async () => {
    const topic = unique('durable');
    const group = unique('durable-group');
    await broker.admin.createTopic(topic, { messageType: 'NORMAL' });
    await broker.admin.createGroup(group);
    const producer = await startProducer();
    const receipt = await producer.send({ topic, body: Buffer.from('survives') });

    // Without an index: the broker as its clients see it, the storage broker and the proxy in front of it.
    await broker.kill();
    expect(await broker.nodes[0]?.isRunning()).toBe(false);
    expect(await broker.nodes[2]?.isRunning()).toBe(false);
    expect(await broker.nodes[1]?.isRunning()).toBe(true);
    await broker.restart();
    expect(await broker.nodes[0]?.isRunning()).toBe(true);
    expect(await broker.nodes[2]?.isRunning()).toBe(true);

    const consumer = await startConsumer(group, topic);
    const view = await receiveById(consumer, receipt.messageId, 90_000);
    expect(view.body.toString()).toBe('survives');
    await consumer.ack(view);
  }, 300_000);
});
