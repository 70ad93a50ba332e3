// A second Kafka client, measured: raw @platformatic/kafka against raw kafkajs 2.2.4 on the kit's Kafka broker, in
// one process, in the same run. No lossless on either side: this says whether the client alone is faster, before
// anyone writes a driver on it. In every row the "library" column is @platformatic/kafka and "raw" is kafkajs
// (ratio > 1: platformatic is better).
//
// Both sides get the same work: a fresh topic each (3 partitions, RF 1, created by one kafkajs admin), 1 KiB
// bodies with one binary `id` header, an idempotent producer with acks -1 and one request in flight (kafkajs
// `maxInFlightRequests: 1`; platformatic forces `maxInflights: 1` per connection itself when `idempotent`), and a
// consumer with manual commits in a fresh group (classic protocol: kafkajs has no other).
//   (a) confirmed publish: sequential requests of 500 messages, and 64 callers each awaiting a one-message send;
//       after each side the topic's end offsets must add up to what was sent (a check, not timed).
//   (b) consume + commit of the backlog (a) wrote with sequential batches, clock from the first message: kafkajs
//       as in kafka.ts (eachBatch, 64 handlers at a time, one commitOffsets per batch); platformatic drains what
//       its stream buffered (stream.read() until null), runs it 64 at a time, then one commit() of every
//       partition's next offset — its stream has no batch boundary, so "a batch" is one drain.
//   (c) CPU per message and peak heap growth of each side (measured(): connect and close included).
// Alternation and warm-up as in every other bench (harness.ts). @platformatic/kafka needs Node >= 22.22; it is
// imported inside platformaticBench so the CLI keeps loading on Node 20 for every other scenario.

import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { kafka as kafkaBroker } from '@lossless/brokers';
import type { Message as PlatformaticMessage } from '@platformatic/kafka';
import { Kafka, logLevel, type Message } from 'kafkajs';
import {
  alternate,
  type BenchConfig,
  Comparison,
  fmtRate,
  freshName,
  latch,
  type Measured,
  measured,
  rate,
  retrying,
  within,
} from './harness.js';
import { rawKafkaConsume } from './kafka.js';
import type { AdapterReport } from './rabbitmq.js';
import type { ResultRow } from './stats.js';

type Platformatic = typeof import('@platformatic/kafka');

/** Messages per request of the sequential-batch publish. */
const BATCH = 500;
const PARTITIONS = 3;
/** Repetitions when --repetitions is not given (the CLI's own default, 6, is for the adapter benches). */
const DEFAULT_REPETITIONS = 4;
const ID_HEADER = 'id';
const ID_HEADER_KEY = Buffer.from(ID_HEADER);
/** kafkajs's fetch limits, given to platformatic too (its own defaults: 50 MB per request and per partition). */
const MAX_BYTES = 10 * 1024 * 1024;
const MAX_BYTES_PER_PARTITION = 1024 * 1024;
const MINIMUM_NODE: readonly [number, number] = [22, 22];

/** Which Node binaries the repository keeps (`.lossless/node/<version>`), for the message on an old Node. */
function nodeHint(): string {
  const home = fileURLToPath(new URL('../../.lossless/node/', import.meta.url));
  try {
    const fit = readdirSync(home).filter((v) => nodeAtLeast(v, MINIMUM_NODE));
    const pick = fit[0];
    if (pick !== undefined)
      return `run it with ${home}${pick}/bin/node bench/dist/cli.js --scenario platformatic`;
  } catch {
    // No kept binaries: the generic advice below.
  }
  return 'run bench/dist/cli.js with a Node of at least that version';
}

/** The installed @platformatic/kafka's version (its package exports no ./package.json, so read beside dist/). */
function platformaticVersion(): string {
  const pkg = new URL('../package.json', import.meta.resolve('@platformatic/kafka'));
  return String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: unknown }).version);
}

function nodeAtLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const [a = 0, b = 0] = version.replace(/^v/, '').split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

/** The topics and groups of one run, created and removed through one kafkajs admin. */
class Topics {
  private readonly client: Kafka;

  constructor(brokers: string[]) {
    this.client = new Kafka({ clientId: 'lossless-bench-admin', brokers, logLevel: logLevel.NOTHING });
  }

  async create(topic: string): Promise<void> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
  }

  /** The sum of the topic's end offsets: what it stores (every topic here is fresh). */
  async stored(topic: string): Promise<number> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    } finally {
      await admin.disconnect();
    }
  }

  async remove(topics: readonly string[], groups: readonly string[]): Promise<void> {
    const admin = this.client.admin();
    await admin.connect();
    try {
      if (groups.length > 0) await admin.deleteGroups([...groups]).catch(() => {});
      const existing = new Set(await admin.listTopics());
      const present = topics.filter((t) => existing.has(t));
      if (present.length > 0) await admin.deleteTopics({ topics: present }).catch(() => {});
    } finally {
      await admin.disconnect();
    }
  }
}

