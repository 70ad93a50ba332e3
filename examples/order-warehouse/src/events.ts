// What the order service and the warehouse agree on: the OrderPaid event, where it is published and who
// consumes it.
import type { Topology } from '@lossless/core';
import { publisherToken } from '@lossless/inversify';

/** Published by the order service once an order is paid; the warehouse ships it. */
export interface OrderPaid {
  type: 'OrderPaid';
  orderId: string;
  customerId: string;
  amountCents: number;
  paidAt: string;
}

/** The warehouse's subscription of the orders topic. */
export const WAREHOUSE_SUBSCRIPTION = 'warehouse';

/** Where the order service's `Publisher<OrderPaid>` is bound in its container. */
export const OrderPaidPublisher = publisherToken<OrderPaid>('OrderPaid');

/**
 * The topic and the warehouse's subscription. Both services declare it (declaring is idempotent); the
 * subscription must exist before the first publish, because RabbitMQ keeps nothing for queues not yet bound.
 */
export function orderTopology(topic: string): Topology {
  return {
    topics: [{ name: topic }],
    subscriptions: [{ name: WAREHOUSE_SUBSCRIPTION, topic, maxDeliveries: 10 }],
  };
}
