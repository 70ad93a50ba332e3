// The order service: when an order is paid it publishes an OrderPaid event, keyed by the order id, and
// reports the order paid only once the broker confirmed the event durably. Its bus and its typed publisher
// come from the lossless inversify module.
import type { PublishReceipt, Topology } from '@lossless/core';
import {
  type BusConfig,
  LosslessRuntime,
  losslessModule,
  type Publisher,
  publisher,
} from '@lossless/inversify';
import { Container } from 'inversify';
import { type OrderPaid, OrderPaidPublisher } from './events.js';

export class OrderService {
  constructor(private readonly events: Publisher<OrderPaid>) {}

  /**
   * Publishes the OrderPaid event of an order. Resolves once the broker has it durably; rejects with a
   * LosslessError otherwise (the event is then unconfirmed: retry it or report the order as not yet paid).
   * Safe to call from many concurrent requests: the bus batches them.
   */
  orderPaid(order: Omit<OrderPaid, 'type' | 'paidAt'>): Promise<PublishReceipt> {
    return this.events.publish({ type: 'OrderPaid', ...order, paidAt: new Date().toISOString() });
  }
}

/** The order service's container: the lossless module with a `Publisher<OrderPaid>`, and the service. */
export function orderServiceContainer<O>(bus: BusConfig<O>, topic: string, topology: Topology): Container {
  const container = new Container();
  container.load(
    losslessModule({
      bus,
      topology,
      publishers: [
        publisher({
          token: OrderPaidPublisher,
          topic,
          key: (event) => event.orderId,
          headers: (event) => ({ type: event.type }),
        }),
      ],
    }),
  );
  container
    .bind(OrderService)
    .toResolvedValue((events: Publisher<OrderPaid>) => new OrderService(events), [OrderPaidPublisher])
    .inSingletonScope();
  return container;
}

/** Connects the order service's bus (declaring the topology) and returns the service and its runtime. */
export async function startOrderService(
  container: Container,
): Promise<{ service: OrderService; runtime: LosslessRuntime }> {
  const runtime = await container.getAsync(LosslessRuntime);
  return { service: await container.getAsync(OrderService), runtime };
}
