// Kafka: @lossless/kafka through core against raw kafkajs 2.2.4 on the kit's single broker. Topology (the topic
// with the driver's defaults — 3 partitions, replication factor 1 on one broker — plus its retry and dead-letter
// topics) is created for both sides by the library's declare(), so the raw side writes to and reads from exactly
// the same kind of topic. Raw: an idempotent producer (acks -1, maxInFlightRequests 1) sending batches of 500
// one after another; a consumer with autoCommit false that runs a fetched batch's handlers 64 at a time, resolves
// their offsets and commits the batch's next offset once it is done.
//
// `secure`: the kit's secured broker instead (SASL_SSL only). Both sides then open the same TLS (the kit's CA,
// the certificate's name; the listener asks for no client certificate) and log in with SCRAM-SHA-512 as the same
// user: the driver through its `tls` and `sasl` options, kafkajs through `ssl` and `sasl`, on every connection
// (producers, consumers, admin).

import { randomUUID } from 'node:crypto';
import { kafka as kafkaBroker } from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import {
  consumerGroupId,
  deadLetterGroupId,
  deadLetterTopicName,
  type KafkaDriverOptions,
  kafka,
  retryTopicName,
} from '@lossless/kafka';
import { Kafka, type KafkaConfig, logLevel, type Message } from 'kafkajs';
import { type BenchConfig, type Latency, latch, rate, within } from './harness.js';
import { LatencySamples, type LibraryTarget, libraryDeclare, pacedLatency, SUBSCRIPTION } from './library.js';
import type { AdapterReport } from './rabbitmq.js';
import { runScenarios } from './runner.js';
import { negotiatedTls, rememberSecrets, type SecurityNote, secureMaterial } from './secure.js';

/** kafkajs's TLS and SASL settings of the raw side (none on the plain broker). */
type RawSecurity = Pick<KafkaConfig, 'ssl' | 'sasl'>;
/** The driver's TLS and SASL options of the library side (none on the plain broker). */
export type KafkaSecurity = Pick<KafkaDriverOptions, 'tls' | 'sasl'>;

/** Messages per raw produce request. */
const RAW_BATCH = 500;

/**
 * Raw kafkajs consume of a preloaded `topic` in group `groupId`: eachBatch, up to `concurrency` (empty) handlers
 * of a batch at once, one commitOffsets per batch. msg/s from the first message, and the commits made. Shared with
 * platformatic.ts's kafkajs side.
 */
export async function rawKafkaConsume(
  client: Kafka,
  topic: string,
  groupId: string,
  total: number,
  concurrency: number,
): Promise<{ rate: number; commits: number }> {
  const consumer = client.consumer({ groupId });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let handled = 0;
    let started = 0;
    let commits = 0;
    const { promise: finished, resolve: done } = latch();
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
          // i < messages.length, so the chunk holds at least one message.
          const tail = chunk.at(-1);
          if (tail === undefined)
            throw new Error(`raw consume of ${topic}: empty chunk at offset index ${i}`);
          last = tail.offset;
          resolveOffset(last);
          handled += chunk.length;
          await heartbeat();
        }
        if (last !== undefined) {
          await consumer.commitOffsets([
            { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last) + 1n) },
          ]);
          commits++;
        }
        if (handled >= total) done();
      },
    });
    await within(finished, 300_000, `raw consume of ${topic}`);
    return { rate: rate(total, started), commits };
  } finally {
    await consumer.disconnect();
  }
}

class Raw {
  private readonly client: Kafka;

  constructor(
    brokers: string[],
    private readonly bodyBytes: number,
    security: RawSecurity = {},
  ) {
    this.client = new Kafka({
      clientId: 'lossless-bench-raw',
      brokers,
      logLevel: logLevel.NOTHING,
      ...security,
    });
  }

