// The order → warehouse story through the database boundary (`--postgres`): the order service commits each
// order row and its OrderPaid message in one PostgreSQL transaction (the transactional outbox of
// @lossless/postgres), a relay sends committed rows through the bus, and the warehouse writes each shipment
// in the inbox's transaction, so a redelivery of a handled message is acked without shipping again. On the
// way: the order service is SIGKILLed three times (before a COMMIT, right after one, after a broker confirm of
// a relay batch whose rows were not yet deleted), the warehouse once (after its COMMIT, before the ack), then
// the broker, then PostgreSQL. The count comes from the database: every committed order must have exactly one
// shipment row, and no shipment may exist without a committed order.
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BrokerSettings, postgres as postgresFixture } from '@lossless/brokers';
import { migrate } from '@lossless/postgres';
import pg from 'pg';
import { Conditions } from './conditions.js';
import {
  type KillPoint,
  PG_ROLE_ENV,
  type PgRoleCommand,
  type PgRoleConfig,
  type PgRoleEvent,
  storyTablesSql,
} from './pg-roles.js';
import { progress } from './report.js';
import { type ExampleTarget, spawnEntry } from './target.js';

export interface PgScenarioOptions {
  /** Orders to commit. Default 1,000. */
  orders?: number;
  /** Order transactions at once. Default 8. */
  concurrency?: number;
  /** Orders per second, at most. Default 150. */
  ratePerSecond?: number;
  /** Warehouse handlers at once. Default 8. */
  warehouseConcurrency?: number;
  /** How long to wait for every committed order to be shipped once the order service drained, ms. Default 180,000. */
  shipDeadlineMs?: number;
  /** Where progress lines go. Default: stdout. */
  log?: (line: string) => void;
}

/** The database's answer at the end, and what happened on the way. */
export interface PgAccounting {
  broker: string;
  database: string;
  /** Order rows committed. */
  committedOrders: number;
  /** Order transactions that failed (the database was away): rolled back, or committed without the writer
   * hearing so — the order table is the truth either way. */
  failedTransactions: number;
  /** Shipment rows. */
  shipments: number;
  /** Committed orders without a shipment. Must be 0. */
  lost: number;
  /** Shipment rows beyond the first of an order. Must be 0. */
  duplicateEffects: number;
  /** Shipments of an order that never committed. Must be 0. */
  phantom: number;
  /** Rows still in the outbox at the end. Must be 0. */
  outboxLeft: number;
  /** Redeliveries the inbox recognised and acked without running the handler. */
  inboxDuplicates: number;
  /** The kills, in order, each with what it left behind. */
  kills: string[];
  /** Ids of the orders whose writer died before its COMMIT: none of them may exist, nor their shipment. */
  uncommittedAtKill: string[];
  seconds: number;
}

interface Child {
  role: PgRoleConfig['role'];
  instance: number;
  process: ChildProcess;
  alive: boolean;
  ready: boolean;
  exited: Promise<NodeJS.Signals | null>;
  killing?: Extract<PgRoleEvent, { t: 'killing' }>;
  drained?: boolean;
}

