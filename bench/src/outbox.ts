// What the durable outbox costs: the same confirmed publish (concurrent awaiting callers, 1 KiB, a classic
// durable queue on the kit's RabbitMQ node) with an lmdb outbox (resolveOn 'confirmed': each message is fsynced
// to local disk before it is sent, and deleted after its confirm) and without, alternating, medians.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import { lmdbOutbox } from '@lossless/outbox-lmdb';
import { rabbitmq } from '@lossless/rabbitmq';
import {
  alternate,
  type BenchConfig,
  Comparison,
  firstUrl,
  freshName,
  type Measured,
  measured,
  sideResult,
} from './harness.js';
import { type LibraryTarget, libraryPublish } from './library.js';
import type { AdapterReport } from './rabbitmq.js';

export async function outboxBench(cfg: BenchConfig): Promise<AdapterReport> {
  const fixture = rabbitmqBroker();
  cfg.log(`outbox: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const url = firstUrl(fixture.settings);
  const target: LibraryTarget = {
    driver: () => rabbitmq({ url, logger: silentLogger }),
    topology: (topic, subscription) => ({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic, queueType: 'classic' }],
    }),
  };
  const comparison = new Comparison(
    `confirmed publish with the lmdb outbox vs without (RabbitMQ classic, ${cfg.concurrency} awaiting callers)`,
    'msg/s',
    true,
  );
  const withOutbox = async (topic: string) => {
    const path = mkdtempSync(join(tmpdir(), 'lossless-bench-outbox-'));
    try {
      return await libraryPublish(target, topic, cfg, { outbox: { store: lmdbOutbox({ path }) } });
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
  };
  await libraryPublish(target, freshName('lb', 'warm-off', 0), { ...cfg, messages: 2_000 });
  await withOutbox(freshName('lb', 'warm-on', 0));
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    let on: Measured<number> | undefined;
    let off: Measured<number> | undefined;
    await alternate(
      rep,
      async () => {
        on = await measured(() => withOutbox(freshName('lb', 'outbox-on', rep)));
        comparison.library.push(on);
      },
      async () => {
        off = await measured(() => libraryPublish(target, freshName('lb', 'outbox-off', rep), cfg));
        comparison.raw.push(off);
      },
    );
    cfg.log(
      `  outbox ${rep}/${cfg.repetitions}: on ${Math.round(sideResult(on, 'outbox on').value)} msg/s, ` +
        `off ${Math.round(sideResult(off, 'outbox off').value)} msg/s`,
    );
  }
  return {
    adapter: 'rabbitmq (outbox on / off)',
    broker: `rabbitmq ${fixture.version}`,
    results: [comparison.row()],
  };
}
