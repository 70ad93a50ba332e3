// T1–T8: durable topology — idempotent declarations, retention before consumers, isolation, fan-out,
// competing consumers, typed errors for undeclared and conflicting topology, survival of a broker restart.
import { connect, silentLogger } from '@lossless/core';
import { check, expectCode } from '../context.js';
import { Ledger } from '../ledger.js';
import type { ConformanceCase } from './case.js';

export const topologyCases: ConformanceCase[] = [
  {
    id: 'T1',
    title: 'declaring the same topology twice, and concurrently, succeeds and changes nothing',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const topic = ctx.name('t');
      const topology = { topics: [{ name: topic }], subscriptions: [{ name: 's', topic, maxDeliveries: 4 }] };
      await bus.declare(topology);
      const other = await ctx.bus();
      await Promise.all([bus.declare(topology), other.declare(topology), bus.declare(topology)]);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 20, ledger);
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
    },
  },
  {
    id: 'T2',
    title: 'messages published before any consumer starts are kept for a declared subscription',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 200, ledger);
      check(ledger.confirmed.size === 200, `only ${ledger.confirmed.size} of 200 publishes were confirmed`);
      const consumer = await ctx.bus();
      await ctx.consume(consumer, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
    },
  },
  {
    id: 'T3',
    title: 'topics are isolated: a subscription receives only its own topic’s messages',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const a = await ctx.topic(bus, 'a', ['s']);
      const b = await ctx.topic(bus, 'b', ['s']);
      const la = new Ledger();
      const lb = new Ledger();
      await Promise.all([ctx.publishMany(bus, a.topic, 50, la), ctx.publishMany(bus, b.topic, 50, lb)]);
      await ctx.consume(bus, a.topic, 's', la);
      await ctx.consume(bus, b.topic, 's', lb);
      await ctx.expectAllDelivered(la, { maxDuplicates: 0, what: `topic ${a.topic}` });
      await ctx.expectAllDelivered(lb, { maxDuplicates: 0, what: `topic ${b.topic}` });
    },
  },
  {
    id: 'T4',
    title: 'fan-out: two subscriptions each receive every message',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['one', 'two']);
      const published = new Ledger();
      await ctx.publishMany(bus, topic, 100, published);
      const one = new Ledger();
      const two = new Ledger();
      for (const l of [one, two]) l.expect(published.confirmed);
      await ctx.consume(bus, topic, 'one', one);
      await ctx.consume(bus, topic, 'two', two);
      await ctx.expectAllDelivered(one, { maxDuplicates: 0, what: 'subscription one' });
      await ctx.expectAllDelivered(two, { maxDuplicates: 0, what: 'subscription two' });
    },
  },
  {
    id: 'T5',
    title: 'competing consumers share one subscription',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 4 });
      const ledger = new Ledger();
      const first = new Set<string>();
      const second = new Set<string>();
      const c1 = await ctx.bus();
      const c2 = await ctx.bus();
      // Slow handlers so that neither consumer can take everything alone.
      const slow = (mine: Set<string>) => async (d: { id: string; key: string | undefined }) => {
        mine.add(d.id);
        await new Promise((r) => setTimeout(r, 5));
      };
      await ctx.consume(c1, topic, 's', ledger, { concurrency: 2, handler: slow(first) });
      await ctx.consume(c2, topic, 's', ledger, { concurrency: 2, handler: slow(second) });
      await ctx.publishMany(bus, topic, 400, ledger, {
        message: (i) => ({ body: `m${i}`, key: `k${i % 16}` }),
      });
      await ctx.expectAllDelivered(ledger);
      check(
        first.size > 0 && second.size > 0,
        `one consumer got everything (${first.size} / ${second.size})`,
      );
    },
  },
  {
    id: 'T6',
    title: 'publishing to an undeclared topic is a typed error, never a silent drop',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus({ publish: { confirmTimeoutMs: 20_000 } });
      await expectCode(
        bus.publish(ctx.name('nowhere'), { body: 'x' }),
        'NOT_FOUND',
        'publish to an undeclared topic',
      );
    },
  },
  {
    id: 'T7',
    title: 'a conflicting re-declaration is a typed error (CONFLICT) and the bus keeps working',
    category: 'topology',
    async run(ctx) {
      const bus = await ctx.bus();
      const topic = ctx.name('t');
      await bus.declare({ topics: [{ name: topic, partitions: 2 }], subscriptions: [{ name: 's', topic }] });
      await expectCode(
        bus.declare({ topics: [{ name: topic, partitions: 3 }] }),
        'CONFLICT',
        're-declaring a topic with other partitions',
      );
      if (ctx.capabilities.storesSubscriptionSettings) {
        // Another process (a fresh bus knows nothing of the first declaration) asks for other maxDeliveries.
        const other = await ctx.bus();
        await expectCode(
          other.declare({
            topics: [{ name: topic, partitions: 2 }],
            subscriptions: [{ name: 's', topic, maxDeliveries: 3 }],
          }),
          'CONFLICT',
          're-declaring a subscription with another maxDeliveries from another bus',
        );
      }
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 10, ledger);
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { what: 'after the conflict' });
    },
  },
  {
    id: 'T8',
    title: 'topology survives a broker restart',
    category: 'topology',
    timeoutMs: 300_000,
    async run(ctx) {
      const broker = ctx.requireBroker('restarting the broker');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      await bus.close();
      await broker.restart();
      // A new client that declares nothing: topic and subscription must still be there.
      const driver = await ctx.driver();
      const fresh = await connect(driver, { logger: silentLogger });
      ctx.buses.push(fresh);
      const ledger = new Ledger();
      await ctx.publishMany(fresh, topic, 20, ledger);
      check(
        ledger.confirmed.size === 20,
        `after the restart only ${ledger.confirmed.size} of 20 were confirmed`,
      );
      await ctx.consume(fresh, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger);
    },
  },
];
