// R1–R5: consumers that die, come and go, rebalance, settle too late, or finish out of order — nothing may be
// lost.
import type { Subscription } from '@lossless/core';
import { type CaseContext, check, deferred, skipUnless } from '../context.js';
import { Ledger } from '../ledger.js';
import { outOfOrderHandler, startWorker } from '../worker.js';
import type { ConformanceCase } from './case.js';

/**
 * R5's consumer: takes `hold` messages at once, acks the newest `finish` newest-first, dies holding the rest.
 * Where the broker is its own process, the consumer is a child process killed with SIGKILL; otherwise a bus in
 * this process whose driver is closed under it. Resolves with the finished ids, once the consumer is dead.
 */
async function outOfOrderThenDie(
  ctx: CaseContext,
  topic: string,
  hold: number,
  finish: number,
): Promise<string[]> {
  const what = (n: number) =>
    `the consumer to take ${hold} messages at once and ack the newest ${finish} newest-first (it took ${n})`;
  const received = new Set<string>();
  const done = deferred<string[]>();
  if (ctx.capabilities.externalProcess && ctx.adapter.module) {
    let failure: string | undefined;
    const worker = startWorker(
      {
        adapterModule: ctx.adapter.module,
        settings: ctx.settings,
        role: 'out-of-order-consumer',
        topic,
        subscription: 's',
        hold,
        finish,
      },
      (e) => {
        if (e.type === 'received') received.add(e.id);
        if (e.type === 'finished') done.resolve(e.ids);
        if (e.type === 'error') {
          failure = e.message;
          done.resolve([]);
        }
      },
    );
    ctx.cleanups.push(() => worker.kill());
    const finished = await ctx.waitFor(() => what(received.size), done.promise);
    check(!failure, `the consumer process failed: ${failure}`);
    await worker.kill();
    return finished;
  }
  const bus = await ctx.bus();
  let sub: Subscription | undefined;
  const handler = outOfOrderHandler({
    hold,
    finish,
    acked: () => sub?.stats.acked ?? 0,
    onReceived: (id) => received.add(id),
    onFinished: (ids) => done.resolve(ids),
  });
  sub = await bus.subscribe(topic, 's', handler, {
    concurrency: hold,
    prefetch: hold,
    shutdownTimeoutMs: 100,
  });
  ctx.subscriptions.push(sub);
  const finished = await ctx.waitFor(() => what(received.size), done.promise);
  await ctx.crash(bus);
  return finished;
}

