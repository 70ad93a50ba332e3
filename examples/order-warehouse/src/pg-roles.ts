// The two processes of the PostgreSQL story, each a child of the scenario so that it can die for real: the
// order service (transactions that insert an order row and write its OrderPaid message into the outbox, and
// the relay that sends committed rows through the bus) and the warehouse (its handler writes the shipment row
// in the inbox's transaction). Each can be told to SIGKILL itself the n-th time it reaches one point of its
// work, so every crash point the story names is really hit: before a COMMIT, right after one, after a broker
// confirm of a relay batch whose rows are not yet deleted, after the warehouse's COMMIT and before its ack.
import { setTimeout as sleep } from 'node:timers/promises';
import type { BrokerSettings } from '@lossless/brokers';
import { type Bus, connect, type Delivery, describeError, type Handler, type Topology } from '@lossless/core';
import { postgresInbox, postgresOutbox } from '@lossless/postgres';
import pg from 'pg';
import type { OrderPaid } from './events.js';
import { progress, quietLogger } from './report.js';
import type { ExampleTarget } from './target.js';

export const PG_ROLE_ENV = 'LOSSLESS_EXAMPLE_PG_ROLE';

/** Where a process of the story kills itself. */
export type KillPoint = 'before-commit' | 'after-commit' | 'relay-confirmed' | 'after-inbox-commit';

/** What the scenario tells a child (JSON in LOSSLESS_EXAMPLE_PG_ROLE). */
export interface PgRoleConfig<S extends BrokerSettings = BrokerSettings> {
  role: 'orders' | 'warehouse';
  /** 1 for the first process of its role, 2 for its replacement… */
  instance: number;
  /** The scenario's start (ms since the epoch): progress lines share its clock. */
  startedAt: number;
  settings: S;
  databaseUrl: string;
  /** The run's schema: orders, shipments, the outbox and the inbox. */
  schema: string;
  topic: string;
  /** orders: transactions at once; warehouse: handlers at once. */
  concurrency: number;
  /** orders: orders per second, all writers together. */
  ratePerSecond: number;
  /** SIGKILL itself the `at`-th time `point` is reached. */
  kill?: { point: KillPoint; at: number };
}

/** What the scenario tells a running child over IPC. */
export type PgRoleCommand =
  /** orders: stop writing, empty the outbox, exit. warehouse: close the subscription, exit. */
  | { t: 'stop' }
  /** orders: writers wait (the customers hold on) until `resume`. */
  | { t: 'pause' }
  | { t: 'resume' }
  /** SIGKILL itself the next time `point` is reached. */
  | { t: 'arm'; point: KillPoint };

/** What a child tells the scenario over IPC. */
export type PgRoleEvent =
  | { t: 'ready'; pid: number }
  /** orders: a transaction committed (the order and its message). */
  | { t: 'committed'; orderId: string }
  /** orders: a transaction failed (the database was away): nothing of it committed, or its COMMIT's fate is
   * unknown — the database says which at the end. */
  | { t: 'failed'; error: string }
  /** warehouse: a shipment committed, or a redelivery the inbox recognised. */
  | { t: 'shipped' | 'duplicate'; id: string }
  /** orders: stopped writing, and the outbox is empty. */
  | { t: 'drained' }
  /** About to SIGKILL itself; `orderId`: the order whose transaction it dies in or right after. */
  | { t: 'killing'; point: KillPoint; at: number; orderId?: string };

/** The topic and the warehouse's subscription: enough deliveries to outlast a database restart. */
export function pgTopology(topic: string): Topology {
  return {
    topics: [{ name: topic }],
    subscriptions: [{ name: 'warehouse', topic, maxDeliveries: 200 }],
  };
}

/** The SQL of the story's own tables. Shipments have no unique constraint: a double effect would show. */
export function storyTablesSql(schema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${schema}.orders (
      id text PRIMARY KEY, customer_id text NOT NULL, amount_cents integer NOT NULL,
      committed_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS ${schema}.shipments (
      seq bigserial PRIMARY KEY, order_id text NOT NULL, message_id text NOT NULL, warehouse integer NOT NULL,
      shipped_at timestamptz NOT NULL DEFAULT now());`;
}

function send(event: PgRoleEvent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) resolve();
    else process.send(event, () => resolve());
  });
}

type Point = (point: KillPoint, orderId?: string) => Promise<void>;

/** The scenario's commands, and the kill switch: counts visits of the planned point, SIGKILLs at the planned one. */
class Controls {
  readonly stopped: Promise<void>;
  stopping = false;
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private kill: PgRoleConfig['kill'];
  private reached = 0;

  constructor(kill: PgRoleConfig['kill']) {
    this.kill = kill;
    this.stopped = new Promise<void>((resolve) => {
      const stop = () => {
        this.stopping = true;
        this.gate?.open();
        resolve();
      };
      process.on('disconnect', stop);
      process.on('message', (raw: unknown) => {
        const m = raw as PgRoleCommand;
        if (m.t === 'stop') stop();
        else if (m.t === 'pause' && !this.gate) {
          let open!: () => void;
          const promise = new Promise<void>((r) => {
            open = r;
          });
          this.gate = { promise, open };
        } else if (m.t === 'resume') {
          this.gate?.open();
          this.gate = undefined;
        } else if (m.t === 'arm') {
          this.kill = { point: m.point, at: 1 };
          this.reached = 0;
        }
      });
    });
  }

  /** Resolves at once, or once a pause ends. */
  async open(): Promise<void> {
    await this.gate?.promise;
  }

  /** One visit of `point`: SIGKILLs this process when it is the planned one (after telling the scenario). */
  readonly point: Point = async (point, orderId) => {
    if (this.kill?.point !== point) return;
    if (++this.reached !== this.kill.at) return;
    await send({ t: 'killing', point, at: this.reached, ...(orderId === undefined ? {} : { orderId }) });
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => {}); // SIGKILL is immediate; nothing after this line runs
  };
}

/** Runs the child role named in `config`, until the scenario says stop (or it kills itself). */
export async function runPgRole<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  config: PgRoleConfig<S>,
): Promise<void> {
  const name = config.role === 'orders' ? 'order service' : 'warehouse';
  const say = progress(console.log, config.startedAt);
  const logger = quietLogger((line) => say(`  ${name} #${config.instance}: ${line}`));
  const driverFactory = await target.adapter();
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.concurrency + 2 });
  // An idle connection whose server went away is dropped by the pool; the next checkout opens a new one.
  pool.on('error', () => {});
  const bus = await connect(driverFactory(config.settings, logger), { logger });
  await bus.declare(pgTopology(config.topic));
  const controls = new Controls(config.kill);
  if (config.role === 'orders') await runOrders(config, pool, bus, controls, logger);
  else await runWarehouse(config, pool, bus, controls);
  await bus.close();
  await pool.end();
}

