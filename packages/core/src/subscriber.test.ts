// Subscriptions on the in-memory driver: ack after the handler, redelivery (attempt + 1), dead letters after
// maxDeliveries, concurrency and per-key ordering, a second ack harmless, close draining handlers up to its
// deadline, competing consumers, NOT_FOUND for an undeclared subscription.
import { describe, expect, it } from 'vitest';
import { connect } from './bus.js';
import { silentLogger } from './logger.js';
import { MemoryBroker, memoryDriver } from './memory/memory-driver.js';
import { ReservedHeader } from './message.js';
import type { Delivery } from './subscriber.js';

const fast = { initialDelayMs: 1, maxDelayMs: 5, factor: 2, jitter: 'none' as const };

async function setup(maxDeliveries = 5) {
  const broker = new MemoryBroker();
  const bus = await connect(memoryDriver({ broker }), { logger: silentLogger });
  await bus.declare({
    topics: [{ name: 'orders' }],
    subscriptions: [{ name: 'warehouse', topic: 'orders', maxDeliveries }],
  });
  return { broker, bus };
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('subscribe', () => {
  it('acks only after the handler resolves', async () => {
    const { broker, bus } = await setup();
    await bus.publish('orders', { body: 'one' });
    const started = deferred<Delivery>();
    const finish = deferred();
    const sub = await bus.subscribe('orders', 'warehouse', async (d) => {
      started.resolve(d);
      await finish.promise;
    });
    const d = await started.promise;
    expect(d.text()).toBe('one');
    expect(sub.stats.acked).toBe(0);
    // Closing the consumer now would return the message: it is not acked.
    finish.resolve();
    await expect.poll(() => sub.stats.acked).toBe(1);
    await sub.close();
    expect(broker.depth('orders', 'warehouse')).toBe(0);
    await bus.close();
  });

  it('redelivers after a throw: same id, body and headers, attempt + 1', async () => {
    const { bus } = await setup();
    const receipt = await bus.publish('orders', {
      body: 'x',
      headers: { type: 'OrderPaid', ünï: '✓' },
      key: 'k1',
    });
    const seen: Delivery[] = [];
    const done = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      (d) => {
        seen.push(d);
        if (seen.length < 3) throw new Error(`fail ${seen.length}`);
        done.resolve();
      },
      { redeliveryBackoff: fast },
    );
    await done.promise;
    expect(seen.map((d) => d.attempt)).toEqual([1, 2, 3]);
    for (const d of seen) {
      expect(d.id).toBe(receipt.id);
      expect(d.key).toBe('k1');
      expect(d.text()).toBe('x');
      expect(d.headers).toMatchObject({ type: 'OrderPaid', ünï: '✓' });
    }
    await sub.close();
    await bus.close();
  });

  it('dead-letters after maxDeliveries with body, headers, attempts and the last error', async () => {
    const { bus } = await setup(3);
    const receipt = await bus.publish('orders', { body: 'poison', headers: { type: 'Bad' } });
    let calls = 0;
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      () => {
        calls++;
        throw new Error(`boom ${calls}`);
      },
      { redeliveryBackoff: fast },
    );
    const dead = deferred<Delivery>();
    const dlq = await bus.subscribe('orders', 'warehouse', (d) => dead.resolve(d), { deadLetters: true });
    const d = await dead.promise;
    expect(calls).toBe(3);
    expect(sub.stats.deadLettered).toBe(1);
    expect(d.id).toBe(receipt.id);
    expect(d.text()).toBe('poison');
    expect(d.headers).toMatchObject({
      type: 'Bad',
      [ReservedHeader.ATTEMPT]: '3',
      [ReservedHeader.LAST_ERROR]: 'boom 3',
    });
    await Promise.all([sub.close(), dlq.close()]);
    await bus.close();
  });

  it('never runs more handlers than the concurrency limit', async () => {
    const { bus } = await setup();
    await bus.publishBatch(
      'orders',
      Array.from({ length: 200 }, (_, i) => ({ body: `m${i}` })),
    );
    let running = 0;
    let max = 0;
    let handled = 0;
    const all = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      async () => {
        running++;
        max = Math.max(max, running);
        await new Promise((r) => setImmediate(r));
        running--;
        if (++handled === 200) all.resolve();
      },
      { concurrency: 7, prefetch: 50 },
    );
    await all.promise;
    expect(max).toBe(7);
    expect(sub.stats.maxRunning).toBe(7);
    await sub.close();
    await bus.close();
  });

  it('with key ordering, handles one key in order even with concurrency > 1', async () => {
    const { bus } = await setup();
    const keys = ['a', 'b', 'c', 'd'];
    await bus.publishBatch(
      'orders',
      Array.from({ length: 400 }, (_, i) => ({ body: String(i), key: keys[i % 4]! })),
    );
    const order = new Map<string, number[]>();
    let handled = 0;
    const all = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      async (d) => {
        // Uneven handler times would reorder a key without the ordering guarantee.
        await new Promise((r) => setTimeout(r, Number(d.text()) % 3));
        order.set(d.key!, [...(order.get(d.key!) ?? []), Number(d.text())]);
        if (++handled === 400) all.resolve();
      },
      { concurrency: 8, prefetch: 100, ordering: 'key' },
    );
    await all.promise;
    for (const k of keys) {
      const seq = order.get(k)!;
      expect(seq).toEqual([...seq].sort((x, y) => x - y));
      expect(seq).toHaveLength(100);
    }
    expect(sub.stats.maxRunning).toBeGreaterThan(1);
    await sub.close();
    await bus.close();
  });

  it('acking twice, or acking after a nack, is harmless', async () => {
    const { bus } = await setup();
    await bus.publish('orders', { body: 'x' });
    const errors: unknown[] = [];
    const done = deferred();
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      async (d) => {
        await d.ack();
        await d.ack();
        await d.nack(new Error('late'));
        done.resolve();
      },
      { onError: (e) => errors.push(e) },
    );
    await done.promise;
    await sub.close();
    expect(errors).toEqual([]);
    expect(sub.stats).toMatchObject({ acked: 1, redelivered: 0 });
    await bus.close();
  });

  it('close lets running handlers finish and acks them; unstarted messages are redelivered', async () => {
    const { broker, bus } = await setup();
    await bus.publishBatch(
      'orders',
      Array.from({ length: 10 }, (_, i) => ({ body: `m${i}` })),
    );
    const release = deferred();
    const started: string[] = [];
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      async (d) => {
        started.push(d.text());
        await release.promise;
      },
      { concurrency: 2, prefetch: 10 },
    );
    await expect.poll(() => started.length).toBe(2);
    const closing = sub.close();
    release.resolve();
    await closing;
    expect(sub.stats.acked).toBe(2);
    expect(broker.depth('orders', 'warehouse')).toBe(8);
    // The rest goes to the next consumer.
    const rest: string[] = [];
    const all = deferred();
    const next = await bus.subscribe('orders', 'warehouse', (d) => {
      rest.push(d.text());
      if (rest.length === 8) all.resolve();
    });
    await all.promise;
    expect(new Set([...started, ...rest]).size).toBe(10);
    await next.close();
    await bus.close();
  });

  it('close gives up on a handler at the shutdown deadline: the message is redelivered, not acked', async () => {
    const { broker, bus } = await setup();
    await bus.publish('orders', { body: 'slow' });
    const started = deferred();
    let aborted = false;
    const sub = await bus.subscribe(
      'orders',
      'warehouse',
      (_d, { signal }) =>
        new Promise<void>((resolve) => {
          started.resolve();
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
      { shutdownTimeoutMs: 50 },
    );
    await started.promise;
    await sub.close();
    expect(aborted).toBe(true);
    expect(broker.depth('orders', 'warehouse')).toBe(1);
    await bus.close();
  });

  it('competing consumers share a subscription; two subscriptions each get everything', async () => {
    const broker = new MemoryBroker();
    const bus = await connect(memoryDriver({ broker }), { logger: silentLogger });
    await bus.declare({
      topics: [{ name: 'orders' }],
      subscriptions: [
        { name: 'warehouse', topic: 'orders' },
        { name: 'billing', topic: 'orders' },
      ],
    });
    await bus.publishBatch(
      'orders',
      Array.from({ length: 100 }, (_, i) => ({ body: `m${i}` })),
    );
    const a: string[] = [];
    const b: string[] = [];
    const billing: string[] = [];
    const done = deferred();
    const check = () => a.length + b.length === 100 && billing.length === 100 && done.resolve();
    const subs = await Promise.all([
      bus.subscribe(
        'orders',
        'warehouse',
        (d) => {
          a.push(d.id);
          check();
        },
        { concurrency: 1 },
      ),
      bus.subscribe(
        'orders',
        'warehouse',
        (d) => {
          b.push(d.id);
          check();
        },
        { concurrency: 1 },
      ),
      bus.subscribe('orders', 'billing', (d) => {
        billing.push(d.id);
        check();
      }),
    ]);
    await done.promise;
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    expect(new Set([...a, ...b])).toEqual(new Set(billing));
    await Promise.all(subs.map((s) => s.close()));
    await bus.close();
  });

  it('bus.close drains subscriptions', async () => {
    const { bus } = await setup();
    await bus.publish('orders', { body: 'x' });
    const release = deferred();
    const started = deferred();
    let finished = false;
    await bus.subscribe('orders', 'warehouse', async () => {
      started.resolve();
      await release.promise;
      finished = true;
    });
    await started.promise;
    const closing = bus.close();
    release.resolve();
    await closing;
    expect(finished).toBe(true);
  });

  it('subscribing to a subscription that does not exist is NOT_FOUND', async () => {
    const { bus } = await setup();
    await expect(bus.subscribe('orders', 'nobody', () => {})).rejects.toMatchObject({
      code: 'NOT_FOUND',
      subscription: 'nobody',
    });
    await expect(bus.subscribe('orders', 'warehouse', () => {}, { concurrency: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await bus.close();
  });
});
