// The outbox and the inbox against a real PostgreSQL (the kit's own on 55432, or LOSSLESS_POSTGRES_URL) and a real
// RabbitMQ (the kit's, or LOSSLESS_BROKERS=external with LOSSLESS_RABBITMQ_URL): a commit is sent and a rollback
// is not; rows written while the relay is busy (no NOTIFY) and while it is idle (a NOTIFY) are all sent without
// waiting for its poll, a transaction held open across the relay's catching up included; a relay closed half-way
// and started again loses nothing; two relays at once send each row once; a relay whose connection dies
// mid-stream is replaced by the other with nothing lost; the inbox runs a handler once per message id (a
// redelivery is acked without it) and a handler that throws commits nothing and runs again. Every message
// counted by id: lost, duplicates.
import { createBroker, postgres as postgresFixture } from '@lossless/brokers';
import { type Bus, connect, type Delivery, silentLogger } from '@lossless/core';
import { rabbitmq } from '@lossless/rabbitmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresInbox } from './inbox.js';
import { postgresOutbox } from './outbox.js';
import { migrate } from './schema.js';

const db = postgresFixture();
const mq = createBroker('rabbitmq');
let pool: pg.Pool;
const suffix = `${process.pid}_${Date.now().toString(36)}`;
let n = 0;

beforeAll(async () => {
  await Promise.all([db.up(), mq.up()]);
  pool = new pg.Pool({ connectionString: db.settings.url, max: 20 });
}, 300_000);
afterAll(async () => {
  await pool?.end();
});

/** A fresh schema, topic and subscription; a bus on the kit's RabbitMQ. */
async function fresh() {
  n++;
  const schema = `t_${suffix}_${n}`;
  await migrate(pool, { schema });
  const topic = `pg-${suffix.replace(/_/g, '-')}-${n}`;
  const bus = await connect(rabbitmq({ url: mq.settings.urls[0] ?? '', logger: silentLogger }), {
    logger: silentLogger,
  });
  await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 'w', topic, maxDeliveries: 5 }] });
  return {
    schema,
    topic,
    bus,
    outbox: postgresOutbox({ pool, schema }),
    inbox: postgresInbox({ pool, schema }),
  };
}

/** Writes `count` messages, each in its own committed transaction (`rollback` ones are rolled back). */
async function write(
  outbox: ReturnType<typeof postgresOutbox>,
  topic: string,
  bodies: string[],
  rollback: (body: string) => boolean = () => false,
): Promise<string[]> {
  const committed: string[] = [];
  for (const body of bodies) {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const { id } = await outbox.publish(c, topic, { body, key: `k${body.length % 4}` });
      if (rollback(body)) await c.query('ROLLBACK');
      else {
        await c.query('COMMIT');
        committed.push(id);
      }
    } finally {
      c.release();
    }
  }
  return committed;
}

/** Consumes until every id in `expected` arrived (bounded), and returns how often each id came. */
async function collect(bus: Bus, topic: string, expected: readonly string[], withinMs = 60_000) {
  const seen = new Map<string, number>();
  const missing = new Set(expected);
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const sub = await bus.subscribe(topic, 'w', (d: Delivery) => {
    seen.set(d.id, (seen.get(d.id) ?? 0) + 1);
    missing.delete(d.id);
    if (missing.size === 0) done();
  });
  if (missing.size === 0) done();
  const timer = setTimeout(done, withinMs);
  await all;
  clearTimeout(timer);
  await sub.close();
  return { seen, lost: [...missing], duplicates: [...seen.values()].filter((c) => c > 1).length };
}

/** Resolves once `condition()` holds (checked every few ms), or fails the test after `withinMs`. */
async function until(what: string, condition: () => boolean, withinMs = 30_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function outboxRows(schema: string): Promise<number> {
  const r = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.lossless_outbox`);
  return Number(r.rows[0]?.n ?? -1);
}

/**
 * Advisory locks held on an outbox table: the relay's sender lock (one bigint key) and the writers' lock (two int
 * keys: the table's hash, 1) — or, `idle`, only the writers' lock held exclusively (the relay is idle).
 */
async function advisoryLocks(schema: string, idle = false): Promise<number> {
  const r = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks, LATERAL (SELECT hashtext($1)::bigint & 4294967295 AS h) k
      WHERE locktype = 'advisory' AND granted
        AND ((objsubid = 1 AND objid::text::bigint = k.h AND NOT $2)
          OR (objsubid = 2 AND classid::text::bigint = k.h AND objid::text::bigint = 1
              AND (mode = 'ExclusiveLock' OR NOT $2)))`,
    [`${schema}.lossless_outbox`, idle],
  );
  return r.rows[0]?.n ?? -1;
}

