// The scenario runner: the order → warehouse story with real crashes. It brings the broker up through the kit,
// runs the warehouse as a child process, publishes orders from many concurrent callers, SIGKILLs the warehouse
// while it holds orders and starts a new one, SIGKILLs the broker while orders are still being published and
// restarts it, waits until every confirmed order is shipped, and counts from the warehouse's ledger file.
// Every wait is for an event (an IPC message, a settled publish, a process exit) under a deadline.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerSettings } from '@lossless/brokers';
import { isLosslessError } from '@lossless/core';
import { Conditions, deferred } from './conditions.js';
import { orderTopology } from './events.js';
import { readLedger } from './ledger.js';
import { orderServiceContainer, startOrderService } from './order-service.js';
import { type Accounting, progress, quietLogger } from './report.js';
import { type ExampleTarget, spawnEntry } from './target.js';
import { WAREHOUSE_ENV, type WarehouseConfig, type WarehouseEvent } from './warehouse.js';

export interface ScenarioOptions {
  /** Orders to publish. Default 2,000. */
  orders?: number;
  /** Concurrent callers of `orderPaid()`, each awaiting its publish. Default 32. */
  callers?: number;
  /** Orders paid per second, at most. Default 250. */
  ratePerSecond?: number;
  /** Warehouse handlers running at once. Default 16. */
  concurrency?: number;
  /** Simulated work per shipment, ms. Default [40, 160]: slower than orders arrive, so the warehouse is busy. */
  workMs?: readonly [number, number];
  /** How long to wait for every confirmed order to be shipped once publishing ended, ms. Default 180,000. */
  shipDeadlineMs?: number;
  /** Where progress lines go. Default: stdout. */
  log?: (line: string) => void;
}

/** One warehouse child process and what it told us. */
interface Warehouse {
  instance: number;
  child: ChildProcess;
  shipped: number;
  running: number;
  exited: Promise<void>;
  alive: boolean;
}