async function runOrders(
  c: PgRoleConfig,
  pool: pg.Pool,
  bus: Bus,
  controls: Controls,
  logger: ReturnType<typeof quietLogger>,
): Promise<void> {
  const { point } = controls;
  const outbox = postgresOutbox({ pool, schema: c.schema, logger });
  // The relay publishes through a bus whose publish() counts confirms: the relay deletes a batch's rows only
  // once all of them settled, so a kill after one confirm leaves confirmed rows in the table (sent again).
  const counted = new Proxy(bus, {
    get(target, property, receiver) {
      if (property !== 'publish') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<Bus['publish']>) => {
        const receipt = await target.publish(...args);
        await point('relay-confirmed');
        return receipt;
      };
    },
  });
  const relay = outbox.relay(counted, {
    batchSize: 50,
    pollIntervalMs: 250,
    retryBackoff: { initialDelayMs: 100, maxDelayMs: 2_000 },
  });
  await send({ t: 'ready', pid: process.pid });

  let next = 0;
  const interval = (c.concurrency * 1000) / c.ratePerSecond; // between one writer's orders
  const placeOrder = async (orderId: string, n: number) => {
    const event: OrderPaid = {
      type: 'OrderPaid',
      orderId,
      customerId: `customer-${n % 97}`,
      amountCents: 1_000 + ((n * 7919) % 90_000),
      paidAt: new Date().toISOString(),
    };
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error; // the server went away: the statement in flight rejects too
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${c.schema}.orders (id, customer_id, amount_cents) VALUES ($1, $2, $3)`,
        [orderId, event.customerId, event.amountCents],
      );
      await outbox.publish(client, c.topic, { key: orderId, body: JSON.stringify(event) });
      await point('before-commit', orderId);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken ??= e;
      });
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
    await point('after-commit', orderId);
  };
  await Promise.all(
    Array.from({ length: c.concurrency }, async () => {
      let due = Date.now();
      while (!controls.stopping) {
        await controls.open();
        // Customers pay at their own pace; after a pause they do not pay the missed orders all at once.
        due = Math.max(due, Date.now());
        await sleep(due - Date.now());
        due += interval;
        if (controls.stopping) break;
        const n = next++;
        const orderId = `order-${c.instance}-${String(n).padStart(6, '0')}`;
        try {
          await placeOrder(orderId, n);
          await send({ t: 'committed', orderId });
        } catch (error) {
          await send({ t: 'failed', error: describeError(error).slice(0, 300) });
          await sleep(100); // the database is restarting: the next order tries again shortly
        }
      }
    }),
  );
  // Stopped writing: wait until the relay has sent everything (its rows are gone from the outbox).
  for (;;) {
    const left = await pool
      .query<{ n: string }>(`SELECT count(*) AS n FROM ${c.schema}.lossless_outbox`)
      .then((r) => Number(r.rows[0]?.n ?? 1))
      .catch(() => 1);
    if (left === 0) break;
    await sleep(100); // re-checks a table another process (the relay) empties; no event to wait for
  }
  await relay.close();
  await send({ t: 'drained' });
}

async function runWarehouse(c: PgRoleConfig, pool: pg.Pool, bus: Bus, controls: Controls): Promise<void> {
  const { point } = controls;
  const inbox = postgresInbox({ pool, schema: c.schema });
  const ran = new Set<Delivery>(); // deliveries whose handler ran (not recognised as duplicates)
  const ship = inbox.handler(async (delivery, tx) => {
    ran.add(delivery);
    const order = delivery.json() as OrderPaid;
    await tx.query(
      `INSERT INTO ${c.schema}.shipments (order_id, message_id, warehouse) VALUES ($1, $2, $3)`,
      [order.orderId, delivery.id, c.instance],
    );
    await sleep(2 + Math.random() * 8); // picking and packing
  });
  const handler: Handler = async (delivery, context) => {
    let duplicate: boolean;
    try {
      await ship(delivery, context); // committed (or recognised as handled) when this resolves
    } finally {
      duplicate = !ran.delete(delivery);
    }
    if (!duplicate) await point('after-inbox-commit'); // dies before core acks
    await send({ t: duplicate ? 'duplicate' : 'shipped', id: delivery.id });
  };
  const sub = await bus.subscribe(c.topic, 'warehouse', handler, {
    concurrency: c.concurrency,
    redeliveryBackoff: { initialDelayMs: 50, maxDelayMs: 1_000 },
    onError: () => {}, // failures while the database restarts: redelivered, and counted at the end
  });
  await send({ t: 'ready', pid: process.pid });
  await controls.stopped;
  await sub.close();
}