describe('postgres outbox', () => {
  it('sends what committed, never what rolled back; the table is empty after the confirms', async () => {
    const { schema, topic, bus, outbox } = await fresh();
    const relay = outbox.relay(bus);
    const bodies = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const committed = await write(outbox, topic, bodies, (b) => Number(b.slice(1)) % 4 === 0);
    expect(committed).toHaveLength(30);
    const r = await collect(bus, topic, committed);
    await relay.close();
    expect(r.lost).toEqual([]);
    expect(r.duplicates).toBe(0);
    expect(r.seen.size).toBe(30); // none of the 10 rolled-back messages arrived
    expect(await outboxRows(schema)).toBe(0);
    await bus.close();
  });

  it('wakes without its poll: rows written while it is busy, one held open while it catches up, and one while idle', async () => {
    const { schema, topic, bus, outbox } = await fresh();
    // A transaction that writes its row and stays open: it holds the writers' lock, so the relay cannot go idle
    // before it commits, and its row, written while no relay was idle, comes with no NOTIFY.
    const held = await pool.connect();
    const seen = new Set<string>();
    const sub = await bus.subscribe(topic, 'w', (d: Delivery) => {
      seen.add(d.id);
    });
    let relay: ReturnType<typeof outbox.relay> | undefined;
    let open = true;
    try {
      await held.query('BEGIN');
      const { id: late } = await outbox.publish(held, topic, { body: 'held open' });
      const backlog = await write(
        outbox,
        topic,
        Array.from({ length: 60 }, (_, i) => `backlog-${i}`),
      );
      // A poll this long would fail the test: every row must come through a NOTIFY or the relay's own re-reads.
      relay = outbox.relay(bus, { batchSize: 5, pollIntervalMs: 3_600_000 });
      const during = await write(
        outbox,
        topic,
        Array.from({ length: 20 }, (_, i) => `during-${i}`),
      );
      const committed = [...backlog, ...during];
      await until('the committed rows', () => committed.every((id) => seen.has(id)), 10_000);
      await new Promise((r) => setTimeout(r, 300)); // the relay has read its table empty by now, more than once
      expect(seen.has(late)).toBe(false);
      await held.query('COMMIT');
      open = false;
      await until('the row of the transaction held open', () => seen.has(late), 10_000);
      // Idle now (no writer in flight, the writers' lock held by the relay): the next writer NOTIFYs.
      const deadline = Date.now() + 10_000;
      while ((await advisoryLocks(schema, true)) !== 1) {
        if (Date.now() > deadline) throw new Error('timed out waiting for the relay to go idle');
        await new Promise((r) => setTimeout(r, 20));
      }
      const [idle] = await write(outbox, topic, ['idle']);
      await until('the row written while the relay was idle', () => seen.has(idle ?? ''), 10_000);
    } finally {
      if (open) await held.query('ROLLBACK').catch(() => {});
      held.release();
      await sub.close();
      await relay?.close();
    }
    expect(relay.stats.sent).toBe(82);
    expect(await outboxRows(schema)).toBe(0);
    // The relay let go of both its locks (the sender's and the writers') when it closed.
    expect(await advisoryLocks(schema)).toBe(0);
    await bus.close();
  });

  it('a relay closed half-way and started again (another bus) loses nothing', async () => {
    const { schema, topic, bus, outbox } = await fresh();
    const committed = await write(
      outbox,
      topic,
      Array.from({ length: 300 }, (_, i) => `r${i}`),
    );
    const first = outbox.relay(bus, { batchSize: 20 });
    // Close it once it has sent something but not everything.
    await until('the first relay to send a batch', () => first.stats.sent > 0);
    await first.close();
    expect(first.stats.sent).toBeLessThan(300);
    const other = await connect(rabbitmq({ url: mq.settings.urls[0] ?? '', logger: silentLogger }), {
      logger: silentLogger,
    });
    const second = outbox.relay(other, { batchSize: 20 });
    const r = await collect(bus, topic, committed);
    await second.close();
    expect(r.lost).toEqual([]);
    expect(first.stats.sent + second.stats.sent).toBe(300);
    expect(await outboxRows(schema)).toBe(0);
    await other.close();
    await bus.close();
  });

  it('two relays at once: one sends, each row once; when its connection dies, the other takes over', async () => {
    const { schema, topic, bus, outbox } = await fresh();
    const other = await connect(rabbitmq({ url: mq.settings.urls[0] ?? '', logger: silentLogger }), {
      logger: silentLogger,
    });
    const a = outbox.relay(bus, { batchSize: 10, pollIntervalMs: 100 });
    const b = outbox.relay(other, { batchSize: 10, pollIntervalMs: 100 });
    const firstHalf = await write(
      outbox,
      topic,
      Array.from({ length: 100 }, (_, i) => `a${i}`),
    );
    const r1 = await collect(bus, topic, firstHalf);
    expect(r1.lost).toEqual([]);
    expect(r1.duplicates).toBe(0);
    expect([a.stats.leader, b.stats.leader].filter(Boolean)).toHaveLength(1);
    // Kill the leader's lock connection from the server side, as a crashed relay process would lose it.
    const leader = a.stats.leader ? a : b;
    const standby = leader === a ? b : a;
    const terminated = await pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
         AND objid::text::bigint = (hashtext($1)::bigint & 4294967295)`,
      [`${schema}.lossless_outbox`],
    );
    expect(terminated.rows).toEqual([{ pg_terminate_backend: true }]); // the one lock holder, and only it
    const secondHalf = await write(
      outbox,
      topic,
      Array.from({ length: 100 }, (_, i) => `b${i}`),
    );
    const r2 = await collect(bus, topic, secondHalf);
    await a.close();
    await b.close();
    expect(r2.lost).toEqual([]);
    expect(standby.stats.sent + leader.stats.sent).toBeGreaterThanOrEqual(200); // re-sends count twice
    expect(await outboxRows(schema)).toBe(0);
    await other.close();
    await bus.close();
  });
});

describe('postgres inbox', () => {
  it('runs a handler once per message id: a redelivered duplicate is acked without it, a throw commits nothing', async () => {
    const { schema, topic, bus, inbox } = await fresh();
    await pool.query(`CREATE TABLE ${schema}.shipments (order_id text PRIMARY KEY, attempt int NOT NULL)`);
    let runs = 0;
    const sub = await bus.subscribe(
      topic,
      'w',
      inbox.handler(async (d, tx) => {
        runs++;
        await tx.query(`INSERT INTO ${schema}.shipments VALUES ($1, $2)`, [d.text(), d.attempt]);
        if (d.text() === 'flaky' && d.attempt === 1) throw new Error('after the write, before the commit');
      }),
      { redeliveryBackoff: { initialDelayMs: 20, maxDelayMs: 20, jitter: 'none' } },
    );
    await bus.publish(topic, { body: 'o-1', id: 'order-1' });
    await bus.publish(topic, { body: 'flaky', id: 'order-2' });
    await until('both orders handled', () => inbox.stats.handled === 2);
    // The same message id again (a redelivery after a crash between commit and ack looks exactly like this).
    await bus.publish(topic, { body: 'o-1', id: 'order-1' });
    await until('the duplicate to be acked', () => inbox.stats.duplicates > 0);
    await sub.close();
    const rows = await pool.query<{ order_id: string; attempt: number }>(
      `SELECT order_id, attempt FROM ${schema}.shipments ORDER BY order_id`,
    );
    expect(rows.rows).toEqual([
      { order_id: 'flaky', attempt: 2 },
      { order_id: 'o-1', attempt: 1 },
    ]);
    expect(inbox.stats).toEqual({ handled: 2, duplicates: 1 });
    expect(runs).toBe(3); // o-1 once, flaky twice (the first rolled back), the duplicate never
    expect(await inbox.cleanup({ olderThanMs: 0 })).toBe(2);
    await bus.close();
  });
});
