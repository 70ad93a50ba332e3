// losslessModule on the in-memory driver: one bus per container, typed publishers, handlers resolved from the
// container, unloading/unbinding/shutdown closing what they own, and bad configuration refused.
import { Bus, type Delivery, silentLogger } from '@lossless/core';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  LosslessRuntime,
  losslessModule,
  type MessageHandler,
  publisher,
  publisherToken,
  subscription,
  subscriptionToken,
} from './index.js';

interface OrderPaid {
  orderId: string;
  amount: number;
}

const OrderPaidPublisher = publisherToken<OrderPaid>('OrderPaid');
const WarehouseSubscription = subscriptionToken('orders/warehouse');

/** A handler with a dependency, bound without decorators (toResolvedValue lists what to inject). */
class Shipments {
  readonly shipped: { order: OrderPaid; delivery: Delivery }[] = [];
  private waiters: { count: number; resolve: () => void }[] = [];
  add(order: OrderPaid, delivery: Delivery): void {
    this.shipped.push({ order, delivery });
    const due = this.waiters.filter((w) => this.shipped.length >= w.count);
    this.waiters = this.waiters.filter((w) => !due.includes(w));
    for (const w of due) w.resolve();
  }
  reach(count: number): Promise<void> {
    if (this.shipped.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

class ShipOrder implements MessageHandler<OrderPaid> {
  constructor(private readonly shipments: Shipments) {}
  handle(order: OrderPaid, delivery: Delivery): void {
    this.shipments.add(order, delivery);
  }
}

function setup(broker = new MemoryBroker()) {
  const container = new Container();
  container.bind(Shipments).toConstantValue(new Shipments());
  container.bind(ShipOrder).toResolvedValue((s: Shipments) => new ShipOrder(s), [Shipments]);
  const module = losslessModule({
    bus: { driver: memoryDriver, options: { broker }, connect: { logger: silentLogger } },
    topology: {
      topics: [{ name: 'orders' }],
      subscriptions: [{ name: 'warehouse', topic: 'orders', maxDeliveries: 3 }],
    },
    publishers: [
      publisher({
        token: OrderPaidPublisher,
        topic: 'orders',
        key: (o) => o.orderId,
        headers: { type: 'OrderPaid' },
      }),
    ],
    subscriptions: [
      subscription({
        topic: 'orders',
        subscription: 'warehouse',
        handler: ShipOrder,
        token: WarehouseSubscription,
        options: { concurrency: 4 },
      }),
    ],
  });
  container.load(module);
  return { container, module, broker };
}

describe('losslessModule', () => {
  it('connects the bus, starts the handler and publishes typed JSON with key and headers', async () => {
    const { container } = setup();
    const runtime = await container.getAsync(LosslessRuntime);
    const orders = await container.getAsync(OrderPaidPublisher);
    const receipt = await orders.publish({ orderId: 'o-1', amount: 42 });
    expect(receipt.status).toBe('confirmed');

    const shipments = container.get(Shipments);
    await shipments.reach(1);
    const [first] = shipments.shipped;
    expect(first?.order).toEqual({ orderId: 'o-1', amount: 42 });
    expect(first?.delivery.id).toBe(receipt.id);
    expect(first?.delivery.key).toBe('o-1');
    expect(first?.delivery.headers.type).toBe('OrderPaid');
    expect(runtime.subscriptions.get('orders/warehouse')).toBe(
      await container.getAsync(WarehouseSubscription),
    );
    await runtime.shutdown();
  });

  it('hands out one bus: the runtime, publishers and Bus resolve to the same instance', async () => {
    const { container } = setup();
    const [bus, runtime] = await Promise.all([container.getAsync(Bus), container.getAsync(LosslessRuntime)]);
    expect(runtime.bus).toBe(bus);
    await runtime.shutdown();
  });

  it('lets a per-call key, id and headers win over the configured ones', async () => {
    const { container } = setup();
    const runtime = await container.getAsync(LosslessRuntime);
    const orders = await container.getAsync(OrderPaidPublisher);
    await orders.publish({ orderId: 'o-2', amount: 1 }, { key: 'k', id: 'order-2', headers: { trace: 't' } });
    const shipments = container.get(Shipments);
    await shipments.reach(1);
    const d = shipments.shipped[0]?.delivery;
    expect([d?.id, d?.key, d?.headers.type, d?.headers.trace]).toEqual(['order-2', 'k', 'OrderPaid', 't']);
    await runtime.shutdown();
  });

  it('redelivers a message whose handler threw, through the container-bound handler', async () => {
    const container = new Container();
    let calls = 0;
    const seen: number[] = [];
    class Flaky implements MessageHandler<{ n: number }> {
      handle(message: { n: number }, delivery: Delivery): void {
        calls++;
        if (delivery.attempt === 1) throw new Error('forklift jammed');
        seen.push(message.n);
      }
    }
    container.bind(Flaky).toResolvedValue(() => new Flaky());
    const Numbers = publisherToken<{ n: number }>('Numbers');
    container.load(
      losslessModule({
        bus: { driver: memoryDriver, options: {}, connect: { logger: silentLogger } },
        topology: { topics: [{ name: 'n' }], subscriptions: [{ name: 's', topic: 'n' }] },
        publishers: [publisher({ token: Numbers, topic: 'n' })],
        subscriptions: [
          subscription({
            topic: 'n',
            subscription: 's',
            handler: Flaky,
            options: { redeliveryBackoff: { initialDelayMs: 1, maxDelayMs: 1 }, onError: () => {} },
          }),
        ],
      }),
    );
    const runtime = await container.getAsync(LosslessRuntime);
    await (await container.getAsync(Numbers)).publish({ n: 7 });
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual([7]);
    expect(calls).toBe(2);
    await runtime.shutdown();
  });

  it('unloading the module closes the subscriptions, then the bus', async () => {
    const { container, module } = setup();
    const runtime = await container.getAsync(LosslessRuntime);
    const sub = await container.getAsync(WarehouseSubscription);
    const order: string[] = [];
    const closeSub = sub.close.bind(sub);
    sub.close = async () => {
      order.push('subscription');
      await closeSub();
    };
    const closeBus = runtime.bus.close.bind(runtime.bus);
    runtime.bus.close = async () => {
      order.push('bus');
      await closeBus();
    };
    await container.unloadAsync(module);
    expect(order[0]).toBe('subscription');
    expect(order).toContain('bus');
    expect(runtime.bus.health().state).toBe('closed');
    expect(container.isBound(Bus)).toBe(false);
    await expect(runtime.bus.publish('orders', { body: 'x' })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('unbinding a subscription closes only that subscription', async () => {
    const { container } = setup();
    const runtime = await container.getAsync(LosslessRuntime);
    await container.unbindAsync(WarehouseSubscription);
    // The bus still publishes; nobody consumes any more, so the message stays in the subscription.
    const orders = await container.getAsync(OrderPaidPublisher);
    await orders.publish({ orderId: 'o-3', amount: 3 });
    await new Promise((r) => setTimeout(r, 50));
    expect(container.get(Shipments).shipped).toHaveLength(0);
    await runtime.shutdown();
  });

  it('shutdown closes the bus: later publishes reject with CLOSED; a second shutdown is harmless', async () => {
    const { container } = setup();
    const runtime = await container.getAsync(LosslessRuntime);
    const orders = await container.getAsync(OrderPaidPublisher);
    await runtime.shutdown();
    await runtime.shutdown();
    await expect(orders.publish({ orderId: 'late', amount: 0 })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('a bad topology rejects the resolution and leaves no bus open', async () => {
    const container = new Container();
    container.load(
      losslessModule({
        bus: { driver: memoryDriver, options: {}, connect: { logger: silentLogger } },
        topology: { topics: [{ name: 'bad name' }] },
      }),
    );
    await expect(container.getAsync(LosslessRuntime)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('rejects a subscription configured twice', () => {
    const container = new Container();
    class Noop implements MessageHandler<unknown> {
      handle(): void {}
    }
    const twice = () => subscription({ topic: 't', subscription: 's', handler: Noop });
    expect(() =>
      container.load(
        losslessModule({ bus: { driver: memoryDriver, options: {} }, subscriptions: [twice(), twice()] }),
      ),
    ).toThrow(/configured twice/);
  });

  it('refuses a misspelled module key with INVALID_ARGUMENT naming the valid one', () => {
    expect(() =>
      losslessModule({ bus: { driver: memoryDriver, options: {} }, topolgy: {} } as never),
    ).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'topology'") }),
    );
    expect(() => losslessModule({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