  private producer() {
    return this.client.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  /** Sequential idempotent batches of `batch` (default RAW_BATCH), acks -1: msg/s until the last is acknowledged. */
  async publish(topic: string, total: number, batch = RAW_BATCH): Promise<number> {
    const producer = this.producer();
    await producer.connect();
    try {
      const body = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      for (let sent = 0; sent < total; sent += batch) {
        const messages: Message[] = Array.from({ length: Math.min(batch, total - sent) }, () => ({
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
    const groupId = consumerGroupId(topic, SUBSCRIPTION);
    return (await rawKafkaConsume(this.client, topic, groupId, total, concurrency)).rate;
  }

  /** Fixed-rate sends (coalesced while a request is in flight, acks -1), read by a manual-commit consumer. */
  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    const producer = this.producer();
    const consumer = this.client.consumer({ groupId: consumerGroupId(topic, SUBSCRIPTION) });
    await producer.connect();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const samples = new LatencySamples();
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          for (const m of batch.messages) {
            samples.record(m.value?.readDoubleLE(0) ?? -1);
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
      return await pacedLatency(
        cfg,
        samples,
        (body) => producer.send({ topic, messages: [{ value: body }], acks: -1 }),
        (body) => {
          queued.push({ value: body });
          flush();
        },
        () => failures,
      );
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

/** A raw kafkajs side on `brokers` (for the diagnostics scripts). */
export function rawKafka(brokers: string[], bodyBytes: number): Raw {
  return new Raw(brokers, bodyBytes);
}

/** The library side on Kafka: one fresh topic with one subscription, default settings. */
export function kafkaTarget(brokers: string[], security: KafkaSecurity = {}): LibraryTarget {
  return {
    driver: () => kafka({ brokers, logger: silentLogger, ...security }),
    topology: (topic, subscription) => ({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic }],
    }),
  };
}

export interface KafkaBenchOptions {
  /** The kit's secured broker (SASL_SSL, SCRAM-SHA-512 login) for both sides. Default false. */
  secure?: boolean;
}

export async function kafkaBench(
  cfg: BenchConfig,
  options: KafkaBenchOptions = {},
): Promise<AdapterReport | string> {
  const secure = options.secure === true;
  // The secured fixture's progress lines go through the bench's log, which scrubs its passwords.
  const fixture = kafkaBroker(secure ? { secure: true, log: cfg.log } : {});
  rememberSecrets(fixture.settings.security);
  cfg.log(`kafka: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const brokers = fixture.settings.brokers;
  let driverSecurity: KafkaSecurity = {};
  let rawSecurity: RawSecurity = {};
  let security: SecurityNote | undefined;
  if (secure) {
    const s = fixture.settings.security;
    const m = secureMaterial(s, 'kafka');
    if (s?.mechanism !== 'scram-sha-512') {
      return `the secured fixture reports SASL mechanism '${String(s?.mechanism)}', not scram-sha-512`;
    }
    const tls = { ca: [m.ca], servername: m.servername };
    const sasl = { mechanism: 'scram-sha-512', username: m.username, password: m.password } as const;
    driverSecurity = { tls, sasl };
    // Copies: kafkajs writes into the sasl object it is given (authenticationProvider), which the driver would
    // then refuse as an unknown key.
    rawSecurity = { ssl: { ...tls }, sasl: { ...sasl } };
    const first = brokers[0] ?? '';
    const colon = first.lastIndexOf(':');
    security = {
      tls: await negotiatedTls(first.slice(0, colon), Number(first.slice(colon + 1)), tls),
      clientCertificate: false,
      login: `SCRAM-SHA-512 as ${m.username}`,
    };
    cfg.log(`kafka: ${brokers.join(',')}, ${security.tls}, ${security.login}`);
  }
  const target = kafkaTarget(brokers, driverSecurity);
  const raw = new Raw(brokers, cfg.bodyBytes, rawSecurity);
  const results = await runScenarios(
    {
      target,
      declare: (topic) => libraryDeclare(target, topic),
      remove: (topic) => raw.remove(topic),
      publish: {
        scenario: `confirmed publish: library ${cfg.concurrency} awaiting callers vs raw sequential batches of ${RAW_BATCH}`,
        label: 'confirmed publish',
        line: 'publish raw',
        run: (topic, c) => raw.publish(topic, c.messages),
      },
      // The same number of messages in flight on both sides: the library's awaiting callers against raw batches
      // of as many messages (at --concurrency 500 this is the first row again).
      alsoPublish: {
        scenario: `confirmed publish, same depth: library ${cfg.concurrency} awaiting callers vs raw sequential batches of ${cfg.concurrency}`,
        label: 'confirmed publish (same depth)',
        line: `publish raw, batches of ${cfg.concurrency}`,
        side: 'raw-depth',
        run: (topic, c) => raw.publish(topic, c.messages, c.concurrency),
      },
      consume: {
        scenario: `consume + commit: concurrency ${cfg.concurrency} vs ${cfg.concurrency} handlers per chunk (from 1st message)`,
        label: 'consume + commit',
        run: (topic, c) => raw.consume(topic, c.messages, c.concurrency),
      },
      fromFirstDelivery: true,
      latency: (topic, c) => raw.latency(topic, c),
    },
    cfg,
    { warmUp: { log: true } },
  );
  const over = security ? `, SASL_SSL over ${security.tls}, ${security.login}` : '';
  return {
    adapter: 'kafka',
    broker: `Kafka ${fixture.version} single broker (${fixture.cluster}, ${brokers.join(',')}${over}), kafkajs 2.2.4, 3 partitions, RF 1`,
    secure,
    ...(security ? { security } : {}),
    results,
  };
}
