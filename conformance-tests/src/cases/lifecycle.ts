// L1–L3: health tells the truth, shutdown flushes and drains, and a closed bus refuses everything typed.
import { check, expectCode } from '../context.js';
import { Ledger } from '../ledger.js';
import type { ConformanceCase } from './case.js';

async function poll(what: string, f: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    check(Date.now() < deadline, `${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const lifecycleCases: ConformanceCase[] = [
  {
    id: 'L1',
    title: 'a health check reports connected / disconnected truthfully',
    category: 'lifecycle',
    timeoutMs: 180_000,
    async run(ctx) {
      const link = await ctx.faultyLink();
      const bus = await ctx.bus({ driver: link.driver });
      check(bus.health().state === 'connected', `a fresh bus reports ${bus.health().state}`);
      await link.cut('reset');
      await poll(
        'health did not report the lost connection',
        () => bus.health().state !== 'connected',
        60_000,
      );
      await link.restore();
      await poll('health did not report the reconnection', () => bus.health().state === 'connected', 90_000);
      await bus.close();
      check(bus.health().state === 'closed', `a closed bus reports ${bus.health().state}`);
    },
  },
  {
    id: 'L2',
    title: 'shutdown flushes pending confirms and drains handlers',
    category: 'lifecycle',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      let running = 0;
      await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 4,
        handler: async () => {
          running++;
          await new Promise((r) => setTimeout(r, 10));
          running--;
        },
      });
      const tag = ctx.name('m');
      let settled = 0;
      const publishes = Array.from({ length: 300 }, (_, i) => {
        const id = `${tag}-${i}`;
        ledger.attempt(id);
        return bus.publish(topic, { id, body: String(i) }).then(
          () => {
            ledger.confirm(id);
            settled++;
          },
          (e: { code?: string }) => {
            ledger.reject(id, e.code ?? 'untyped');
            settled++;
          },
        );
      });
      await ledger.until(() => ledger.received.size > 0, ctx.deliveryTimeoutMs);
      await bus.close();
      check(settled === 300, `${300 - settled} publishes were still unsettled after close() resolved`);
      check(running === 0, `${running} handlers were still running after close() resolved`);
      await Promise.all(publishes);
      check(
        ledger.rejected.size === 0,
        `close rejected ${ledger.rejected.size} publishes instead of flushing them`,
      );
      await ctx.consume(await ctx.bus(), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger);
    },
  },
  {
    id: 'L3',
    title: 'every operation after close rejects with CLOSED',
    category: 'lifecycle',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      await bus.close();
      await expectCode(bus.declare({ topics: [{ name: topic }] }), 'CLOSED', 'declare after close');
      await expectCode(bus.publish(topic, { body: 'x' }), 'CLOSED', 'publish after close');
      await expectCode(
        bus.subscribe(topic, 's', () => {}),
        'CLOSED',
        'subscribe after close',
      );
      const results = await bus.publishBatch(topic, [{ body: 'a' }, { body: 'b' }]);
      check(
        results.every((r) => !r.ok && r.error.code === 'CLOSED'),
        `publishBatch after close: ${results.map((r) => (r.ok ? 'ok' : r.error.code)).join(', ')}`,
      );
      check(bus.health().state === 'closed', `health after close: ${bus.health().state}`);
    },
  },
];
