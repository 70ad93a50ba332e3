// Publishing on the in-memory driver: confirms, batching, re-sends until the confirm deadline, bounded pending
// memory, signals and close, and the outbox's own limit.
import { describe, expect, it } from 'vitest';
import { connect } from './bus.js';
import type { Driver, SendOutcome } from './driver/driver.js';
import { ErrorCode, LosslessError } from './errors.js';
import { silentLogger } from './logger.js';
import { MemoryBroker, memoryDriver } from './memory/memory-driver.js';
import type { MessageRecord } from './message.js';
import { memoryOutbox } from './outbox.js';

const topology = {
  topics: [{ name: 'orders' }],
  subscriptions: [{ name: 'warehouse', topic: 'orders' }],
};

async function setup(
  publish: Parameters<typeof connect>[1] extends infer O
    ? O extends { publish?: infer P }
      ? P
      : never
    : never = {},
) {
  const broker = new MemoryBroker();
  const driver = memoryDriver({ broker });
  const bus = await connect(driver, { publish, logger: silentLogger });
  await bus.declare(topology);
  return { broker, driver, bus };
}

/** Wraps a driver so each send waits until the test opens the gate; records every record sent. */
function gated(inner: Driver) {
  const sent: MessageRecord[] = [];
  let open!: () => void;
  let gate = new Promise<void>((r) => {
    open = r;
  });
  const driver: Driver = {
    ...inner,
    name: inner.name,
    capabilities: inner.capabilities,
    connect: (s) => inner.connect(s),
    declare: (t) => inner.declare(t),
    subscribe: (o, s) => inner.subscribe(o, s),
    health: () => inner.health(),
    classify: (e) => inner.classify(e),
    close: () => inner.close(),
    async send(topic, records): Promise<SendOutcome[]> {
      sent.push(...records);
      await gate;
      return inner.send(topic, records);
    },
  };
  return {
    driver,
    sent,
    release() {
      open();
      gate = new Promise<void>((r) => {
        open = r;
      });
    },
  };
}

