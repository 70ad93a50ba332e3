// The RocketMQ driver against a real RocketMQ 5.3.3 (name server, broker, proxy JVMs started by the broker kit),
// through the portable API: what a user publishes arrives intact, topology errors are typed, a subscription keeps
// what was published after it was declared, failures are redelivered and dead-lettered with their history, a
// long handler keeps its message, and a SIGKILL of the broker loses no confirmed message. Messages are counted
// exactly by id.
import { randomUUID } from 'node:crypto';
import { rocketmq as rocketmqBroker } from '@lossless/brokers';
import {
  type Bus,
  connect,
  type Delivery,
  isLosslessError,
  type LosslessError,
  silentLogger,
} from '@lossless/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { consumerGroupName, type RocketMqDriver, type RocketMqDriverOptions, rocketmq } from './index.js';

const broker = rocketmqBroker();
const buses: Bus[] = [];

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function driverOptions(extra: Partial<RocketMqDriverOptions> = {}): RocketMqDriverOptions {
  const { endpoints, namesrv, cluster } = broker.settings;
  return { endpoints, namesrv, cluster, logger: silentLogger, ...extra };
}

async function open(extra: Partial<RocketMqDriverOptions> = {}): Promise<Bus> {
  const bus = await connect(rocketmq(driverOptions(extra)), { logger: silentLogger });
  buses.push(bus);
  return bus;
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function rejection(promise: Promise<unknown>): Promise<LosslessError> {
  try {
    await promise;
  } catch (error) {
    if (isLosslessError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection, but it resolved');
}

beforeAll(async () => {
  await broker.up();
}, 600_000);

afterEach(async () => {
  await Promise.allSettled(buses.splice(0).map((b) => b.close()));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
});

describe('rocketmq driver', () => {
  it('round-trips a binary body, an empty body, unicode headers, id, key and timestamp', async () => {
    const bus = await open();
    const topic = unique('roundtrip');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'sub', topic }] });
    const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
    const headers = { type: 'OrderPaid', 'ünïcödé-name': 'välüe ✓ 世界', empty: '', 'Case-Sensitive': 'Yes' };
    const timestamp = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
    const id = unique('id');
    const receipt = await bus.publish(topic, { id, key: 'customer-ü-7', headers, timestamp, body: binary });
    expect(receipt.status).toBe('confirmed');
    expect(receipt.details?.messageId).toMatch(/\w+/);
    const empty = await bus.publish(topic, { body: new Uint8Array(0) });

    const got = new Map<string, Delivery>();
    await bus.subscribe(topic, 'sub', (d) => void got.set(d.id, d));
    await until('both messages delivered', () => got.size === 2);
    const d = got.get(id)!;
    expect(Buffer.from(d.body)).toEqual(Buffer.from(binary));
    expect(d.key).toBe('customer-ü-7');
    expect(d.timestamp).toBe(timestamp);
    expect(d.headers).toEqual(headers);
    expect(d.attempt).toBe(1);
    expect(got.get(empty.id)?.body.byteLength).toBe(0);
  });

  it('rejects a publish to an undeclared topic with NOT_FOUND', async () => {
    const bus = await open();
    const error = await rejection(bus.publish(unique('nowhere'), { body: 'x' }));
    expect(error.code).toBe('NOT_FOUND');
    expect(error.retriable).toBe(false);
  });

  it('re-declares identically without change and rejects a conflicting declaration with CONFLICT', async () => {
    const bus = await open();
    const topic = unique('conflict');
    const topology = {
      topics: [{ name: topic, partitions: 2 }],
      subscriptions: [{ name: 'sub', topic, maxDeliveries: 3 }],
    };
    await bus.declare(topology);
    await Promise.all([bus.declare(topology), bus.declare(topology)]);
    expect((await rejection(bus.declare({ topics: [{ name: topic, partitions: 3 }] }))).code).toBe(
      'CONFLICT',
    );
    expect((await rejection(bus.declare({ topics: [{ name: topic, ordering: 'key' }] }))).code).toBe(
      'CONFLICT',
    );
    const other = await rejection(
      bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'sub', topic, maxDeliveries: 5 }] }),
    );
    expect(other.code).toBe('CONFLICT');
    const admin = (bus.driver as RocketMqDriver).admin;
    expect(await admin.topicInfo(topic)).toMatchObject({ queues: 2, messageType: 'NORMAL' });
    expect(await admin.groupInfo(consumerGroupName(topic, 'sub'))).toMatchObject({ retryMaxTimes: 3 });
  });

  it('keeps what was published after declare and before any consumer, even on a topic with history', async () => {
    const bus = await open();
    const topic = unique('retain');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'early', topic }] });
    // History the new subscription must not see, and that makes the queues "old" (offsets > 0).
    const history = await Promise.all(
      Array.from({ length: 40 }, (_, i) => bus.publish(topic, { body: `h${i}` })),
    );
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'late', topic }] });
    const confirmed = new Set<string>();
    for (const r of await Promise.all(
      Array.from({ length: 60 }, (_, i) => bus.publish(topic, { body: `m${i}` })),
    )) {
      confirmed.add(r.id);
    }
    const consumer = await open();
    const received = new Map<string, number>();
    await consumer.subscribe(topic, 'late', (d) => void received.set(d.id, (received.get(d.id) ?? 0) + 1));
    await until('every message published after declare', () =>
      [...confirmed].every((id) => received.has(id)),
    );
    const lost = [...confirmed].filter((id) => !received.has(id));
    const phantom = [...received.keys()].filter((id) => !confirmed.has(id));
    expect(lost).toEqual([]);
    expect(phantom.filter((id) => history.some((h) => h.id === id))).toEqual([]);
    expect(phantom).toEqual([]);
  });

  it('redelivers a message whose handler threw, with attempt + 1', async () => {
    const bus = await open();
    const topic = unique('redeliver');
    await bus.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: 'sub', topic, maxDeliveries: 5 }],
    });
    const { id } = await bus.publish(topic, { body: 'fails once', headers: { h: 'v' } });
    const seen: Delivery[] = [];
    await bus.subscribe(
      topic,
      'sub',
      (d) => {
        seen.push(d);
        if (d.attempt === 1) throw new Error('first try fails');
      },
      { onError: () => undefined },
    );
    await until('the redelivery', () => seen.length >= 2);
    expect(seen.map((d) => [d.id, d.attempt])).toEqual([
      [id, 1],
      [id, 2],
    ]);
    expect(seen[1]?.headers).toEqual({ h: 'v' });
    expect(seen[1]?.text()).toBe('fails once');
  });

  it('dead-letters a message after maxDeliveries, with its body, headers, attempt and last error', async () => {
    const bus = await open();
    const topic = unique('dlq');
    await bus.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: 'sub', topic, maxDeliveries: 2 }],
    });
    const { id } = await bus.publish(topic, { body: 'poison', key: 'k1', headers: { type: 'Poison' } });
    const attempts: number[] = [];
    const sub = await bus.subscribe(
      topic,
      'sub',
      (d) => {
        attempts.push(d.attempt);
        throw new Error(`boom ${d.attempt}`);
      },
      { onError: () => undefined },
    );
    await until('dead-lettered', () => sub.stats.deadLettered === 1);
    expect(attempts).toEqual([1, 2]);
    const dead: Delivery[] = [];
    await bus.subscribe(topic, 'sub', (d) => void dead.push(d), { deadLetters: true });
    await until('the dead letter read back', () => dead.length === 1);
    const d = dead[0]!;
    expect(d.id).toBe(id);
    expect(d.key).toBe('k1');
    expect(d.text()).toBe('poison');
    expect(d.headers).toMatchObject({
      type: 'Poison',
      'x-lossless-attempt': '2',
      'x-lossless-last-error': 'boom 2',
      'x-lossless-dead-letter-reason': 'max-deliveries',
      'x-lossless-original-topic': topic,
    });
    // The original is gone from the live subscription.
    expect(attempts).toEqual([1, 2]);
  });

  it('keeps a message from other consumers while a handler runs longer than the invisible duration', async () => {
    const options = { invisibleDurationMs: 10_000 };
    const bus = await open(options);
    const topic = unique('lease');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'sub', topic }] });
    const { id } = await bus.publish(topic, { body: 'slow' });
    const deliveries: string[] = [];
    let finished = false;
    const handler = async (d: Delivery) => {
      deliveries.push(d.id);
      await new Promise((r) => setTimeout(r, 25_000));
      finished = true;
    };
    const sub = await bus.subscribe(topic, 'sub', handler);
    // A competing consumer on another connection would get the message if its lease lapsed.
    const other = await open(options);
    await other.subscribe(topic, 'sub', handler);
    await until('the slow handler finished', () => finished, 60_000);
    await until('the ack', () => sub.stats.acked === 1);
    expect(deliveries).toEqual([id]);
  }, 120_000);

  it('orders messages of one key on a FIFO topic', async () => {
    const bus = await open();
    const topic = unique('fifo');
    await bus.declare({
      topics: [{ name: topic, partitions: 4, ordering: 'key' }],
      subscriptions: [{ name: 'sub', topic }],
    });
    const keys = ['a', 'b', 'c'];
    await Promise.all(
      Array.from({ length: 150 }, (_, i) => bus.publish(topic, { key: keys[i % 3]!, body: String(i) })),
    );
    const seen = new Map<string, number[]>();
    let count = 0;
    await bus.subscribe(
      topic,
      'sub',
      (d) => {
        count++;
        seen.set(d.key!, [...(seen.get(d.key!) ?? []), Number(d.text())]);
      },
      { concurrency: 8, ordering: 'key' },
    );
    await until('all 150 delivered', () => count >= 150);
    for (const k of keys) {
      const seq = seen.get(k) ?? [];
      expect(seq).toEqual([...seq].sort((x, y) => x - y));
      expect(seq.length).toBe(50);
    }
  });

  it('loses no confirmed message when the broker is SIGKILLed and restarted, and resumes by itself', async () => {
    const bus = await open();
    const topic = unique('crash');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'sub', topic }] });
    const received = new Set<string>();
    await bus.subscribe(topic, 'sub', (d) => void received.add(d.id), { concurrency: 16 });
    const confirmed = new Set<string>();
    const rejected = new Map<string, string>();
    let publishing = true;
    const publisher = (async () => {
      let i = 0;
      while (publishing) {
        const batch = Array.from({ length: 20 }, () => `${topic}-${i++}`);
        await Promise.all(
          batch.map((id) =>
            bus.publish(topic, { id, body: id }).then(
              () => void confirmed.add(id),
              (e: LosslessError) => void rejected.set(id, e.code),
            ),
          ),
        );
      }
    })();
    await until('some confirmed before the crash', () => confirmed.size >= 100);
    await broker.kill();
    const beforeRestart = confirmed.size;
    await broker.restart();
    await until('publishing resumed after the restart', () => confirmed.size >= beforeRestart + 100, 180_000);
    publishing = false;
    await publisher;
    expect(rejected.size + confirmed.size).toBeGreaterThan(0);
    for (const code of rejected.values())
      expect(['UNAVAILABLE', 'CONFIRM_TIMEOUT', 'NACKED']).toContain(code);
    await until(
      'every confirmed message consumed after the restart',
      () => [...confirmed].every((id) => received.has(id)),
      180_000,
    );
    const lost = [...confirmed].filter((id) => !received.has(id));
    expect(lost).toEqual([]);
    await until('health back to connected', () => bus.health().state === 'connected', 60_000);
  }, 420_000);

  it('waits through a restart of the storage broker behind a running proxy: publishes confirm, none NOT_FOUND', async () => {
    // The broker unregisters from the name server; the proxy then answers TOPIC_NOT_FOUND for the topic, and
    // keeps answering it from its route cache for a while after the broker is back. A publish in that window
    // must wait (within its confirm deadline) instead of failing as if the topic had never been declared.
    const bus = await open();
    const topic = unique('restart-behind-proxy');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'sub', topic }] });
    const received = new Set<string>();
    await bus.subscribe(topic, 'sub', (d) => void received.add(d.id), { concurrency: 16 });
    const confirmed = new Set<string>();
    const rejected = new Map<string, LosslessError>();
    const publishOne = (id: string) =>
      bus.publish(topic, { id, body: id }).then(
        () => void confirmed.add(id),
        (e: LosslessError) => void rejected.set(id, e),
      );
    await Promise.all(Array.from({ length: 50 }, (_, i) => publishOne(`${topic}-before-${i}`)));
    expect(confirmed.size).toBe(50);

    await broker.restart(0); // graceful stop + start of the broker JVM only; name server and proxy keep running
    // Sent right after the broker is back, while the proxy still routes the topic to nowhere.
    await Promise.all(Array.from({ length: 50 }, (_, i) => publishOne(`${topic}-after-${i}`)));
    const codes = [...rejected.values()].map((e) => `${e.code}: ${e.message}`);
    expect(codes).toEqual([]);
    expect(confirmed.size).toBe(100);
    await until('every confirmed message consumed after the restart', () => received.size === 100, 180_000);
    expect([...confirmed].filter((id) => !received.has(id))).toEqual([]);
  }, 420_000);
});
