// Kafka: @lossless/kafka through core against raw kafkajs 2.2.4 on the kit's single broker. Topology (the topic
// with the driver's defaults — 3 partitions, replication factor 1 on one broker — plus its retry and dead-letter
// topics) is created for both sides by the library's declare(), so the raw side writes to and reads from exactly
// the same kind of topic. Raw: an idempotent producer (acks -1, maxInFlightRequests 1) sending batches of 500
// one after another; a consumer with autoCommit false that runs a fetched batch's handlers 64 at a time, resolves
// their offsets and commits the batch's next offset once it is done.

import { randomUUID } from 'node:crypto';
import { kafka as kafkaBroker } from '@lossless/brokers';
import { connect, silentLogger } from '@lossless/core';
import {
  consumerGroupId,
  deadLetterGroupId,
  deadLetterTopicName,
  kafka,
  retryTopicName,
} from '@lossless/kafka';
import { Kafka, logLevel, type Message } from 'kafkajs';
import {
  alternate,
  type BenchConfig,
  Comparison,
  fmtRate,
  freshName,
  type Latency,
  latencyOf,
  type Measured,
  measured,
  rate,
  retrying,
  within,
} from './harness.js';
import {
  drained,
  type LibraryTarget,
  libraryConsume,
  libraryLatency,
  libraryPublish,
  paced,
  probe,
  SUBSCRIPTION,
} from './library.js';
import type { AdapterReport } from './rabbitmq.js';
import type { ResultRow } from './stats.js';

/** Messages per raw produce request. */
const RAW_BATCH = 500;

class Raw {
  private readonly client: Kafka;

  constructor(
    brokers: string[],
    private readonly bodyBytes: number,
  ) {
    this.client = new Kafka({ clientId: 'lossless-bench-raw', brokers, logLevel: logLevel.NOTHING });
  }