/** Runs the story on `target`'s broker and the kit's own PostgreSQL, and returns the database's accounting. */
export async function runPgScenario<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  options: PgScenarioOptions = {},
): Promise<PgAccounting> {
  const orders = options.orders ?? 1_000;
  const started = Date.now();
  const say = progress(options.log, started);
  const conditions = new Conditions();
  const kills: string[] = [];
  const uncommittedAtKill: string[] = [];

  await target.adapter(); // fails here, clearly, when the adapter is missing
  const db = postgresFixture({ log: (line) => say(`  broker kit: ${line}`) });
  const broker = target.broker((line) => say(`  broker kit: ${line}`));
  say(`starting PostgreSQL and ${target.name} through the broker kit…`);
  await Promise.all([db.up(), broker.up()]);
  say(`PostgreSQL ${db.version} and ${target.name} ${broker.version} are up`);

  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const schema = `story_${runId}`;
  const topic = `pg-orders-${runId}`;
  const pool = new pg.Pool({ connectionString: db.settings.url, max: 2 });
  pool.on('error', () => {}); // an idle connection lost in the database restart: the next query opens another
  await migrate(pool, { schema });
  await pool.query(storyTablesSql(schema));
  say(`schema ${schema}: orders, shipments, lossless_outbox, lossless_inbox; topic ${topic}`);

  const committed = new Set<string>();
  let failedTransactions = 0;
  let inboxDuplicates = 0;
  let shipped = 0;
  const children: Child[] = [];
  const base = {
    startedAt: started,
    settings: broker.settings,
    databaseUrl: db.settings.url,
    schema,
    topic,
    ratePerSecond: options.ratePerSecond ?? 150,
  };

  const start = async (role: Child['role'], kill?: PgRoleConfig['kill']): Promise<Child> => {
    const instance = children.filter((c) => c.role === role).length + 1;
    const config: PgRoleConfig<S> = {
      ...base,
      role,
      instance,
      concurrency: role === 'orders' ? (options.concurrency ?? 8) : (options.warehouseConcurrency ?? 8),
      ...(kill ? { kill } : {}),
    };
    const name = `${role === 'orders' ? 'order service' : 'warehouse'} #${instance}`;
    say(`starting ${name}${kill ? ` (it will SIGKILL itself: ${kill.point} #${kill.at})` : ''}…`);
    const proc = spawnEntry(target.entry, PG_ROLE_ENV, config);
    const child: Child = {
      role,
      instance,
      process: proc,
      alive: true,
      ready: false,
      exited: new Promise((resolve) =>
        proc.once('exit', (_code, signal) => {
          child.alive = false;
          conditions.notify();
          resolve(signal);
        }),
      ),
    };
    proc.on('message', (raw) => {
      const e = raw as PgRoleEvent;
      if (e.t === 'ready') child.ready = true;
      else if (e.t === 'committed') committed.add(e.orderId);
      else if (e.t === 'failed') failedTransactions++;
      else if (e.t === 'duplicate') inboxDuplicates++;
      else if (e.t === 'shipped') shipped++;
      else if (e.t === 'killing') child.killing = e;
      else if (e.t === 'drained') child.drained = true;
      conditions.notify();
    });
    children.push(child);
    await conditions.until(
      `${name} is ready`,
      () => {
        if (!child.alive && !child.ready) throw new Error(`${name} exited before it was ready`);
        return child.ready;
      },
      180_000,
    );
    say(`${name} runs (pid ${proc.pid})`);
    return child;
  };

  /** A command to a child; one that already died cannot take it (its death is reported where it is awaited). */
  const tell = (child: Child, command: PgRoleCommand) => {
    if (child.alive && child.process.connected) child.process.send(command, () => {});
  };
  /** Waits for a child's self-inflicted SIGKILL and says what it left behind. */
  const died = async (child: Child, what: (k: NonNullable<Child['killing']>) => Promise<string>) => {
    const signal = await child.exited;
    const k = child.killing;
    if (signal !== 'SIGKILL' || !k) {
      throw new Error(
        `${child.role} #${child.instance} ended (${signal ?? 'exit'}) without its planned SIGKILL`,
      );
    }
    const line = `${child.role === 'orders' ? 'order service' : 'warehouse'} #${child.instance} SIGKILLed ${await what(k)}`;
    kills.push(line);
    say(line);
  };
  const count = async (sql: string, values: unknown[] = []) =>
    Number((await pool.query<{ n: string }>(sql, values)).rows[0]?.n ?? 0);
  const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo + 1));

  try {
    // The warehouse first: the subscription exists before the first message is sent.
    let warehouse = await start('warehouse');

    // The order service dies three times, each at a random visit of its point.
    const plan: { point: KillPoint; at: number }[] = [
      { point: 'before-commit', at: between(10, 40) },
      { point: 'after-commit', at: between(10, 40) },
      { point: 'relay-confirmed', at: between(20, 60) },
    ];
    for (const kill of plan) {
      const orderService = await start('orders', kill);
      await died(orderService, async (k) => {
        if (k.point === 'before-commit') {
          if (k.orderId) uncommittedAtKill.push(k.orderId);
          return `before the COMMIT of order ${k.orderId} (its order row and message were rolled back)`;
        }
        const waiting = await count(`SELECT count(*) AS n FROM ${schema}.lossless_outbox`);
        if (k.point === 'after-commit') {
          return `right after the COMMIT of order ${k.orderId}; ${waiting} committed message(s) were waiting in the outbox`;
        }
        return `after its relay's broker confirm #${k.at}, before the batch's rows were deleted (${waiting} row(s) left in the outbox, sent again)`;
      });
    }
    const orderService = await start('orders');

    // Writing stops at `orders` commits; the crashes below come before that point.
    const stopped = conditions
      .until(`${orders} orders are committed`, () => committed.size >= orders, 600_000)
      .then(() => {
        say(`${committed.size} orders committed: the order service stops writing and empties its outbox…`);
        tell(orderService, { t: 'stop' });
      });
    stopped.catch(() => {}); // awaited below
    /** Resolves once `fraction` of the orders (and a tenth more than now) are committed. */
    const reach = (fraction: number) => {
      const at = Math.min(
        orders - 1,
        Math.max(Math.ceil(orders * fraction), committed.size + Math.ceil(orders * 0.1)),
      );
      return conditions.until(`${at} orders are committed`, () => committed.size >= at, 300_000);
    };
    const sofar = () =>
      `${committed.size} orders committed, ${shipped} shipments and ${inboxDuplicates} inbox skips reported so far`;
    const crash = async (name: string, kill: () => Promise<void>, restart: () => Promise<void>) => {
      const before = committed.size;
      say(`killing ${name} (SIGKILL): ${sofar()}…`);
      const t0 = Date.now();
      await kill();
      await restart();
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      const line = `${name} SIGKILLed with ${before} orders committed, back after ${seconds} s (${committed.size - before} more committed meanwhile)`;
      kills.push(line);
      say(line);
    };

    // PostgreSQL, while orders are written and shipped: writers, the relay and the warehouse all lose it.
    await reach(0.3);
    await crash(
      'PostgreSQL',
      () => db.kill(),
      () => db.restart(),
    );

    // The warehouse, at its next shipment's COMMIT; customers hold on while its replacement starts (a Kafka
    // group waits for the dead member's session to time out first), as in the plain story.
    await reach(0.45);
    say(`arming the warehouse: it SIGKILLs itself after its next COMMIT, before the ack (${sofar()})…`);
    tell(warehouse, { t: 'arm', point: 'after-inbox-commit' });
    await died(warehouse, async () => 'after the COMMIT of a shipment, before its ack');
    tell(orderService, { t: 'pause' });
    warehouse = await start('warehouse');
    tell(orderService, { t: 'resume' });

    // The broker, while orders are written: the outbox grows, the relay catches up after the restart.
    await reach(0.7);
    await crash(
      target.name,
      () => broker.kill(),
      () => broker.restart(),
    );
    await stopped;
    await conditions.until(
      'the order service drained the outbox',
      () => {
        if (!orderService.alive && !orderService.drained) throw new Error('the order service died');
        return orderService.drained === true;
      },
      300_000,
    );
    await orderService.exited;

    const total = await count(`SELECT count(*) AS n FROM ${schema}.orders`);
    const deadline = Date.now() + (options.shipDeadlineMs ?? 180_000);
    say(
      `waiting until the warehouse has shipped all ${total} committed orders (${shipped} shipments and ` +
        `${inboxDuplicates} inbox skips reported so far)…`,
    );
    // The database is the truth (a warehouse killed after its COMMIT never said so): re-read it until done.
    while ((await count(`SELECT count(DISTINCT order_id) AS n FROM ${schema}.shipments`)) < total) {
      if (Date.now() > deadline) {
        say('gave up waiting: counting what the database has');
        break;
      }
      await sleep(200);
    }
    say('stopping the warehouse…');
    tell(warehouse, { t: 'stop' });
    await Promise.race([
      warehouse.exited,
      sleep(30_000, undefined, { ref: false }).then(() => warehouse.process.kill('SIGKILL')),
    ]);
  } finally {
    for (const c of children) if (c.alive) c.process.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
  }

  const s = schema;
  const row = (
    await pool.query<Record<string, string>>(
      `SELECT
         (SELECT count(*) FROM ${s}.orders) AS orders,
         (SELECT count(*) FROM ${s}.shipments) AS shipments,
         (SELECT count(*) FROM ${s}.orders o
           WHERE NOT EXISTS (SELECT 1 FROM ${s}.shipments x WHERE x.order_id = o.id)) AS lost,
         (SELECT coalesce(sum(n - 1), 0) FROM
           (SELECT count(*) AS n FROM ${s}.shipments GROUP BY order_id HAVING count(*) > 1) d) AS doubled,
         (SELECT count(*) FROM ${s}.shipments x
           WHERE NOT EXISTS (SELECT 1 FROM ${s}.orders o WHERE o.id = x.order_id)
              OR x.order_id = ANY($1::text[])) AS phantom,
         (SELECT count(*) FROM ${s}.lossless_outbox) AS outbox_left`,
      [uncommittedAtKill],
    )
  ).rows[0];
  const uncommittedFound = await count(`SELECT count(*) AS n FROM ${s}.orders WHERE id = ANY($1::text[])`, [
    uncommittedAtKill,
  ]);
  await pool.end();
  if (uncommittedFound > 0)
    throw new Error(`${uncommittedFound} order(s) whose writer died before COMMIT exist`);
  const n = (k: string) => Number(row?.[k] ?? Number.NaN);
  return {
    broker: `${target.name} ${broker.version}`,
    database: `PostgreSQL ${db.version}`,
    committedOrders: n('orders'),
    failedTransactions,
    shipments: n('shipments'),
    lost: n('lost'),
    duplicateEffects: n('doubled'),
    phantom: n('phantom'),
    outboxLeft: n('outbox_left'),
    inboxDuplicates,
    kills,
    uncommittedAtKill,
    seconds: (Date.now() - started) / 1000,
  };
}

