// What the transactional outbox costs, on the kit's RabbitMQ and PostgreSQL: `concurrency` callers each commit
// transactions that insert an order row and write its message with outbox.publish(); the relay sends them. Its
// throughput (first commit → last row confirmed and deleted) against a direct confirmed publish by as many
// awaiting callers, same broker, same run, alternating; and publish → handler latency at a paced rate (commit
// → handler through the outbox, publish call → handler directly), p50 and p99.
import { createBroker, postgres as postgresFixture } from '@lossless/brokers';
import { type Bus, connect, type Delivery, silentLogger } from '@lossless/core';
import { migrate, type PostgresOutbox, postgresOutbox } from '@lossless/postgres';
import { rabbitmq } from '@lossless/rabbitmq';
import pg from 'pg';
import {
  alternate,
  type BenchConfig,
  Comparison,
  firstUrl,
  freshName,
  latch,
  type Measured,
  makeRow,
  measured,
  rate,
  within,
} from './harness.js';
import { type LibraryTarget, libraryPublish, SUBSCRIPTION } from './library.js';
import type { AdapterReport } from './rabbitmq.js';
import { percentile, type ResultRow } from './stats.js';

interface Setup {
  pool: pg.Pool;
  target: LibraryTarget;
  url: string;
}

async function openBus(s: Setup, topic: string): Promise<Bus> {
  const bus = await connect(s.target.driver(), { logger: silentLogger });
  await bus.declare(s.target.topology(topic, SUBSCRIPTION));
  return bus;
}

/** A fresh schema with the outbox table and an orders table. */
async function freshOutbox(s: Setup, name: string): Promise<{ outbox: PostgresOutbox; schema: string }> {
  const schema = name.replace(/[^a-z0-9_]/g, '_');
  await migrate(s.pool, { schema });
  await s.pool.query(`CREATE TABLE IF NOT EXISTS ${schema}.orders (id bigserial PRIMARY KEY, body bytea)`);
  return { outbox: postgresOutbox({ pool: s.pool, schema }), schema };
}

/** One transaction: an order row and its message. */
async function commitOrder(s: Setup, outbox: PostgresOutbox, schema: string, topic: string, body: Buffer) {
  const client = await s.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`INSERT INTO ${schema}.orders (body) VALUES ($1)`, [body]);
    await outbox.publish(client, topic, { body });
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** `cfg.concurrency` callers running `one` in turn until `cfg.messages` runs were started. */
async function callers(cfg: BenchConfig, one: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: cfg.concurrency }, async () => {
      while (next++ < cfg.messages) await one();
    }),
  );
}

/**
 * The dual write the outbox replaces: `concurrency` callers each commit the order row, then publish its message
 * directly and await the confirm (a crash between the two loses the message). msg/s until the last confirm.
 */