  private producer() {
    return this.client.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  /** Sequential idempotent batches of RAW_BATCH, acks -1: msg/s until the last batch is acknowledged. */
  async publish(topic: string, total: number): Promise<number> {
    const producer = this.producer();
    await producer.connect();
    try {
      const body = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      for (let sent = 0; sent < total; sent += RAW_BATCH) {
        const messages: Message[] = Array.from({ length: Math.min(RAW_BATCH, total - sent) }, () => ({
          value: body,
          headers: { id: randomUUID() },
        }));
        await producer.send({ topic, messages, acks: -1 });
      }
      return rate(total, started);
    } finally {
      await producer.disconnect();
    }
  }

  /** Manual commits: up to `concurrency` handlers of a batch at once, then commit the batch. Clock: first message. */
  async consume(topic: string, total: number, concurrency: number): Promise<number> {
    const consumer = this.client.consumer({ groupId: consumerGroupId(topic, SUBSCRIPTION) });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      let handled = 0;
      let started = 0;
      let done!: () => void;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          if (started === 0) started = performance.now();
          const messages = batch.messages;
          let last: string | undefined;
          for (let i = 0; i < messages.length && isRunning() && !isStale(); i += concurrency) {
            const chunk = messages.slice(i, i + concurrency);
            await Promise.all(chunk.map(async () => {}));
            last = chunk.at(-1)!.offset;
            resolveOffset(last);
            handled += chunk.length;
            await heartbeat();
          }
          if (last !== undefined) {
            await consumer.commitOffsets([
              { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last) + 1n) },
            ]);
          }
          if (handled >= total) done();
        },
      });
      await within(finished, 300_000, `raw consume of ${topic}`);
      return rate(total, started);
    } finally {
      await consumer.disconnect();
    }
  }

  /** Fixed-rate sends (coalesced while a request is in flight, acks -1), read by a manual-commit consumer. */
  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    const producer = this.producer();
    const consumer = this.client.consumer({ groupId: consumerGroupId(topic, SUBSCRIPTION) });
    await producer.connect();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const samples: number[] = [];
      let primed = false;
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          for (const m of batch.messages) {
            const sentAt = m.value?.readDoubleLE(0) ?? -1;
            if (sentAt < 0) primed = true;
            else samples.push(performance.now() - sentAt);
            resolveOffset(m.offset);
          }
          const last = batch.messages.at(-1);
          if (last) {
            await consumer.commitOffsets([
              { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) },
            ]);
          }
          await heartbeat();
        },
      });
      // The group join (seconds) is not latency: a probe message must arrive before the paced run starts.
      await producer.send({ topic, messages: [{ value: probe(cfg) }], acks: -1 });
      await drained(
        () => (primed ? 1 : 0),
        1,
        () => 0,
      );
      // With idempotence (maxInFlightRequests 1) kafkajs runs one request at a time, so a send per message falls
      // behind at 1,000 msg/s: the raw side sends what queued up while the previous request was in flight, as
      // one request (what the driver's lane does, and what a careful raw user writes).
      let failures = 0;
      let queued: Message[] = [];
      let inFlight = false;
      const flush = () => {
        if (inFlight || queued.length === 0) return;
        const messages = queued;
        queued = [];
        inFlight = true;
        producer
          .send({ topic, messages, acks: -1 })
          .catch(() => {
            failures += messages.length;
          })
          .finally(() => {
            inFlight = false;
            flush();
          });
      };
      const sent = await paced(cfg, (body) => {
        queued.push({ value: body });
        flush();
      });
      await drained(
        () => samples.length,
        sent,
        () => failures,
      );
      return latencyOf(samples, sent);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
    }
  }

  /** Deletes the topics and groups either side used for `topic`. */
  async remove(topic: string): Promise<void> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const groups = [consumerGroupId(topic, SUBSCRIPTION), deadLetterGroupId(topic, SUBSCRIPTION)];
      await admin.deleteGroups(groups).catch(() => {});
      const topics = [topic, retryTopicName(topic, SUBSCRIPTION), deadLetterTopicName(topic, SUBSCRIPTION)];
      const existing = new Set(await admin.listTopics());
      const present = topics.filter((t) => existing.has(t));
      if (present.length > 0) await admin.deleteTopics({ topics: present }).catch(() => {});
    } finally {
      await admin.disconnect();
    }
  }
}

function mem(m: Measured<unknown>): string {
  return `rss ${Math.round(m.peakRssMiB)} MiB, heap +${Math.round(m.peakHeapMiB)} MiB, cpu ${Math.round(m.cpuMs)} ms`;
}