/** Runs the story on `target`'s broker and returns the accounting. Throws when a step misses its deadline. */
export async function runScenario<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  options: ScenarioOptions = {},
): Promise<Accounting> {
  const orders = options.orders ?? 2_000;
  const callers = Math.min(options.callers ?? 32, orders);
  const rate = options.ratePerSecond ?? 250;
  const concurrency = options.concurrency ?? 16;
  const workMs = options.workMs ?? [40, 160];
  const started = Date.now();
  const say = progress(options.log, started);

  const driverFactory = await target.adapter(); // fails here, clearly, when the adapter is missing
  const broker = target.broker((line) => say(`  broker kit: ${line}`));
  say(`starting ${target.name} through the broker kit…`);
  await broker.up();
  say(`${target.name} ${broker.version} is up (${broker.cluster})`);

  const runId = `${Date.now().toString(36)}-${process.pid.toString(36)}`;
  const topic = `orders-${runId}`;
  const ledgerFile = join(mkdtempSync(join(tmpdir(), 'lossless-warehouse-')), 'ledger.jsonl');
  const logger = quietLogger((line) => say(`  order service: ${line}`));
  const conditions = new Conditions();

  // What the order service knows: confirmed message ids and rejected publishes.
  const confirmed = new Set<string>();
  const rejectedByCode: Record<string, number> = {};
  let rejected = 0;
  // What the warehouses told us (IPC), re-synced from the ledger file whenever a new warehouse starts.
  const shipped = new Set<string>();
  let confirmedShipped = 0;
  const markShipped = (id: string) => {
    if (shipped.has(id)) return;
    shipped.add(id);
    if (confirmed.has(id)) confirmedShipped++;
  };
  const markConfirmed = (id: string) => {
    confirmed.add(id);
    if (shipped.has(id)) confirmedShipped++;
  };
  const syncFromLedger = () => {
    for (const line of readLedger(ledgerFile)) markShipped(line.id);
  };

  const container = orderServiceContainer(
    { driver: (s: S) => driverFactory(s, logger), options: broker.settings, connect: { logger } },
    topic,
    orderTopology(topic),
  );
  const warehouses: Warehouse[] = [];
  let brokerKills = 0;
  try {
    const { service, runtime } = await startOrderService(container);
    say(`order service connected; topic ${topic} and its subscription "warehouse" declared`);

    const startWarehouse = async (): Promise<Warehouse> => {
      const instance = warehouses.length + 1;
      const config: WarehouseConfig<S> = {
        instance,
        startedAt: started,
        settings: broker.settings,
        topic,
        ledgerFile,
        concurrency,
        workMs,
      };
      say(`starting warehouse #${instance} (child process, ${concurrency} handlers at once)…`);
      const child = spawnEntry(target.entry, WAREHOUSE_ENV, config);
      let ready = false;
      const w: Warehouse = {
        instance,
        child,
        shipped: 0,
        running: 0,
        alive: true,
        exited: new Promise((resolve) =>
          child.once('exit', () => {
            w.alive = false;
            conditions.notify();
            resolve();
          }),
        ),
      };
      child.on('message', (raw) => {
        const event = raw as WarehouseEvent;
        if (event.t === 'ready') {
          ready = true;
          syncFromLedger(); // the previous warehouse is dead: the ledger holds everything it recorded
          say(
            `warehouse #${instance} is consuming (pid ${event.pid}; ${event.alreadyShipped} orders in its ledger)`,
          );
        } else {
          if (event.t === 'shipped') w.shipped++;
          w.running = event.running;
          markShipped(event.id);
        }
        conditions.notify();
      });
      warehouses.push(w);
      await conditions.until(
        `warehouse #${instance} is ready`,
        () => {
          if (!w.alive) throw new Error(`warehouse #${instance} exited before it was ready`);
          return ready;
        },
        120_000,
      );
      return w;
    };

    let warehouse = await startWarehouse();

    // The order service: `callers` concurrent request handlers, each awaiting its publish. Orders past 35 % wait
    // until the warehouse was killed and replaced, orders past 85 % until the broker was killed, so both crashes
    // happen while orders are still coming in.
    const warehouseReplaced = deferred();
    const brokerKilled = deferred();
    const publishStart = Date.now();
    say(`publishing ${orders} orders from ${callers} concurrent callers (up to ${rate}/s)…`);
    const publishing = Promise.all(
      Array.from({ length: callers }, async (_, caller) => {
        for (let i = caller; i < orders; i += callers) {
          if (i >= orders * 0.35) await warehouseReplaced.promise;
          if (i >= orders * 0.85) await brokerKilled.promise;
          const due = publishStart + (i / rate) * 1000; // customers pay at their own pace
          if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
          try {
            const receipt = await service.orderPaid({
              orderId: `order-${String(i).padStart(6, '0')}`,
              customerId: `customer-${i % 97}`,
              amountCents: 1_000 + ((i * 7919) % 90_000),
            });
            markConfirmed(receipt.id);
          } catch (error) {
            const code = isLosslessError(error) ? error.code : 'ERROR';
            rejectedByCode[code] = (rejectedByCode[code] ?? 0) + 1;
            rejected++;
          }
          conditions.notify();
        }
      }),
    );
    const settled = () => confirmed.size + rejected;

    // Crash 1: the warehouse dies with orders in its hands.
    const killAt = Math.ceil(orders * 0.15);
    await conditions.until(
      `warehouse #1 shipped ${killAt} orders`,
      () => warehouse.shipped >= killAt && warehouse.running > 0,
      120_000,
    );
    const held = warehouse.running;
    say(`killing the warehouse (SIGKILL) while it holds ${held} orders…`);
    warehouse.child.kill('SIGKILL');
    await warehouse.exited;
    say(
      `warehouse #1 is dead; the ${held} orders it held were never acked, so the broker delivers them again`,
    );
    warehouse = await startWarehouse();
    warehouseReplaced.open();

    // Crash 2: the broker dies while publishes are waiting for their confirms: once the new warehouse consumes
    // and another tenth of the orders went through (orders past 85 % wait for this kill, so it comes before).
    const killAtConfirmed = Math.min(Math.max(orders * 0.5, confirmed.size + orders * 0.1), orders * 0.8);
    await conditions.until(
      `${Math.ceil(killAtConfirmed)} orders are confirmed`,
      () => confirmed.size >= killAtConfirmed,
      180_000,
    );
    const pending = runtime.bus.pendingConfirms;
    say(
      `killing ${target.name} (SIGKILL) in the middle of publishing: ${confirmed.size} orders confirmed, ` +
        `${pending > 0 ? `${pending} awaiting their confirm, ` : ''}${orders - settled()} still to come…`,
    );
    const killedAt = Date.now();
    await broker.kill();
    brokerKills++;
    brokerKilled.open(); // the remaining orders now meet a dead broker
    say(`${target.name} is dead; publishing goes on (core re-sends, the driver reconnects); restarting it…`);
    await broker.restart();
    say(`${target.name} is back after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);

    await publishing;
    say(
      `all ${orders} publishes settled: ${confirmed.size} confirmed, ${rejected} rejected` +
        (rejected > 0
          ? ' (their callers got the error: those orders are not reported paid and can be retried)'
          : ''),
    );

    const deadline = options.shipDeadlineMs ?? 180_000;
    say(`waiting until the warehouse has shipped every confirmed order (at most ${deadline / 1000} s)…`);
    await conditions
      .until('every confirmed order is shipped', () => confirmedShipped >= confirmed.size, deadline)
      .catch((error: Error) => say(`${error.message}: counting what the ledger has`));

    say('stopping the warehouse (it finishes running handlers and acks them)…');
    warehouse.child.send({ t: 'stop' });
    await Promise.race([
      warehouse.exited,
      new Promise((r) => setTimeout(r, 30_000).unref()).then(() => warehouse.child.kill('SIGKILL')),
    ]);
    await runtime.shutdown();
  } finally {
    for (const w of warehouses) if (w.alive) w.child.kill('SIGKILL');
    await Promise.all(warehouses.map((w) => w.exited));
    await container.unbindAllAsync().catch(() => {});
  }

  // The accounting, from the ledger file: what was really shipped, whatever the IPC channel carried.
  const ledger = readLedger(ledgerFile);
  const shippedCount = new Map<string, number>();
  let duplicates = 0;
  for (const line of ledger) {
    if (line.kind === 'duplicate') duplicates++;
    else shippedCount.set(line.id, (shippedCount.get(line.id) ?? 0) + 1);
  }
  const deliveredUnconfirmed = [...shippedCount.keys()].filter((id) => !confirmed.has(id)).length;
  return {
    broker: `${target.name} ${broker.version}`,
    published: orders,
    confirmed: confirmed.size,
    unconfirmed: rejected,
    unconfirmedByCode: rejectedByCode,
    delivered: shippedCount.size,
    deliveredUnconfirmed,
    duplicates,
    confirmedIds: [...confirmed],
    lost: [...confirmed].filter((id) => !shippedCount.has(id)).length,
    phantom: ledger.filter((l) => !isPublishedOrder(l.orderId, orders)).length,
    shippedTwice: [...shippedCount.values()].filter((n) => n > 1).length,
    warehouseKills: 1,
    brokerKills,
    ledgerFile,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Whether an order id is one the order service tried to publish (order-000000 … order-<orders - 1>). */
function isPublishedOrder(orderId: string, orders: number): boolean {
  const m = /^order-(\d{6})$/.exec(orderId);
  return m !== null && Number(m[1]) < orders;
}
