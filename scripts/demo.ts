// `npm run demo` until the broker examples land: the order → warehouse story on the in-memory driver, with a
// warehouse that fails now and then, and the accounting at the end.
import { connect, json, silentLogger } from '@lossless/core';
import { memoryDriver } from '@lossless/core/memory';

const ORDERS = 2_000;
const bus = await connect(memoryDriver(), { logger: silentLogger });
await bus.declare({
  topics: [{ name: 'orders' }],
  subscriptions: [{ name: 'warehouse', topic: 'orders', maxDeliveries: 10 }],
});

const shipped = new Map<string, number>();
let failures = 0;
let done!: () => void;
const allShipped = new Promise<void>((r) => {
  done = r;
});
const warehouse = await bus.subscribe(
  'orders',
  'warehouse',
  async (msg) => {
    if (Math.random() < 0.1) {
      failures++;
      throw new Error('forklift jammed'); // redelivered with attempt + 1
    }
    shipped.set(msg.id, (shipped.get(msg.id) ?? 0) + 1);
    if (shipped.size === ORDERS) done();
  },
  { concurrency: 16, redeliveryBackoff: { initialDelayMs: 1, maxDelayMs: 20 } },
);

const confirmed = new Set<string>();
await Promise.all(
  Array.from({ length: 64 }, async (_, caller) => {
    for (let i = caller; i < ORDERS; i += 64) {
      const r = await bus.publish(
        'orders',
        json({ orderId: i, event: 'OrderPaid' }, { key: `customer-${i % 50}` }),
      );
      confirmed.add(r.id);
    }
  }),
);
await allShipped;
await warehouse.close();
await bus.close();

const lost = [...confirmed].filter((id) => !shipped.has(id)).length;
const duplicates = [...shipped.values()].reduce((n, c) => n + c - 1, 0);
console.log('order → warehouse on the in-memory driver (the broker demos arrive with the adapters)');
console.table({
  published: ORDERS,
  confirmed: confirmed.size,
  delivered: shipped.size,
  'handler failures (redelivered)': failures,
  duplicates,
  lost,
});
console.log(`lost: ${lost}`);
process.exit(lost === 0 ? 0 : 1);
