// The warehouse service: a subscription of the orders topic whose handler ships each paid order exactly once.
// Delivery is at-least-once, so the handler deduplicates by message id against its ledger, and the message is
// acked only after the shipment is recorded. It runs as a child process of the scenario (so it can be killed
// for real) and resolves its handler through the container, as an application would.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerSettings } from '@lossless/brokers';
import type { Delivery, LosslessError } from '@lossless/core';
import { LosslessRuntime, losslessModule, type MessageHandler, subscription } from '@lossless/inversify';
import { Container } from 'inversify';
import { type OrderPaid, orderTopology, WAREHOUSE_SUBSCRIPTION } from './events.js';
import { ShipmentLedger } from './ledger.js';
import { progress, quietLogger } from './report.js';
import type { ExampleTarget } from './target.js';

/** What the scenario tells a warehouse process (JSON in the LOSSLESS_EXAMPLE_WAREHOUSE variable). */
export interface WarehouseConfig<S extends BrokerSettings = BrokerSettings> {
  /** 1 for the first warehouse process, 2 for its replacement… */
  instance: number;
  /** When the scenario started (ms since the epoch): progress lines share its clock. */
  startedAt: number;
  settings: S;
  topic: string;
  ledgerFile: string;
  concurrency: number;
  /** Simulated work per shipment: a random duration in [min, max] ms. */
  workMs: readonly [number, number];
}

/** Messages a warehouse process sends the scenario over the IPC channel. */
export type WarehouseEvent =
  | { t: 'ready'; pid: number; alreadyShipped: number }
  | { t: 'shipped'; id: string; running: number }
  | { t: 'duplicate'; id: string; running: number };

export const WAREHOUSE_ENV = 'LOSSLESS_EXAMPLE_WAREHOUSE';

/** Ships an order once per message id; records the shipment before the message is acked. */
export class ShipOrderHandler implements MessageHandler<OrderPaid> {
  /** Handlers running now: the orders this process holds unacked. */
  private running = 0;
  private readonly inProgress = new Set<string>();

  constructor(
    private readonly ledger: ShipmentLedger,
    private readonly workMs: readonly [number, number],
    private readonly report: (event: WarehouseEvent) => void,
  ) {}

  async handle(order: OrderPaid, delivery: Delivery): Promise<void> {
    if (this.ledger.has(delivery.id) || this.inProgress.has(delivery.id)) {
      // Shipped before (by this process or one that died before its ack reached the broker): ack, ship nothing.
      this.ledger.recordDuplicate(delivery.id, order.orderId);
      this.report({ t: 'duplicate', id: delivery.id, running: this.running });
      return;
    }
    this.running++;
    this.inProgress.add(delivery.id);
    try {
      const [min, max] = this.workMs;
      await sleep(min + Math.random() * (max - min)); // picking and packing: short, so close() lets it finish
      this.ledger.recordShipment(delivery.id, order.orderId);
    } finally {
      this.inProgress.delete(delivery.id);
      this.running--;
    }
    this.report({ t: 'shipped', id: delivery.id, running: this.running });
  }
}

/** The warehouse process: connects, subscribes with `concurrency`, ships until told to stop (or killed). */
export async function runWarehouse<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  config: WarehouseConfig<S>,
): Promise<void> {
  const say = progress(console.log, config.startedAt);
  const tell = (line: string) => say(`  warehouse #${config.instance}: ${line}`);
  const report = (event: WarehouseEvent) => process.send?.(event);
  const driverFactory = await target.adapter();
  const logger = quietLogger(tell);

  const container = new Container();
  container.bind(ShipmentLedger).toConstantValue(new ShipmentLedger(config.ledgerFile));
  container
    .bind(ShipOrderHandler)
    .toResolvedValue(
      (ledger: ShipmentLedger) => new ShipOrderHandler(ledger, config.workMs, report),
      [ShipmentLedger],
    )
    .inSingletonScope();
  container.load(
    losslessModule({
      bus: { driver: (s: S) => driverFactory(s, logger), options: config.settings, connect: { logger } },
      topology: orderTopology(config.topic),
      subscriptions: [
        subscription({
          topic: config.topic,
          subscription: WAREHOUSE_SUBSCRIPTION,
          handler: ShipOrderHandler,
          options: {
            concurrency: config.concurrency,
            onError: (error: LosslessError) => logger.warn(error.message),
          },
        }),
      ],
    }),
  );
  const runtime = await container.getAsync(LosslessRuntime);
  report({ t: 'ready', pid: process.pid, alreadyShipped: container.get(ShipmentLedger).size });

  // Run until the scenario says stop, or goes away.
  await new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => (m as { t?: string }).t === 'stop' && resolve());
    process.on('disconnect', () => resolve());
  });
  await runtime.shutdown(); // running handlers finish and are acked; the rest goes back to the broker
}