/** Runs `send` from `callers` callers, each awaiting its previous send, until `total` were started. */
async function awaitingCallers(total: number, callers: number, send: () => Promise<unknown>): Promise<void> {
  let started = 0;
  const caller = async () => {
    while (started < total) {
      started++;
      await send();
    }
  };
  await Promise.all(Array.from({ length: Math.min(callers, total) }, caller));
}

/** The raw kafkajs side: what bench/src/kafka.ts's Raw does, plus the 64-caller publish. */
class KafkajsSide {
  private readonly client: Kafka;

  constructor(
    brokers: string[],
    private readonly bodyBytes: number,
  ) {
    this.client = new Kafka({ clientId: 'lossless-bench-kafkajs', brokers, logLevel: logLevel.NOTHING });
  }

  private producer() {
    return this.client.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async publishBatches(topic: string, total: number): Promise<number> {
    const producer = this.producer();
    await producer.connect();
    try {
      const body = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      for (let sent = 0; sent < total; sent += BATCH) {
        const messages: Message[] = Array.from({ length: Math.min(BATCH, total - sent) }, () => ({
          value: body,
          headers: { [ID_HEADER]: Buffer.from(randomUUID()) },
        }));
        await producer.send({ topic, messages, acks: -1 });
      }
      return rate(total, started);
    } finally {
      await producer.disconnect();
    }
  }

  async publishCallers(topic: string, total: number, callers: number): Promise<number> {
    const producer = this.producer();
    await producer.connect();
    try {
      const body = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      await awaitingCallers(total, callers, () =>
        producer.send({
          topic,
          messages: [{ value: body, headers: { [ID_HEADER]: Buffer.from(randomUUID()) } }],
          acks: -1,
        }),
      );
      return rate(total, started);
    } finally {
      await producer.disconnect();
    }
  }

  /** eachBatch, `concurrency` handlers at a time, one commitOffsets per batch (kafka.ts's raw side). */
  consume(topic: string, group: string, total: number, concurrency: number): Promise<Consumed> {
    return rawKafkaConsume(this.client, topic, group, total, concurrency);
  }
}

interface Consumed {
  rate: number;
  commits: number;
}

/** The raw @platformatic/kafka side, the same work as KafkajsSide. */
class PlatformaticSide {
  constructor(
    private readonly pk: Platformatic,
    private readonly brokers: string[],
    private readonly bodyBytes: number,
  ) {}

  private async producer() {
    const producer = new this.pk.Producer({
      clientId: 'lossless-bench-platformatic',
      bootstrapBrokers: this.brokers,
      idempotent: true, // forces acks -1 and maxInflights 1 per connection (producer.js constructor)
      acks: this.pk.ProduceAcks.ALL,
      autocreateTopics: false,
    });
    // kafkajs's connect() gets the producer id (InitProducerId) of an idempotent producer: the same here, untimed.
    await producer.initIdempotentProducer({});
    return producer;
  }

  private headers(): Map<Buffer, Buffer> {
    return new Map([[ID_HEADER_KEY, Buffer.from(randomUUID())]]);
  }

  async publishBatches(topic: string, total: number): Promise<number> {
    const producer = await this.producer();
    try {
      const value = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      for (let sent = 0; sent < total; sent += BATCH) {
        const messages = Array.from({ length: Math.min(BATCH, total - sent) }, () => ({
          topic,
          value,
          headers: this.headers(),
        }));
        await producer.send({ messages, acks: this.pk.ProduceAcks.ALL });
      }
      return rate(total, started);
    } finally {
      await producer.close();
    }
  }

  async publishCallers(topic: string, total: number, callers: number): Promise<number> {
    const producer = await this.producer();
    try {
      const value = Buffer.alloc(this.bodyBytes, 7);
      const started = performance.now();
      await awaitingCallers(total, callers, () =>
        producer.send({
          messages: [{ topic, value, headers: this.headers() }],
          acks: this.pk.ProduceAcks.ALL,
        }),
      );
      return rate(total, started);
    } finally {
      await producer.close();
    }
  }