export async function kafkaBench(cfg: BenchConfig): Promise<AdapterReport | string> {
  const { log } = cfg;
  const fixture = kafkaBroker();
  log(`kafka: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const brokers = fixture.settings.brokers;
  const target: LibraryTarget = {
    driver: () => kafka({ brokers, logger: silentLogger }),
    topology: (topic, subscription) => ({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic }],
    }),
  };
  const raw = new Raw(brokers, cfg.bodyBytes);
  const declare = async (topic: string) => {
    const bus = await connect(target.driver(), { logger: silentLogger });
    await bus.declare(target.topology(topic, SUBSCRIPTION));
    await bus.close();
  };
  {
    // Warm-up, and a check that the driver works before the long run.
    const warm = { ...cfg, messages: Math.max(1_000, Math.floor(cfg.messages / 10)) };
    const l = freshName('lb', 'warm-lib', 0);
    const r = freshName('lb', 'warm-raw', 0);
    try {
      await declare(r);
      log(`  warm-up: library ${fmtRate(await libraryPublish(target, l, warm))}`);
      log(`  warm-up: raw ${fmtRate(await raw.publish(r, warm.messages))}`);
      await libraryConsume(target, l, warm, true);
      await raw.consume(r, warm.messages, cfg.concurrency);
    } finally {
      await raw.remove(l);
      await raw.remove(r);
    }
  }
  const pub = new Comparison(
    `confirmed publish: library ${cfg.concurrency} awaiting callers vs raw sequential batches of ${RAW_BATCH}`,
    'msg/s',
    true,
  );
  const cons = new Comparison(
    `consume + commit: concurrency ${cfg.concurrency} vs ${cfg.concurrency} handlers per chunk (from 1st message)`,
    'msg/s',
    true,
  );
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    const tag = `${rep}/${cfg.repetitions}`;
    await retrying(`repetition ${tag}`, log, async () => {
      const l = freshName('lb', 'lib', rep);
      const r = freshName('lb', 'raw', rep);
      const got: Record<string, Measured<number>> = {};
      const side = async (key: string, label: string, run: () => Promise<number>) => {
        const m = await measured(run);
        got[key] = m;
        log(`  ${tag} ${label}: ${fmtRate(m.value)} (${mem(m)})`);
      };
      try {
        await declare(r);
        await alternate(
          rep,
          () => side('pubLib', 'publish library', () => libraryPublish(target, l, cfg)),
          () => side('pubRaw', 'publish raw', () => raw.publish(r, cfg.messages)),
        );
        await alternate(
          rep,
          () => side('consLib', 'consume library', () => libraryConsume(target, l, cfg, true)),
          () => side('consRaw', 'consume raw', () => raw.consume(r, cfg.messages, cfg.concurrency)),
        );
      } finally {
        await raw.remove(l);
        await raw.remove(r);
      }
      pub.library.push(got.pubLib!);
      pub.raw.push(got.pubRaw!);
      cons.library.push(got.consLib!);
      cons.raw.push(got.consRaw!);
    });
  }
  const label = `${cfg.latencyRate} msg/s for ${cfg.latencySeconds} s`;
  const p50 = new Comparison(`latency p50, publish → handler, ${label}`, 'ms', false);
  const p99 = new Comparison(`latency p99, publish → handler, ${label}`, 'ms', false);
  const max = new Comparison(`latency max, publish → handler, ${label}`, 'ms', false);
  const push = (side: 'library' | 'raw', m: Measured<Latency>) => {
    p50[side].push({ ...m, value: m.value.p50 });
    p99[side].push({ ...m, value: m.value.p99 });
    max[side].push({ ...m, value: m.value.max });
  };
  const describe = (m: Measured<Latency>) =>
    `p50 ${m.value.p50.toFixed(2)} ms, p99 ${m.value.p99.toFixed(2)} ms, max ${m.value.max.toFixed(1)} ms (${mem(m)})`;
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    await retrying(`latency ${rep}/${cfg.repetitions}`, log, async () => {
      const l = freshName('lb', 'lat-lib', rep);
      const r = freshName('lb', 'lat-raw', rep);
      let lib: Measured<Latency> | undefined;
      let rawM: Measured<Latency> | undefined;
      try {
        await declare(r);
        await alternate(
          rep,
          async () => {
            lib = await measured(() => libraryLatency(target, l, cfg));
            log(`  latency ${rep}/${cfg.repetitions} library: ${describe(lib)}`);
          },
          async () => {
            rawM = await measured(() => raw.latency(r, cfg));
            log(`  latency ${rep}/${cfg.repetitions} raw: ${describe(rawM)}`);
          },
        );
      } finally {
        await raw.remove(l);
        await raw.remove(r);
      }
      push('library', lib!);
      push('raw', rawM!);
    });
  }
  const results: ResultRow[] = [
    pub.row(),
    cons.row(),
    p50.row(),
    p99.row(),
    max.row(),
    pub.cpuRow('confirmed publish', cfg.messages),
    cons.cpuRow('consume + commit', cfg.messages),
    ...pub.memoryRows('confirmed publish'),
    ...cons.memoryRows('consume + commit'),
    ...p50.memoryRows('latency run'),
  ];
  return {
    adapter: 'kafka',
    broker: `Kafka ${fixture.version} single broker (${fixture.cluster}, ${brokers.join(',')}), kafkajs 2.2.4, 3 partitions, RF 1`,
    results,
  };
}