export const crashCases: ConformanceCase[] = [
  {
    id: 'R1',
    title:
      'a consumer killed with SIGKILL while holding unacked messages: all are delivered again to another',
    category: 'crash',
    timeoutMs: 180_000,
    async run(ctx) {
      skipUnless(
        ctx.capabilities.externalProcess,
        'the broker lives in the test process, so a consumer process cannot be killed apart from it',
      );
      skipUnless(ctx.adapter.module, 'the adapter names no module a child process can load');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 60, ledger);
      const held = new Set<string>();
      let failure: string | undefined;
      let holding!: () => void;
      const full = new Promise<void>((r) => {
        holding = r;
      });
      const worker = startWorker(
        {
          adapterModule: ctx.adapter.module,
          settings: ctx.settings,
          role: 'hold-consumer',
          topic,
          subscription: 's',
          hold: 10,
        },
        (e) => {
          if (e.type === 'received') held.add(e.id);
          if (e.type === 'error') failure = e.message;
          if (held.size >= 10 || failure) holding();
        },
      );
      ctx.cleanups.push(() => worker.kill());
      await Promise.race([full, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      check(!failure, `the consumer process failed: ${failure}`);
      check(held.size === 10, `the consumer process took ${held.size} messages, expected 10`);
      await worker.kill();
      await ctx.consume(await ctx.bus(), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { what: 'after SIGKILL of the consumer' });
      for (const id of held)
        check(ledger.received.has(id), `message ${id} held by the killed consumer never came back`);
    },
  },
  {
    id: 'R2',
    title: 'consumers opened and closed repeatedly during a stream: no loss',
    category: 'crash',
    timeoutMs: 300_000,
    async run(ctx) {
      const producer = await ctx.bus();
      const { topic } = await ctx.topic(producer, 't', ['s'], { partitions: 4 });
      const ledger = new Ledger();
      const publishing = ctx.publishMany(producer, topic, 1_000, ledger, { callers: 4 });
      for (let round = 1; round <= 5; round++) {
        const bus = await ctx.bus();
        const sub = await ctx.consume(bus, topic, 's', ledger, { concurrency: 8 });
        const target = Math.min(ledger.received.size + 50, 1_000);
        await ledger.until(() => ledger.received.size >= target, ctx.deliveryTimeoutMs);
        await sub.close();
        await bus.close();
      }
      await publishing;
      await ctx.consume(await ctx.bus(), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger);
    },
  },
  {
    id: 'R3',
    title: 'consumers joining and leaving during steady publishing (rebalance): no loss',
    category: 'crash',
    timeoutMs: 300_000,
    async run(ctx) {
      const producer = await ctx.bus();
      const { topic } = await ctx.topic(producer, 't', ['s'], { partitions: 6 });
      const ledger = new Ledger();
      const publishing = ctx.publishMany(producer, topic, 1_500, ledger, {
        callers: 4,
        message: (i) => ({ body: String(i), key: `k${i % 31}` }),
      });
      const at = (n: number) => ledger.until(() => ledger.received.size >= n, ctx.deliveryTimeoutMs);
      const c1 = await ctx.bus();
      const s1 = await ctx.consume(c1, topic, 's', ledger);
      await at(200);
      const c2 = await ctx.bus();
      await ctx.consume(c2, topic, 's', ledger);
      await at(500);
      const c3 = await ctx.bus();
      await ctx.consume(c3, topic, 's', ledger);
      await at(800);
      await s1.close(); // leaves gracefully
      await at(1_100);
      await ctx.crash(c2); // leaves abruptly
      await publishing;
      await ctx.expectAllDelivered(ledger);
    },
  },
  {
    id: 'R4',
    title:
      'an ack that arrives after its delivery went stale is a typed error and the message is redelivered',
    category: 'crash',
    async run(ctx) {
      skipUnless(ctx.capabilities.staleAckDetection, 'the broker silently ignores a stale ack');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const receipt = await bus.publish(topic, { body: 'slow' });
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      let started!: () => void;
      const running = new Promise<void>((r) => {
        started = r;
      });
      let reported!: (code: string) => void;
      const error = new Promise<string>((r) => {
        reported = r;
      });
      const sub = await bus.subscribe(
        topic,
        's',
        async () => {
          started();
          await released;
        },
        { shutdownTimeoutMs: 100, onError: (e) => reported(e.code) },
      );
      await ctx.waitFor('the handler to start', running);
      await sub.close(); // gives up on the handler: its delivery goes stale
      release(); // the handler now resolves and core tries to ack
      const code = await Promise.race([
        error,
        new Promise<string>((r) => setTimeout(() => r('no error'), ctx.deliveryTimeoutMs)),
      ]);
      check(code === 'STALE_DELIVERY', `a late ack reported ${code}, expected STALE_DELIVERY`);
      const again = await ctx.drainUntilSentinel(await ctx.bus(), topic, 's', { expect: [receipt.id] });
      check(again.includes(receipt.id), 'the message whose ack went stale was not redelivered');
    },
  },
  {
    id: 'R5',
    title:
      'handlers finish out of order (newest first), then the consumer dies: every unfinished message comes back',
    category: 'crash',
    timeoutMs: 180_000,
    async run(ctx) {
      const bus = await ctx.bus();
      // One partition / queue: offsets are consecutive, so committing the highest acked one would skip the rest.
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 1 });
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 10, ledger, { callers: 1 });
      check(ledger.confirmed.size === 10, `only ${ledger.confirmed.size} of 10 publishes confirmed`);
      const finished = await outOfOrderThenDie(ctx, topic, 10, 5);
      check(finished.length === 5, `the consumer finished ${finished.length} messages, expected 5`);
      for (const id of finished) ledger.receive(id);
      const unfinished = [...ledger.confirmed].filter((id) => !finished.includes(id));
      const again = new Set<string>();
      await ctx.consume(await ctx.bus(), topic, 's', ledger, { handler: (d) => void again.add(d.id) });
      await ctx.expectAllDelivered(ledger, {
        what: 'after the consumer died with newer messages acked first',
      });
      for (const id of unfinished)
        check(again.has(id), `message ${id}, older than messages acked before it, never came back`);
    },
  },
];