describe('publish', () => {
  it('resolves only after the driver reports the confirm', async () => {
    const g = gated(memoryDriver());
    const bus = await connect(g.driver, { logger: silentLogger });
    await bus.declare(topology);
    let resolved = false;
    const p = bus.publish('orders', { body: 'hello' }).then((r) => {
      resolved = true;
      return r;
    });
    await expect.poll(() => g.sent.length).toBe(1);
    // Sent but not confirmed: still pending.
    await new Promise((r) => setImmediate(r));
    expect(resolved).toBe(false);
    expect(bus.pendingConfirms).toBe(1);
    g.release();
    const receipt = await p;
    expect(receipt).toMatchObject({ id: g.sent[0]!.id, topic: 'orders', status: 'confirmed', attempts: 1 });
    expect(bus.pendingConfirms).toBe(0);
    await bus.close();
  });

  it('coalesces concurrent publishes into driver batches', async () => {
    const g = gated(memoryDriver());
    const sends: number[] = [];
    const send = g.driver.send.bind(g.driver);
    g.driver.send = (t, r) => {
      sends.push(r.length);
      return send(t, r);
    };
    const bus = await connect(g.driver, { logger: silentLogger });
    await bus.declare(topology);
    const all = Promise.all(Array.from({ length: 300 }, (_, i) => bus.publish('orders', { body: `m${i}` })));
    await expect.poll(() => g.sent.length).toBe(300);
    expect(sends.length).toBeLessThanOrEqual(2);
    g.release();
    await all;
    await bus.close();
  });

  it('settles each publish on its own reported outcome, once, before the batch is answered', async () => {
    // A driver whose broker answers record by record: it reports confirms for even records and a nack for the
    // first odd one as they "arrive", and answers the whole batch only when the test opens the gate (repeating
    // the same outcomes, and reporting once more after that — which core must ignore).
    const g = gated(memoryDriver());
    const inner = g.driver.send.bind(g.driver);
    const attempts = new Map<string, number>();
    let late: (() => void) | undefined;
    g.driver.send = (topic, records, progress) => {
      const outcomes: SendOutcome[] = records.map((r) => {
        const n = (attempts.get(r.id) ?? 0) + 1;
        attempts.set(r.id, n);
        return r.body.at(0) === 'b'.charCodeAt(0) && n === 1
          ? { ok: false, error: new LosslessError(ErrorCode.NACKED, 'nacked') }
          : { ok: true };
      });
      for (const [i, o] of outcomes.entries()) progress?.(i, o);
      late = () => progress?.(0, { ok: false, error: new LosslessError(ErrorCode.INTERNAL, 'late') });
      return inner(topic, records).then(() => outcomes);
    };
    const bus = await connect(g.driver, {
      logger: silentLogger,
      publish: { retryBackoff: { initialDelayMs: 1, maxDelayMs: 1, factor: 1, jitter: 'none' } },
    });
    await bus.declare(topology);
    const a = bus.publish('orders', { body: 'a' });
    const b = bus.publish('orders', { body: 'b' });
    // `a` resolves while its batch is still unanswered (the gate is closed).
    expect(await a).toMatchObject({ status: 'confirmed', attempts: 1 });
    expect(g.sent).toHaveLength(2);
    // `b` was nacked early: re-sent once (same id), not once more when the first batch is answered.
    await expect.poll(() => g.sent.length).toBe(3);
    expect(g.sent[2]!.id).toBe(g.sent[1]!.id);
    g.release();
    g.release();
    expect(await b).toMatchObject({ status: 'confirmed', attempts: 2 });
    late?.();
    expect(g.sent).toHaveLength(3);
    expect(bus.pendingConfirms).toBe(0);
    await bus.close();
  });

  it('re-sends a nacked message with the same id until the broker confirms it', async () => {
    const { broker, bus } = await setup({
      retryBackoff: { initialDelayMs: 1, maxDelayMs: 5, factor: 2, jitter: 'none' },
    });
    const seen: string[] = [];
    broker.faults.onSend = (_topic, record) => {
      seen.push(record.id);
      return seen.length <= 2 ? 'nack' : 'confirm';
    };
    const receipt = await bus.publish('orders', { body: 'x' });
    expect(receipt.attempts).toBe(3);
    expect(new Set(seen)).toEqual(new Set([receipt.id]));
    expect(broker.depth('orders', 'warehouse')).toBe(1);
    await bus.close();
  });

  it('re-sends after a retriable send error and rejects at once on a non-retriable one', async () => {
    const { broker, bus } = await setup({
      retryBackoff: { initialDelayMs: 1, maxDelayMs: 5, factor: 2, jitter: 'none' },
    });
    let n = 0;
    broker.faults.onSend = () =>
      ++n === 1 ? new LosslessError(ErrorCode.UNAVAILABLE, 'connection lost') : 'confirm';
    await expect(bus.publish('orders', { body: 'x' })).resolves.toMatchObject({ attempts: 2 });
    broker.faults.onSend = () => new LosslessError(ErrorCode.PERMISSION_DENIED, 'denied');
    const error = await bus.publish('orders', { body: 'y' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LosslessError);
    expect(error).toMatchObject({ code: 'PERMISSION_DENIED', topic: 'orders' });
    await bus.close();
  });

  it('gives up after maxAttempts and says how often it tried', async () => {
    const { broker, bus } = await setup({
      maxAttempts: 3,
      retryBackoff: { initialDelayMs: 1, maxDelayMs: 2, factor: 1, jitter: 'none' },
    });
    let sends = 0;
    broker.faults.onSend = () => {
      sends++;
      return 'nack';
    };
    const error = (await bus.publish('orders', { body: 'x' }).catch((e: unknown) => e)) as LosslessError;
    expect(error.code).toBe('NACKED');
    expect(error.message).toMatch(/gave up after 3 sends/);
    expect(sends).toBe(3);
    await bus.close();
  });

  it('rejects with CONFIRM_TIMEOUT when no confirm comes in time', async () => {
    const { broker, bus } = await setup({ confirmTimeoutMs: 200 });
    broker.faults.onSend = () => 'hang';
    const started = Date.now();
    const error = (await bus.publish('orders', { body: 'x' }).catch((e: unknown) => e)) as LosslessError;
    expect(error.code).toBe('CONFIRM_TIMEOUT');
    expect(error.retriable).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(bus.pendingConfirms).toBe(0);
    await bus.close();
  });

  it('times out every message wherever it waits: in flight or queued behind a full pipeline', async () => {
    const { broker, bus } = await setup({
      confirmTimeoutMs: 300,
      maxBatchSize: 1,
      maxInFlightBatches: 1,
    });
    // The first message hangs in flight; the other two queue behind it (one batch of one in flight at most)
    // and are never handed to the driver.
    let sends = 0;
    broker.faults.onSend = () => {
      sends++;
      return 'hang';
    };
    const results = await Promise.allSettled(['a', 'b', 'c'].map((body) => bus.publish('orders', { body })));
    expect(sends).toBe(1);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(((r as PromiseRejectedResult).reason as LosslessError).code).toBe('CONFIRM_TIMEOUT');
    }
    expect(bus.pendingConfirms).toBe(0);
    await bus.close();
  });

  it('keeps memory bounded with 100k publishes against a broker that never confirms', async () => {
    const { broker, bus } = await setup({ maxPending: 1000, pendingWaitMs: 50, confirmTimeoutMs: 60_000 });
    broker.faults.onSend = () => 'hang';
    const body = new Uint8Array(1024);
    const gc = (globalThis as { gc?: () => void }).gc;
    // vitest.config.ts runs tests with --expose-gc so that heap figures are not garbage.
    expect(gc).toBeTypeOf('function');
    const round = async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 100_000 }, () => bus.publish('orders', { body })),
      );
      const rejected = results.filter((r) => r.status === 'rejected');
      return {
        codes: new Set(rejected.map((r) => (r.reason as LosslessError).code)),
        rejected: rejected.length,
      };
    };
    // The first 1000 take every slot and never settle, so allSettled would wait for them: race a round instead.
    const first = bus.publish('orders', { body }).catch(() => undefined);
    void first;
    for (let i = 1; i < 1000; i++) void bus.publish('orders', { body }).catch(() => undefined);
    expect(bus.pendingConfirms).toBe(1000);
    gc!();
    const before = process.memoryUsage().heapUsed;
    const r1 = await round();
    gc!();
    const after = process.memoryUsage().heapUsed;
    expect(r1.rejected).toBe(100_000);
    expect(r1.codes).toEqual(new Set(['RESOURCE_EXHAUSTED']));
    expect(bus.pendingConfirms).toBe(1000);
    // 100k messages of 1 KiB would hold ~100 MB; the store holds at most its bound.
    expect(after - before).toBeLessThan(30 * 1024 * 1024);
  });

  it('waits for room when the store is full and proceeds when confirms free it', async () => {
    const g = gated(memoryDriver());
    const bus = await connect(g.driver, {
      logger: silentLogger,
      publish: { maxPending: 2, pendingWaitMs: 5_000 },
    });
    await bus.declare(topology);
    const ps = [1, 2, 3].map((i) => bus.publish('orders', { body: `m${i}` }));
    await expect.poll(() => g.sent.length).toBe(2);
    expect(bus.pendingConfirms).toBe(2);
    g.release();
    await expect.poll(() => g.sent.length).toBe(3);
    g.release();
    await expect(Promise.all(ps)).resolves.toHaveLength(3);
    await bus.close();
  });

  it('rejects with CANCELLED when the signal aborts, before or while waiting', async () => {
    const { broker, bus } = await setup({ maxPending: 1, pendingWaitMs: 5_000, confirmTimeoutMs: 60_000 });
    const ac = new AbortController();
    ac.abort(new Error('user gave up'));
    await expect(bus.publish('orders', { body: 'x' }, { signal: ac.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    broker.faults.onSend = () => 'hang';
    void bus.publish('orders', { body: 'blocker' }).catch(() => undefined);
    const ac2 = new AbortController();
    const waiting = bus.publish('orders', { body: 'y' }, { signal: ac2.signal });
    ac2.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('validates before sending: bad names, headers, bodies, oversized messages', async () => {
    const g = gated(memoryDriver({ maxMessageBytes: 1000 }));
    const bus = await connect(g.driver, { logger: silentLogger });
    await expect(bus.publish('bad topic!', { body: 'x' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(bus.publish('orders', { body: 42 as unknown as string })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      bus.publish('orders', { body: 'x', headers: { n: 1 as unknown as string } }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(
      bus.publish('orders', { body: 'x', headers: { 'x-lossless-id': 'a' } }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(bus.publish('orders', { body: new Uint8Array(1001) })).rejects.toMatchObject({
      code: 'TOO_LARGE',
    });
    expect(g.sent).toHaveLength(0);
  });

  it('publishBatch reports one result per entry', async () => {
    const { bus } = await setup();
    const results = await bus.publishBatch('orders', [
      { body: 'a' },
      { body: 'b', headers: { bad: undefined as unknown as string } },
      { body: 'c' },
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    await bus.close();
  });

  it('publishing to an undeclared topic is NOT_FOUND; to a topic without subscriptions UNROUTABLE', async () => {
    const { bus } = await setup();
    await expect(bus.publish('nowhere', { body: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await bus.declare({ topics: [{ name: 'lonely' }] });
    await expect(bus.publish('lonely', { body: 'x' })).rejects.toMatchObject({ code: 'UNROUTABLE' });
    await bus.close();
  });

  it('close flushes pending confirms, then rejects with CLOSED; closing twice is harmless', async () => {
    const g = gated(memoryDriver());
    const bus = await connect(g.driver, { logger: silentLogger });
    await bus.declare(topology);
    const p = bus.publish('orders', { body: 'x' });
    await expect.poll(() => g.sent.length).toBe(1);
    const closing = bus.close();
    expect(bus.close()).toBe(closing);
    await expect(bus.publish('orders', { body: 'y' })).rejects.toMatchObject({ code: 'CLOSED' });
    g.release();
    await expect(p).resolves.toMatchObject({ status: 'confirmed' });
    await closing;
    expect(bus.health().state).toBe('closed');
    await expect(bus.declare(topology)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('rejects with RESOURCE_EXHAUSTED naming outbox.maxMessages when the outbox is full', async () => {
    const broker = new MemoryBroker();
    const bus = await connect(memoryDriver({ broker }), {
      logger: silentLogger,
      publish: { pendingWaitMs: 50, confirmTimeoutMs: 500 },
      outbox: { store: memoryOutbox(), maxMessages: 1 },
    });
    await bus.declare(topology);
    broker.faults.onSend = () => 'hang';
    const holding = bus.publish('orders', { body: 'takes the only outbox slot' });
    const e = (await bus.publish('orders', { body: 'no room' }).then(
      () => undefined,
      (error: unknown) => error,
    )) as LosslessError;
    expect(e).toBeInstanceOf(LosslessError);
    expect(e.code).toBe(ErrorCode.RESOURCE_EXHAUSTED);
    expect(e.message).toContain('outbox.maxMessages = 1');
    expect(e.message).not.toContain('publish limits');
    await expect(holding).rejects.toMatchObject({ code: 'CONFIRM_TIMEOUT' });
    await bus.close();
  });
});

describe('connect', () => {
  it('rejects with UNAVAILABLE when the broker cannot be reached', async () => {
    const broker = new MemoryBroker();
    broker.setReachable(false);
    await expect(connect(memoryDriver({ broker }), { logger: silentLogger })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });

  it('rejects with UNAVAILABLE within connectTimeoutMs when connect hangs', async () => {
    const inner = memoryDriver();
    const driver: Driver = {
      name: 'hanging',
      capabilities: inner.capabilities,
      connect: () => new Promise(() => {}),
      declare: (t) => inner.declare(t),
      send: (t, r) => inner.send(t, r),
      subscribe: (o, s) => inner.subscribe(o, s),
      health: () => inner.health(),
      classify: () => undefined,
      close: async () => {},
    };
    const started = Date.now();
    await expect(connect(driver, { connectTimeoutMs: 100 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('reports health truthfully', async () => {
    const { broker, bus } = await setup();
    expect(bus.health().state).toBe('connected');
    broker.setReachable(false);
    expect(bus.health().state).toBe('disconnected');
    broker.setReachable(true);
    expect(bus.health().state).toBe('connected');
    await bus.close();
    expect(bus.health().state).toBe('closed');
  });
});