/** The accounting table and its two last lines, `lost:` and `duplicate effects:`. */
export function formatPgAccounting(a: PgAccounting): string {
  const rows: [string, number, string][] = [
    ['committed', a.committedOrders, 'orders committed with their OrderPaid message (the orders table)'],
    ['failed', a.failedTransactions, 'order transactions that failed while PostgreSQL was away'],
    ['shipments', a.shipments, 'shipment rows (the shipments table)'],
    ['inbox skips', a.inboxDuplicates, 'redeliveries the inbox recognised: acked, not shipped again'],
    ['outbox left', a.outboxLeft, 'rows still waiting in the outbox'],
    ['phantom', a.phantom, 'shipments of an order that never committed'],
    ['lost', a.lost, 'committed orders never shipped'],
    ['duplicate', a.duplicateEffects, 'shipments beyond the first of an order'],
  ];
  const width = Math.max(...rows.map(([, n]) => String(n).length));
  return [
    `order → warehouse through ${a.database} on ${a.broker}: ${a.kills.length} kills, ${a.seconds.toFixed(1)} s`,
    ...a.kills.map((k) => `  - ${k}`),
    '',
    ...rows.map(([name, n, what]) => `  ${name.padEnd(12)} ${String(n).padStart(width)}   ${what}`),
    '',
    `lost: ${a.lost}`,
    `duplicate effects: ${a.duplicateEffects}`,
  ].join('\n');
}
