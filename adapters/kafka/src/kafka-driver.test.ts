// Integration tests of the Kafka driver against the kit's real single KRaft node (127.0.0.1:19092), through
// `connect(kafka(...))` of @lossless/core. Every test uses its own topic names. Messages are counted exactly by
// id: lost = confirmed − received must be 0. Waits are for events (a delivery, a count), never sleeps.
import { kafka as kafkaBroker } from '@lossless/brokers';
import {
  type Bus,
  type ConnectOptions,
  connect,
  type Delivery,
  ReservedHeader,
  silentLogger,
} from '@lossless/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaDriver, kafka } from './kafka-driver.js';
import { KafkaHeader } from './message-mapping.js';
import type { KafkaDriverOptions } from './options.js';

const broker = kafkaBroker();
const brokers = broker.settings.brokers;
const buses: Bus[] = [];

let counter = 0;
function unique(what: string): string {
  counter += 1;
  return `${what}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

async function open(
  extra: Partial<KafkaDriverOptions> = {},
  options: ConnectOptions = {},
): Promise<{ bus: Bus; driver: KafkaDriver }> {
  const driver = kafka({
    brokers,
    logger: silentLogger,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    ...extra,
  });
  const bus = await connect(driver, { logger: silentLogger, ...options });
  buses.push(bus);
  return { bus, driver };
}

/** Resolves when `check` holds, re-checked whenever `poke` is called; rejects after `ms`. */
function waitFor(check: () => boolean, ms: number, what: string): { done: Promise<void>; poke: () => void } {
  let poke = () => {};
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    poke = () => {
      if (check()) {
        clearTimeout(timer);
        resolve();
      }
    };
  });
  poke();
  return { done, poke };
}

/** Counts deliveries by id. */
class Tally {
  readonly received = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  add(id: string): void {
    this.received.set(id, (this.received.get(id) ?? 0) + 1);
    for (const w of this.waiters) w();
  }
  until(ids: Iterable<string>, ms = 60_000): Promise<void> {
    const want = [...ids];
    const w = waitFor(() => want.every((id) => this.received.has(id)), ms, `${want.length} ids`);
    this.waiters.add(w.poke);
    return w.done.finally(() => this.waiters.delete(w.poke));
  }
  atLeast(n: number, ms = 60_000): Promise<void> {
    const w = waitFor(() => this.received.size >= n, ms, `${n} distinct ids`);
    this.waiters.add(w.poke);
    return w.done.finally(() => this.waiters.delete(w.poke));
  }
  lost(confirmed: Iterable<string>): string[] {
    return [...confirmed].filter((id) => !this.received.has(id));
  }
}

beforeAll(async () => {
  await broker.up();
});

afterAll(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
});

describe('kafka driver: publish and topology', () => {
  it('round-trips binary bodies, unicode headers, id, key and timestamp', async () => {
    const { bus } = await open();
    const topic = unique('rt');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
    const binary = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const timestamp = Date.UTC(2020, 1, 2, 3, 4, 5, 6); // far in the past: travels as a header
    const a = await bus.publish(topic, {
      id: unique('id'),
      key: 'kunde-ü-1',
      body: binary,
      headers: { type: 'OrderPaid', 'ünï-name': 'välüe ✓ 世界', empty: '' },
      timestamp,
    });
    expect(a.details).toMatchObject({ partition: expect.any(Number), offset: expect.any(String) });
    const b = await bus.publish(topic, { body: '' });
    const got = new Map<string, Delivery>();
    const all = waitFor(() => got.size === 2, 30_000, 'two deliveries');
    await bus.subscribe(topic, 's', (d) => {
      got.set(d.id, d);
      all.poke();
    });
    await all.done;
    const da = got.get(a.id)!;
    expect(Buffer.from(da.body).equals(Buffer.from(binary))).toBe(true);
    expect(da.key).toBe('kunde-ü-1');
    expect(da.timestamp).toBe(timestamp);
    expect(da.headers).toEqual({ type: 'OrderPaid', 'ünï-name': 'välüe ✓ 世界', empty: '' });
    expect(da.attempt).toBe(1);
    const db = got.get(b.id)!;
    expect(db.body.byteLength).toBe(0);
    expect(db.key).toBeUndefined();
    expect(Math.abs(db.timestamp - Date.now())).toBeLessThan(60_000);
  });

  it('rejects a publish to an undeclared topic with NOT_FOUND (no auto-creation)', async () => {
    const { bus } = await open();
    await expect(bus.publish(unique('nowhere'), { body: 'x' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      retriable: false,
    });
  });

  it('re-declares idempotently and answers CONFLICT for fewer or more partitions', async () => {
    const { bus } = await open();
    const { bus: other } = await open();
    const topic = unique('conflict');
    const topology = { topics: [{ name: topic, partitions: 2 }], subscriptions: [{ name: 's', topic }] };
    await Promise.all([bus.declare(topology), other.declare(topology), bus.declare(topology)]);
    await bus.declare({ topics: [{ name: topic }] }); // unspecified partitions: whatever exists is fine
    await expect(bus.declare({ topics: [{ name: topic, partitions: 3 }] })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(bus.declare({ topics: [{ name: topic, partitions: 1 }] })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(bus.declare({ topics: [{ name: topic, replicas: 2 }] })).rejects.toMatchObject({
      code: expect.stringMatching(/CONFLICT/),
    });
    // The bus keeps working after the conflicts.
    await bus.publish(topic, { body: 'still fine' });
  });

  it('keeps messages published after the declaration for a subscription no consumer ever ran (T2)', async () => {
    const { bus } = await open();
    const topic = unique('t2');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'late', topic }] });
    const confirmed: string[] = [];
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        confirmed.push((await bus.publish(topic, { body: `m${i}` })).id);
      }),
    );
    const { bus: consumer } = await open();
    const tally = new Tally();
    await consumer.subscribe(topic, 'late', (d) => tally.add(d.id));
    await tally.until(confirmed);
    expect(tally.lost(confirmed)).toEqual([]);
    expect([...tally.received.values()].every((n) => n === 1)).toBe(true);
  });

  it('rejects subscribing to an undeclared subscription with NOT_FOUND', async () => {
    const { bus } = await open();
    const topic = unique('nosub');
    await bus.declare({ topics: [{ name: topic }] });
    await expect(bus.subscribe(topic, 'never-declared', () => {})).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('kafka driver: redelivery and dead letters', () => {
  it('redelivers a message whose handler threw, with attempt + 1 and the same data', async () => {
    const { bus } = await open();
    const topic = unique('retry');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic, maxDeliveries: 5 }] });
    const receipt = await bus.publish(topic, { body: 'again', key: 'k', headers: { h: 'ü' } });
    const seen: Delivery[] = [];
    const two = waitFor(() => seen.length >= 2, 30_000, 'a redelivery');
    await bus.subscribe(
      topic,
      's',
      (d) => {
        seen.push(d);
        two.poke();
        if (seen.length === 1) throw new Error('first attempt fails');
      },
      { redeliveryBackoff: { initialDelayMs: 10, maxDelayMs: 10, jitter: 'none' } },
    );
    await two.done;
    expect(seen.map((d) => d.attempt)).toEqual([1, 2]);
    expect(seen[1]!.id).toBe(receipt.id);
    expect(seen[1]!.key).toBe('k');
    expect(seen[1]!.text()).toBe('again');
    expect(seen[1]!.headers).toEqual({ h: 'ü' });
  });

  it('moves a message to the dead-letter topic after maxDeliveries, with its data and bookkeeping', async () => {
    const { bus } = await open();
    const topic = unique('dlq');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic, maxDeliveries: 3 }] });
    const poison = await bus.publish(topic, { body: 'poison', key: 'p', headers: { type: 'Bad' } });
    let calls = 0;
    await bus.subscribe(
      topic,
      's',
      (d) => {
        calls++;
        throw new Error(`cannot (${d.attempt})`);
      },
      { redeliveryBackoff: { initialDelayMs: 10, maxDelayMs: 10, jitter: 'none' } },
    );
    let dead: Delivery | undefined;
    const arrived = waitFor(() => dead !== undefined, 45_000, 'the dead letter');
    await bus.subscribe(
      topic,
      's',
      (d) => {
        dead = d;
        arrived.poke();
      },
      { deadLetters: true },
    );
    await arrived.done;
    expect(calls).toBe(3);
    expect(dead!.id).toBe(poison.id);
    expect(dead!.text()).toBe('poison');
    expect(dead!.key).toBe('p');
    expect(dead!.attempt).toBe(1);
    expect(dead!.headers).toMatchObject({
      type: 'Bad',
      [ReservedHeader.ATTEMPT]: '3',
      [ReservedHeader.LAST_ERROR]: 'cannot (3)',
      [ReservedHeader.DEAD_LETTER_REASON]: 'max-deliveries',
      [ReservedHeader.ORIGINAL_TOPIC]: topic,
      [KafkaHeader.ORIGINAL_PARTITION]: expect.any(String),
      [KafkaHeader.ORIGINAL_OFFSET]: expect.stringContaining('@'),
    });
  });
});

describe('kafka driver: commits, rebalances and crashes', () => {
  it('commits only the settled watermark: after a crash the slow message and everything after it return', async () => {
    const { bus } = await open();
    const topic = unique('watermark');
    // One partition makes the watermark a single number: everything below the slow message is committed.
    await bus.declare({ topics: [{ name: topic, partitions: 1 }], subscriptions: [{ name: 's', topic }] });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push((await bus.publish(topic, { body: `m${i}` })).id);
    const slow = ids[10]!;
    const handled = new Set<string>();
    const { bus: doomed, driver: doomedDriver } = await open();
    const rest = waitFor(() => handled.size === ids.length - 1, 30_000, 'every fast message handled');
    await doomed.subscribe(
      topic,
      's',
      async (d) => {
        if (d.id === slow) await new Promise(() => {}); // never finishes: the consumer dies holding it
        handled.add(d.id);
        rest.poke();
      },
      { concurrency: 8, shutdownTimeoutMs: 100 },
    );
    await rest.done;
    await doomedDriver.close(); // the consumer dies under core (as the conformance suite's crash)
    const sentinel = (await bus.publish(topic, { body: 'sentinel' })).id;
    const { bus: next } = await open();
    const again: string[] = [];
    const arrived = waitFor(() => again.includes(sentinel), 30_000, 'the sentinel');
    await next.subscribe(
      topic,
      's',
      (d) => {
        again.push(d.id);
        arrived.poke();
      },
      { concurrency: 1 },
    );
    await arrived.done;
    // Redelivered from the slow one on (the fast ones after it as duplicates), nothing before it, nothing lost.
    expect(again).toEqual([...ids.slice(10), sentinel]);
  });

  it('loses nothing while consumers join and leave during publishing (rebalances)', async () => {
    const { bus: producer } = await open();
    const topic = unique('rebalance');
    await producer.declare({
      topics: [{ name: topic, partitions: 6 }],
      subscriptions: [{ name: 's', topic }],
    });
    const tally = new Tally();
    const confirmed = new Set<string>();
    const at = (n: number) => tally.atLeast(n);
    let next = 0;
    const publishing = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < 2_000) {
          const i = next++;
          const r = await producer.publish(topic, { key: `k${i % 37}`, body: String(i) });
          confirmed.add(r.id);
        }
      }),
    );
    const consumer = async () => {
      const opened = await open();
      const sub = await opened.bus.subscribe(topic, 's', async (d) => {
        await new Promise((r) => setImmediate(r));
        tally.add(d.id);
      });
      return { ...opened, sub };
    };
    const a = await consumer();
    await at(300);
    const b = await consumer();
    await at(900);
    await a.sub.close(); // leaves gracefully
    const c = await consumer();
    await at(1_300);
    await b.driver.close(); // leaves abruptly
    await publishing;
    // Messages only c is left to take: b may have drained the first 2,000 before c's partitions came.
    for (let i = 0; i < 200; i++) {
      const r = await producer.publish(topic, { key: `k${i % 37}`, body: `tail ${i}` });
      confirmed.add(r.id);
    }
    await tally.until(confirmed, 90_000);
    expect(tally.lost(confirmed)).toEqual([]);
    expect(c.sub.stats.acked).toBeGreaterThan(0);
  }, 240_000);

  it('drains unsettled deliveries before giving up partitions when a consumer joins a busy group', async () => {
    const { bus } = await open();
    const topic = unique('drain');
    await bus.declare({ topics: [{ name: topic, partitions: 4 }], subscriptions: [{ name: 's', topic }] });
    const confirmed: string[] = [];
    await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        confirmed.push((await bus.publish(topic, { key: `k${i % 8}`, body: String(i) })).id);
      }),
    );
    const tally = new Tally();
    // Slow handlers and a small prefetch: the first consumer's batches wait for room, heartbeating, which is
    // where the driver sees the rebalance first and can drain and commit before the partitions move.
    const slow = async (d: Delivery) => {
      await new Promise((r) => setTimeout(r, 40));
      tally.add(d.id);
    };
    const lines: string[] = [];
    const recording = { ...silentLogger, debug: (m: string) => void lines.push(m) };
    const { bus: first } = await open({ logger: recording });
    await first.subscribe(topic, 's', slow, { concurrency: 2, prefetch: 2 });
    await tally.atLeast(10);
    const { bus: second } = await open();
    const joined = await second.subscribe(topic, 's', slow, { concurrency: 2, prefetch: 2 });
    await tally.until(confirmed, 90_000);
    expect(tally.lost(confirmed)).toEqual([]);
    const duplicates = [...tally.received.values()].reduce((n, c) => n + c - 1, 0);
    // Only deliveries still unsettled when the drain ran out could come twice; 40 ms handlers settle in time.
    expect(duplicates).toBeLessThanOrEqual(2);
    expect(joined.stats.acked).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('is rebalancing: draining'))).toBe(true);
  }, 180_000);

  it('delivers every confirmed publish after the broker is SIGKILLed and restarted mid-stream', async () => {
    const { bus } = await open({}, { publish: { confirmTimeoutMs: 90_000 } });
    const topic = unique('sigkill');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
    const confirmed = new Set<string>();
    const rejected = new Map<string, string>();
    let killed: Promise<void> | undefined;
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 1_500) {
          const id = `${topic}-${next++}`;
          try {
            await bus.publish(topic, { id, body: id });
            confirmed.add(id);
            if (confirmed.size === 300) killed = broker.kill().then(() => broker.restart());
          } catch (error) {
            rejected.set(id, (error as { code?: string }).code ?? 'untyped');
          }
        }
      }),
    );
    await killed;
    expect(confirmed.size + rejected.size).toBe(1_500);
    expect([...rejected.values()].every((c) => c !== 'untyped')).toBe(true);
    const { bus: consumer } = await open({}, { connectTimeoutMs: 60_000 });
    const tally = new Tally();
    await consumer.subscribe(topic, 's', (d) => tally.add(d.id));
    await tally.until(confirmed, 90_000);
    expect(tally.lost(confirmed)).toEqual([]);
  }, 240_000);
});