  /** Drain what the stream buffered, `concurrency` handlers at a time, then one commit. Clock: first message. */
  async consume(topic: string, group: string, total: number, concurrency: number): Promise<Consumed> {
    const consumer = new this.pk.Consumer({
      clientId: 'lossless-bench-platformatic',
      bootstrapBrokers: this.brokers,
      groupId: group,
      autocommit: false,
      maxBytes: MAX_BYTES,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
    });
    try {
      const stream = await consumer.consume({
        topics: [topic],
        mode: this.pk.MessagesStreamModes.COMMITTED,
        fallbackMode: this.pk.MessagesStreamFallbackModes.EARLIEST,
        autocommit: false,
      });
      let handled = 0;
      let started = 0;
      let commits = 0;
      const { promise: finished, resolve: done, reject } = latch();
      let busy = false;
      const drain = async () => {
        if (busy) return;
        busy = true;
        try {
          for (;;) {
            const batch: PlatformaticMessage[] = [];
            for (let m = stream.read() as PlatformaticMessage | null; m !== null; m = stream.read())
              batch.push(m);
            if (batch.length === 0) return;
            if (started === 0) started = performance.now();
            for (let i = 0; i < batch.length; i += concurrency) {
              await Promise.all(batch.slice(i, i + concurrency).map(async () => {}));
            }
            // A partition's messages arrive in offset order: its last one in the drain is its highest.
            const last = new Map<number, PlatformaticMessage>();
            for (const m of batch) last.set(m.partition, m);
            await consumer.commit({
              offsets: [...last.values()].map((m) => ({
                topic: m.topic,
                partition: m.partition,
                offset: m.offset + 1n,
                leaderEpoch: m.leaderEpoch,
              })),
            });
            commits++;
            handled += batch.length;
            if (handled >= total) {
              done();
              return;
            }
          }
        } catch (error) {
          reject(error as Error);
        } finally {
          busy = false;
        }
      };
      stream.on('readable', () => void drain());
      stream.on('error', (error) => reject(error));
      try {
        await within(finished, 300_000, `platformatic consume of ${topic}`);
      } finally {
        await stream.close();
      }
      return { rate: rate(total, started), commits };
    } finally {
      await consumer.close(true);
    }
  }
}

/** One repetition's sides, measured with a fresh topic (or group) per attempt. */
interface Sides {
  readonly name: string;
  publishBatches(topic: string, total: number): Promise<number>;
  publishCallers(topic: string, total: number, callers: number): Promise<number>;
  consume(topic: string, group: string, total: number, concurrency: number): Promise<Consumed>;
}

export async function platformaticBench(
  cfg: BenchConfig,
  _adapter: string | undefined,
): Promise<AdapterReport> {
  const node = process.versions.node;
  if (!nodeAtLeast(node, MINIMUM_NODE)) {
    throw new Error(
      `bench: --scenario platformatic needs Node >= ${MINIMUM_NODE.join('.')} (@platformatic/kafka's engines), ` +
        `this is Node ${node}: ${nodeHint()}`,
    );
  }
  const pk: Platformatic = await import('@platformatic/kafka');
  const pkVersion = platformaticVersion();
  const explicit = cfg.given?.has('repetitions') === true;
  const repetitions = explicit ? cfg.repetitions : DEFAULT_REPETITIONS;
  const fixture = kafkaBroker();
  cfg.log(`platformatic: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const brokers = [...fixture.settings.brokers];
  const admin = new Topics(brokers);
  const kafkajs: Sides = Object.assign(new KafkajsSide(brokers, cfg.bodyBytes), { name: 'kafkajs' });
  const platformatic: Sides = Object.assign(new PlatformaticSide(pk, brokers, cfg.bodyBytes), {
    name: 'platformatic',
  });
  const vs = 'platformatic vs kafkajs';
  const batches = new Comparison(
    `${vs}: confirmed publish, sequential requests of ${BATCH} (idempotent, acks -1, 1 in flight)`,
    'msg/s',
    true,
  );
  const callers = new Comparison(
    `${vs}: confirmed publish, ${cfg.concurrency} callers awaiting one-message sends (idempotent, acks -1, 1 in flight)`,
    'msg/s',
    true,
  );
  const consume = new Comparison(
    `${vs}: consume + manual commit per batch, ${cfg.concurrency} handlers at a time (from 1st message)`,
    'msg/s',
    true,
  );
  const commitCounts = { platformatic: [] as number[], kafkajs: [] as number[] };
  cfg.log(
    `platformatic: @platformatic/kafka ${pkVersion} vs kafkajs 2.2.4 on Node ${node}, ${brokers.join(',')}; ` +
      `${repetitions} repetitions of ${cfg.messages} messages (+ a warm-up pair of ${Math.ceil(cfg.messages / 10)})`,
  );

  const runRep = async (rep: number, messages: number, record: boolean) => {
    const created: string[] = [];
    const groups: string[] = [];
    const fresh = async (side: string) => {
      const topic = freshName('lpk', side, rep);
      created.push(topic);
      await admin.create(topic);
      return topic;
    };
    const consumeTopic = new Map<string, string>();
    /** One side of one scenario, measured again on a fresh topic if the broker fails it. */
    const side = async (
      sides: Sides,
      what: string,
      into: Measured<number>[],
      run: () => Promise<Measured<number>>,
    ): Promise<void> => {
      const m = await retrying(`${sides.name} ${what}`, cfg.log, run);
      if (record) into.push(m);
      cfg.log(
        `  rep ${rep}${record ? '' : ' (warm-up)'} ${sides.name} ${what}: ${fmtRate(m.value)}, ` +
          `${((m.cpuMs * 1000) / messages).toFixed(1)} µs CPU/msg, heap +${m.peakHeapMiB.toFixed(1)} MiB`,
      );
    };
    const publish = (sides: Sides, into: Measured<number>[], mode: 'batches' | 'callers') =>
      side(sides, `publish ${mode}`, into, async () => {
        const topic = await fresh(`${sides.name.slice(0, 2)}${mode.slice(0, 1)}`);
        const m = await measured(() =>
          mode === 'batches'
            ? sides.publishBatches(topic, messages)
            : sides.publishCallers(topic, messages, cfg.concurrency),
        );
        const stored = await admin.stored(topic);
        if (stored !== messages) {
          throw new Error(
            `${sides.name} publish ${mode}: ${topic} stores ${stored} messages, ${messages} were confirmed`,
          );
        }
        if (mode === 'batches') consumeTopic.set(sides.name, topic);
        return m;
      });
    const consumeSide = (sides: Sides, into: Measured<number>[]) =>
      side(sides, 'consume + commit', into, async () => {
        const topic = consumeTopic.get(sides.name);
        if (topic === undefined) throw new Error(`bench: no backlog for ${sides.name}'s consume`);
        const group = `${topic}-g${groups.length}`;
        groups.push(group);
        const m = await measured(() => sides.consume(topic, group, messages, cfg.concurrency));
        if (record) commitCounts[sides.name === 'kafkajs' ? 'kafkajs' : 'platformatic'].push(m.value.commits);
        return { ...m, value: m.value.rate };
      });
    try {
      await alternate(
        rep,
        () => publish(platformatic, batches.library, 'batches'),
        () => publish(kafkajs, batches.raw, 'batches'),
      );
      await alternate(
        rep,
        () => publish(platformatic, callers.library, 'callers'),
        () => publish(kafkajs, callers.raw, 'callers'),
      );
      await alternate(
        rep,
        () => consumeSide(platformatic, consume.library),
        () => consumeSide(kafkajs, consume.raw),
      );
    } finally {
      await admin.remove(created, groups).catch((error) => cfg.log(`  cleanup failed: ${String(error)}`));
    }
  };

  const began = performance.now();
  await runRep(1, Math.ceil(cfg.messages / 10), false);
  for (let rep = 1; rep <= repetitions; rep++) await runRep(rep, cfg.messages, true);
  const seconds = (performance.now() - began) / 1000;
  const commits = (n: number[]) => (n.length ? `${Math.min(...n)}–${Math.max(...n)}` : '?');
  cfg.log(
    `platformatic: done in ${seconds.toFixed(0)} s; commits per consume run: platformatic ` +
      `${commits(commitCounts.platformatic)}, kafkajs ${commits(commitCounts.kafkajs)}`,
  );
  const heap = (c: Comparison, label: string): ResultRow[] => c.memoryRows(label).slice(1);
  const results: ResultRow[] = [
    batches.row(),
    callers.row(),
    consume.row(),
    batches.cpuRow(`${vs}: publish, requests of ${BATCH}`, cfg.messages),
    callers.cpuRow(`${vs}: publish, ${cfg.concurrency} awaiting callers`, cfg.messages),
    consume.cpuRow(`${vs}: consume + commit`, cfg.messages),
    ...heap(batches, `${vs}: publish, requests of ${BATCH}`),
    ...heap(callers, `${vs}: publish, ${cfg.concurrency} awaiting callers`),
    ...heap(consume, `${vs}: consume + commit`),
  ];
  return {
    adapter: 'platformatic',
    broker:
      `Kafka ${fixture.version} single broker (${fixture.cluster}, ${brokers.join(',')}), ${PARTITIONS} partitions, ` +
      `RF 1, Node ${node}; columns: library = raw @platformatic/kafka ${pkVersion}, raw = raw kafkajs 2.2.4 ` +
      `(no lossless on either side); ${repetitions} repetitions of ${cfg.messages} messages, medians`,
    results,
  };
}