async function dualWriteThroughput(s: Setup, cfg: BenchConfig, topic: string): Promise<number> {
  const { schema } = await freshOutbox(s, topic);
  const bus = await openBus(s, topic);
  try {
    const body = Buffer.alloc(cfg.bodyBytes, 7);
    const started = performance.now();
    await callers(cfg, async () => {
      const client = await s.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${schema}.orders (body) VALUES ($1)`, [body]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      await bus.publish(topic, { body });
    });
    return rate(cfg.messages, started);
  } finally {
    await bus.close();
    await s.pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  }
}

/** `concurrency` callers commit `messages` orders; msg/s until the relay has every row confirmed and deleted. */
async function outboxThroughput(s: Setup, cfg: BenchConfig, topic: string): Promise<number> {
  const { outbox, schema } = await freshOutbox(s, topic);
  const bus = await openBus(s, topic);
  const relay = outbox.relay(bus, { batchSize: 500, pollIntervalMs: 100 });
  try {
    const body = Buffer.alloc(cfg.bodyBytes, 7);
    const started = performance.now();
    await callers(cfg, () => commitOrder(s, outbox, schema, topic, body));
    const deadline = Date.now() + 120_000;
    while (relay.stats.sent < cfg.messages) {
      if (Date.now() > deadline) throw new Error(`relay sent ${relay.stats.sent} of ${cfg.messages}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return rate(cfg.messages, started);
  } finally {
    await relay.close();
    await bus.close();
    await s.pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  }
}

/** Paced at cfg.latencyRate for cfg.latencySeconds: commit (or publish call) → handler, ms. */
async function pacedLatency(
  s: Setup,
  cfg: BenchConfig,
  topic: string,
  viaOutbox: boolean,
): Promise<number[]> {
  const { outbox, schema } = await freshOutbox(s, topic);
  const bus = await openBus(s, topic);
  const relay = viaOutbox ? outbox.relay(bus, { pollIntervalMs: 100 }) : undefined;
  const samples: number[] = [];
  const total = cfg.latencyRate * cfg.latencySeconds;
  const { promise: all, resolve } = latch();
  const sub = await bus.subscribe(
    topic,
    SUBSCRIPTION,
    (d: Delivery) => {
      samples.push(performance.now() - new DataView(d.body.buffer, d.body.byteOffset, 8).getFloat64(0, true));
      if (samples.length === total) resolve();
    },
    { concurrency: cfg.concurrency },
  );
  try {
    const interval = 1000 / cfg.latencyRate;
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const body = Buffer.alloc(cfg.bodyBytes, 7);
      body.writeDoubleLE(performance.now(), 0);
      if (viaOutbox) void commitOrder(s, outbox, schema, topic, body).catch(() => {});
      else void bus.publish(topic, { body }).catch(() => {});
    }
    await within(all, 120_000, `latency of ${topic} (${samples.length} of ${total} arrived)`);
    return samples;
  } finally {
    await sub.close();
    await relay?.close();
    await bus.close();
    await s.pool.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  }
}

export async function postgresBench(cfg: BenchConfig): Promise<AdapterReport> {
  const db = postgresFixture();
  const mq = createBroker('rabbitmq'); // LOSSLESS_BROKERS=external: your RabbitMQ (LOSSLESS_RABBITMQ_URL)
  cfg.log('postgres: bringing up PostgreSQL and RabbitMQ through the broker kit…');
  await Promise.all([db.up(), mq.up()]);
  const url = firstUrl(mq.settings);
  const setup: Setup = {
    pool: new pg.Pool({ connectionString: db.settings.url, max: cfg.concurrency + 8 }),
    url,
    target: {
      driver: () => rabbitmq({ url, logger: silentLogger }),
      topology: (topic, subscription) => ({
        topics: [{ name: topic }],
        subscriptions: [{ name: subscription, topic, queueType: 'classic' }],
      }),
    },
  };
  try {
    const throughput = new Comparison(
      `transactional outbox (order row + message per transaction, ${cfg.concurrency} callers) vs direct confirmed publish`,
      'msg/s',
      true,
    );
    // The same transactions with the message published after the commit (no outbox, not crash-safe): what the
    // outbox itself costs on top of the order's own transaction.
    const dualWrite = new Comparison(
      `transactional outbox vs dual write (commit the order row, then a direct confirmed publish; ${cfg.concurrency} callers)`,
      'msg/s',
      true,
    );
    for (let rep = 1; rep <= cfg.repetitions; rep++) {
      await alternate(
        rep,
        async () => {
          throughput.library.push(
            await measured(() => outboxThroughput(setup, cfg, freshName('pgo', 'on', rep))),
          );
        },
        async () => {
          throughput.raw.push(
            await measured(() => libraryPublish(setup.target, freshName('pgo', 'direct', rep), cfg)),
          );
        },
      );
      dualWrite.library.push(throughput.library[throughput.library.length - 1] as Measured<number>);
      dualWrite.raw.push(
        await measured(() => dualWriteThroughput(setup, cfg, freshName('pgo', 'dual', rep))),
      );
      cfg.log(`  outbox ${rep}/${cfg.repetitions}`);
    }
    const byValue = (a: number, b: number) => a - b;
    const viaOutbox = (await pacedLatency(setup, cfg, freshName('pgl', 'on', 0), true)).sort(byValue);
    const direct = (await pacedLatency(setup, cfg, freshName('pgl', 'direct', 0), false)).sort(byValue);
    const rows: ResultRow[] = [
      throughput.row(),
      throughput.cpuRow('outbox vs direct', cfg.messages),
      dualWrite.row(),
      dualWrite.cpuRow('outbox vs dual write', cfg.messages),
      makeRow(
        'latency p50, commit → handler vs publish → handler',
        percentile(viaOutbox, 50),
        percentile(direct, 50),
        'ms',
        false,
      ),
      makeRow(
        'latency p99, commit → handler vs publish → handler',
        percentile(viaOutbox, 99),
        percentile(direct, 99),
        'ms',
        false,
      ),
    ];
    return {
      adapter: 'postgres outbox / direct (RabbitMQ)',
      broker: `rabbitmq ${mq.version}, postgresql ${db.version}`,
      results: rows,
    };
  } finally {
    await setup.pool.end();
  }
}
