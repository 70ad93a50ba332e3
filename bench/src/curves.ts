// `npm run bench -- --scenario curves [--adapter rabbitmq|kafka|rocketmq|all]`: scaling curves, the library beside
// the raw client on the same broker in the same run, each point measured on both sides with alternating order,
// drawn as one SVG per curve per broker in bench/curves/ (plot.ts). The curves:
//   callers    confirmed publish msg/s vs concurrent awaiting callers (both sides the same depth)
//   size       confirmed publish msg/s vs body size (points bounded by bytes and time)
//   partitions confirmed publish msg/s vs Kafka partitions / RocketMQ queues of one topic / RabbitMQ queues
//              (N topics, one queue each, publishes spread round-robin)
//   processes  consume msg/s vs consumer processes on one subscription (child processes, curves-consumer.ts)
//   heap       peak heapUsed growth vs publishes issued without awaiting
//   latency    publish → handler p50 / p99 / p99.9 vs offered rate, stepping up until both sides saturate
// Points are short (a few seconds or a few thousand messages, one repetition per side unless --repetitions), so
// that all curves on all three brokers fit in ~20 minutes on this 2-core machine.
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  kafka as kafkaBroker,
  rabbitmq as rabbitmqBroker,
  rocketmq as rocketmqBroker,
} from '@lossless/brokers';
import { type Bus, type ConnectOptions, connect, silentLogger } from '@lossless/core';
import { consumerGroupId, deadLetterGroupId, deadLetterTopicName, retryTopicName } from '@lossless/kafka';
import { deadLetterExchangeName, queueName } from '@lossless/rabbitmq';
import {
  consumerGroupName,
  deadLetterGroupName,
  deadLetterTopicName as rocketDeadLetterTopicName,
} from '@lossless/rocketmq';
import { connect as amqpConnect } from 'amqplib';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { Producer } from 'rocketmq-client-nodejs';
import {
  type BrokerName,
  type BrokerSettings,
  type ChildMessage,
  type ChildSpec,
  type Consuming,
  libraryTarget,
  rawConsume,
  topologyOf,
} from './curves-consumer.js';
import {
  alternate,
  type BenchConfig,
  firstUrl,
  freshName,
  fullGc,
  latch,
  makeRow,
  retrying,
  sideResult,
  within,
} from './harness.js';
import { LatencySamples, pacedLatency, SUBSCRIPTION } from './library.js';
import { type PlotPoint, renderSvg, type Side } from './plot.js';
import { type AdapterReport, removeTopicObjects } from './rabbitmq.js';
import { median, percentile, type ResultRow } from './stats.js';

const num = (n: number) => n.toLocaleString('en-US');

export type CurveName = 'callers' | 'size' | 'partitions' | 'processes' | 'heap' | 'latency';

/** One side's figure at one point of one curve (medians over the repetitions). */
export interface CurvePoint {
  broker: BrokerName;
  curve: CurveName;
  x: number;
  side: Side;
  /** msg/s (callers, size, partitions, processes), MiB (heap) or the latency p50, ms. */
  value: number;
  unit: string;
  repetitions: number;
  /** Latency: p99 and p99.9, ms; the offered and the achieved rate (messages handled per second of the run). */
  p99?: number;
  p999?: number;
  offered?: number;
  achieved?: number;
  /** Latency: false when the side's achieved rate fell below 90 % of the offered one. */
  kept?: boolean;
  /** Size curve: MiB/s of body bytes. */
  mibPerS?: number;
}

export interface CurvesReport extends AdapterReport {
  /** Every point of every curve, both sides. */
  curves: CurvePoint[];
  /** What was left out, and why (a curve a broker cannot have, a point that failed for good). */
  skipped: string[];
  /** Wall-clock duration of the run, s. */
  durationS: number;
}

/** What each broker's curves step through, and how big a point is. */
interface Plan {
  callers: number[];
  sizes: number[];
  partitions: number[];
  processes: number[];
  inFlight: number[];
  rates: number[];
  /** Per point of the publish curves: at most this many messages, for at most `seconds`. */
  messages: number;
  seconds: number;
  /** Size curve: at most this many body bytes per point (big bodies → fewer messages). */
  sizeBytes: number;
  /** Consumer-processes curve: the preloaded backlog per side. */
  backlog: number;
  /** Latency curve: seconds per rate. */
  latencySeconds: number;
  repetitions: number;
  /** Handler concurrency / prefetch, and the callers of the size and partitions curves. */
  concurrency: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Longest a side may take before it counts as failed (and is measured again). */
const SIDE_MS = 240_000;
/** Kafka's broker takes at most ~1 MiB per record batch (message.max.bytes 1,048,588): its largest body is 1 MB. */
const KAFKA_LARGEST = 1_000_000;
/** Raw kafkajs coalescing: at most this many body bytes per produce request (one record batch per partition). */
const KAFKA_REQUEST_BYTES = 900 * KiB;

function planFor(broker: BrokerName, cfg: BenchConfig): Plan {
  const small = broker === 'rocketmq';
  const plan: Plan = {
    callers: [1, 4, 16, 64, 256, 512],
    sizes: [100, KiB, 10 * KiB, 100 * KiB, broker === 'kafka' ? KAFKA_LARGEST : MiB],
    partitions: [1, 4, 16, 64],
    processes: [1, 2, 4],
    // RocketMQ stores ~1,000 msg/s here: 50,000 unconfirmed would take close to a minute per side.
    inFlight: small ? [100, 1_000, 5_000] : [100, 1_000, 10_000, 50_000],
    rates: small ? [50, 100, 200, 400, 800] : [500, 1_000, 2_000, 5_000, 10_000, 20_000],
    messages: small ? 3_000 : 20_000,
    seconds: 3,
    sizeBytes: small ? 16 * MiB : 64 * MiB,
    backlog: small ? 2_000 : broker === 'kafka' ? 40_000 : 20_000,
    latencySeconds: small ? 3 : 2,
    repetitions: 1,
    concurrency: cfg.concurrency,
  };
  // The CLI's defaults are sized for the main bench, not for a curve's point: only what the user gave counts.
  if (cfg.given?.has('messages')) {
    // An explicit count: every publish point sends exactly that many (no time cap), and so does the backlog.
    plan.messages = cfg.messages;
    plan.seconds = Number.POSITIVE_INFINITY;
    plan.sizeBytes = cfg.messages * KiB;
    plan.backlog = cfg.messages;
  }
  if (cfg.given?.has('repetitions')) plan.repetitions = cfg.repetitions;
  if (cfg.given?.has('latency-seconds')) plan.latencySeconds = cfg.latencySeconds;
  return plan;
}

/** A publishing session of either side: `send` resolves once the broker confirmed the message. */
interface Session {
  send(topic: string, body: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** One broker under measurement: its settings, the raw side's declare / sessions, and clean-up. */
interface Broker {
  name: BrokerName;
  settings: BrokerSettings;
  describe: string;
  /** Creates the raw side's destinations: the same shape the library's declare gives its own. */
  declareRaw(topics: readonly string[], partitions: number | undefined): Promise<void>;
  /** Deletes whatever either side created for these topics; what is absent is no error. */
  remove(topics: readonly string[]): Promise<void>;
  rawSession(topics: readonly string[]): Promise<Session>;
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** Creates topics (and their subscription) through the library's declare, so the raw side gets the same kind. */
async function declareViaLibrary(
  s: BrokerSettings,
  topics: readonly string[],
  partitions: number | undefined,
): Promise<void> {
  const bus = await connect(libraryTarget(s, partitions).driver(), { logger: silentLogger });
  try {
    await bus.declare(topologyOf(s, topics, partitions));
  } finally {
    await bus.close();
  }
}

async function rabbitBroker(log: (line: string) => void): Promise<Broker> {
  const fixture = rabbitmqBroker();
  log(`curves: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const url = firstUrl(fixture.settings);
  const withChannel = async (run: (model: Awaited<ReturnType<typeof amqpConnect>>) => Promise<void>) => {
    const model = await amqpConnect(url, { noDelay: true });
    model.on('error', () => {});
    try {
      await run(model);
    } finally {
      await model.close().catch(() => {});
    }
  };
  return {
    name: 'rabbitmq',
    settings: { broker: 'rabbitmq', url },
    describe: `RabbitMQ ${fixture.version} single node (${fixture.cluster}), amqplib 2.3.1 confirm channel, durable classic queues`,
    // The driver's queue arguments for a classic queue with default settings (as rabbitmq.ts's raw side).
    declareRaw: (topics) =>
      withChannel(async (model) => {
        const ch = await model.createChannel();
        try {
          for (const topic of topics) {
            await ch.assertExchange(topic, 'fanout', { durable: true, autoDelete: false });
            const q = queueName(topic, SUBSCRIPTION);
            await ch.assertQueue(q, {
              durable: true,
              autoDelete: false,
              arguments: {
                'x-queue-type': 'classic',
                'x-dead-letter-exchange': deadLetterExchangeName(topic, SUBSCRIPTION),
              },
            });
            await ch.bindQueue(q, topic, '');
          }
        } finally {
          await ch.close();
        }
      }),
    remove: (topics) =>
      withChannel(async (model) => {
        for (const topic of topics) await removeTopicObjects(model, topic);
      }),
    rawSession: async () => {
      const model = await amqpConnect(url, { noDelay: true });
      model.on('error', () => {});
      const ch = await model.createConfirmChannel();
      ch.on('error', () => {});
      return {
        send: (topic, body) =>
          new Promise<void>((resolve, reject) => {
            try {
              ch.publish(topic, '', body, { persistent: true, messageId: randomUUID() }, (err) =>
                err ? reject(err) : resolve(),
              );
            } catch (error) {
              reject(error as Error); // the channel closed: the side is measured again
            }
          }),
        close: async () => {
          await ch.close().catch(() => {});
          await model.close().catch(() => {});
        },
      };
    },
  };
}

async function kafkaBrokerOf(log: (line: string) => void): Promise<Broker> {
  const fixture = kafkaBroker();
  log(`curves: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const brokers = fixture.settings.brokers;
  const settings: BrokerSettings = { broker: 'kafka', brokers };
  const client = new Kafka({ clientId: 'lossless-bench-curves', brokers, logLevel: logLevel.NOTHING });
  return {
    name: 'kafka',
    settings,
    describe: `Kafka ${fixture.version} single broker (${fixture.cluster}), kafkajs 2.2.4 idempotent producer (acks -1, maxInFlightRequests 1), RF 1`,
    declareRaw: (topics, partitions) => declareViaLibrary(settings, topics, partitions),
    remove: async (topics) => {
      const admin = client.admin();
      await admin.connect();
      try {
        const groups = topics.flatMap((t) => [
          consumerGroupId(t, SUBSCRIPTION),
          deadLetterGroupId(t, SUBSCRIPTION),
        ]);
        await admin.deleteGroups(groups).catch(() => {});
        const all = topics.flatMap((t) => [
          t,
          retryTopicName(t, SUBSCRIPTION),
          deadLetterTopicName(t, SUBSCRIPTION),
        ]);
        const existing = new Set(await admin.listTopics());
        const present = all.filter((t) => existing.has(t));
        if (present.length > 0) await admin.deleteTopics({ topics: present }).catch(() => {});
      } finally {
        await admin.disconnect();
      }
    },
    rawSession: async () => {
      const producer = client.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      // With idempotence kafkajs runs one request at a time, so a send() per caller would queue requests of one
      // message each: the raw side sends what queued while the previous request was in flight as one request
      // (what a careful raw user writes, and what the driver's lane does), each caller resolved by its ack.
      type Entry = {
        topic: string;
        message: Message;
        bytes: number;
        resolve: () => void;
        reject: (e: Error) => void;
      };
      let queued: Entry[] = [];
      let inFlight = false;
      const flush = () => {
        if (inFlight || queued.length === 0) return;
        let bytes = 0;
        let n = 0;
        // At least one, then as many as fit one produce request's record batches.
        while (n < queued.length) {
          const e = queued[n];
          if (e === undefined || (n > 0 && bytes + e.bytes > KAFKA_REQUEST_BYTES)) break;
          bytes += e.bytes;
          n++;
        }
        const batch = queued.slice(0, n);
        queued = queued.slice(n);
        const byTopic = new Map<string, Message[]>();
        for (const e of batch) byTopic.set(e.topic, [...(byTopic.get(e.topic) ?? []), e.message]);
        inFlight = true;
        producer
          .sendBatch({
            topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
            acks: -1,
          })
          .then(
            () => {
              for (const e of batch) e.resolve();
            },
            (error: Error) => {
              for (const e of batch) e.reject(error);
            },
          )
          .finally(() => {
            inFlight = false;
            flush();
          });
      };
      return {
        send: (topic, body) =>
          new Promise<void>((resolve, reject) => {
            queued.push({
              topic,
              message: { value: body, headers: { id: randomUUID() } },
              bytes: body.byteLength,
              resolve,
              reject,
            });
            flush();
          }),
        close: () => producer.disconnect(),
      };
    },
  };
}

async function rocketBrokerOf(log: (line: string) => void): Promise<Broker> {
  const fixture = rocketmqBroker();
  log(`curves: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const { endpoints, namesrv, cluster } = fixture.settings;
  const settings: BrokerSettings = { broker: 'rocketmq', endpoints, namesrv, cluster };
  return {
    name: 'rocketmq',
    settings,
    describe: `RocketMQ ${fixture.version} (${fixture.cluster}, proxy ${endpoints}), rocketmq-client-nodejs 1.0.8 concurrent sync sends, NORMAL topics`,
    declareRaw: (topics, partitions) => declareViaLibrary(settings, topics, partitions),
    remove: async (topics) => {
      const a = fixture.admin;
      for (const topic of topics) {
        for (const t of [topic, rocketDeadLetterTopicName(topic, SUBSCRIPTION)])
          await a.deleteTopic(t).catch(() => {});
        for (const g of [consumerGroupName(topic, SUBSCRIPTION), deadLetterGroupName(topic, SUBSCRIPTION)]) {
          await a.deleteGroup(g).catch(() => {});
        }
      }
    },
    rawSession: async (topics) => {
      const producer = new Producer({
        endpoints,
        namespace: '',
        maxAttempts: 1,
        topic: [...topics],
        logger: quiet,
      });
      await producer.startup();
      return {
        send: async (topic, body) => {
          await producer.send({ topic, body });
        },
        close: () => producer.shutdown(),
      };
    },
  };
}

/** The library side's publishing session: its own bus, the topics declared (not timed). */
async function librarySession(
  b: Broker,
  topics: readonly string[],
  partitions: number | undefined,
  publish: ConnectOptions['publish'] = {},
): Promise<Session & { bus: Bus }> {
  const bus = await connect(libraryTarget(b.settings, partitions).driver(), {
    logger: silentLogger,
    publish,
  });
  try {
    await bus.declare(topologyOf(b.settings, topics, partitions));
  } catch (error) {
    await bus.close().catch(() => {});
    throw error;
  }
  return {
    bus,
    send: async (topic, body) => {
      await bus.publish(topic, { body });
    },
    close: () => bus.close(),
  };
}

/** `callers` callers, each awaiting its confirm before its next send, round-robin over `topics`: msg/s. */
async function awaitingCallers(
  s: Session,
  topics: readonly string[],
  callers: number,
  messages: number,
  seconds: number,
  body: Buffer,
): Promise<number> {
  let next = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < messages && performance.now() < deadline) {
        const topic = topics[next++ % topics.length];
        if (topic === undefined) throw new Error('bench: no topic to publish to');
        await s.send(topic, body);
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** A session opened, used and closed: connecting and declaring are not part of `run`'s figure. */
async function withSession<T>(open: () => Promise<Session>, run: (s: Session) => Promise<T>): Promise<T> {
  const s = await open();
  try {
    return await run(s);
  } finally {
    await s.close().catch(() => {});
  }
}

/** The context of one broker's curves. */
interface Ctx {
  broker: Broker;
  plan: Plan;
  log: (line: string) => void;
  points: CurvePoint[];
  skipped: string[];
}

/** One point, both sides: fresh topics per side and repetition, raw's declared, order alternating, clean-up. */
async function pair<T>(
  ctx: Ctx,
  curve: CurveName,
  x: number,
  index: number,
  spec: {
    topics: number;
    partitions?: number;
    library(topics: string[]): Promise<T>;
    raw(topics: string[]): Promise<T>;
    describe(v: T): string;
  },
): Promise<{ library: T[]; raw: T[] } | undefined> {
  const out = { library: [] as T[], raw: [] as T[] };
  const names = (side: string, rep: number) =>
    Array.from(
      { length: spec.topics },
      (_, i) => `${freshName('lc', side, rep)}${spec.topics > 1 ? `-${i}` : ''}`,
    );
  for (let rep = 1; rep <= ctx.plan.repetitions; rep++) {
    const what = `${ctx.broker.name} ${curve} ${num(x)} (${rep}/${ctx.plan.repetitions})`;
    try {
      await retrying(
        what,
        ctx.log,
        async () => {
          const lib = names('lib', rep);
          const raw = names('raw', rep);
          let l: T | undefined;
          let r: T | undefined;
          const side = async (name: Side, run: () => Promise<T>) => {
            const v = await within(run(), SIDE_MS, `${what} ${name}`);
            ctx.log(`  curves ${ctx.broker.name} ${curve} x=${num(x)} ${name}: ${spec.describe(v)}`);
            return v;
          };
          try {
            await ctx.broker.declareRaw(raw, spec.partitions);
            // Which side goes first alternates from point to point (and repetition to repetition).
            await alternate(
              index + rep,
              async () => {
                l = await side('library', () => spec.library(lib));
              },
              async () => {
                r = await side('raw', () => spec.raw(raw));
              },
            );
          } finally {
            await ctx.broker.remove([...lib, ...raw]).catch(() => {});
          }
          out.library.push(sideResult(l, 'library'));
          out.raw.push(sideResult(r, 'raw'));
        },
        3,
      );
    } catch (error) {
      const why = `${what}: left out (${(error as Error).message})`;
      ctx.log(`  ${why}`);
      ctx.skipped.push(why);
      return undefined;
    }
  }
  return out;
}

function record(
  ctx: Ctx,
  curve: CurveName,
  x: number,
  unit: string,
  got: { library: number[]; raw: number[] },
) {
  for (const side of ['library', 'raw'] as const) {
    ctx.points.push({
      broker: ctx.broker.name,
      curve,
      x,
      side,
      value: median(got[side]),
      unit,
      repetitions: got[side].length,
    });
  }
}

const rateText = (v: number) => `${Math.round(v).toLocaleString('en-US')} msg/s`;

/** Curves 1–3: confirmed publish msg/s with `callers` awaiting callers over `topicCount` topics. */
async function publishPoint(
  ctx: Ctx,
  curve: CurveName,
  x: number,
  index: number,
  o: { callers: number; bytes: number; topics: number; partitions?: number; messages: number },
): Promise<void> {
  const body = Buffer.alloc(o.bytes, 7);
  const { plan, broker } = ctx;
  // Untimed first: a fresh topic's first writes are slow on the broker (Kafka 4.4, 64 partitions: requests
  // touching new partitions took 100–600 ms each, ~3 s in all, for kafkajs alone as for the library), and a
  // 3 s point would measure that. Enough messages that every partition / queue is written several times.
  const warm = Math.min(
    Math.max(o.callers, 16 * (o.partitions ?? o.topics)),
    Math.max(1, Math.floor(plan.sizeBytes / o.bytes / 10)),
  );
  const measure = async (s: Session, topics: readonly string[]) => {
    await awaitingCallers(s, topics, o.callers, warm, Number.POSITIVE_INFINITY, body);
    return awaitingCallers(s, topics, o.callers, o.messages, plan.seconds, body);
  };
  const got = await pair(ctx, curve, x, index, {
    topics: o.topics,
    ...(o.partitions === undefined ? {} : { partitions: o.partitions }),
    library: (topics) =>
      withSession(
        () => librarySession(broker, topics, o.partitions),
        (s) => measure(s, topics),
      ),
    raw: (topics) =>
      withSession(
        () => broker.rawSession(topics),
        (s) => measure(s, topics),
      ),
    describe: rateText,
  });
  if (!got) return;
  record(ctx, curve, x, 'msg/s', got);
  if (curve === 'size') {
    for (const p of ctx.points.slice(-2)) p.mibPerS = (p.value * o.bytes) / MiB;
  }
}

/** Where the consumer-process entry is: next to this file, compiled (dist) or under tsx (src). */
function childEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  return {
    file: here.replace(/curves\.(ts|js)$/, ts ? 'curves-consumer.ts' : 'curves-consumer.js'),
    // Under tsx the child needs the same loader and the workspace's source condition (scripts/run-ts.mjs).
    execArgv: ts ? ['--conditions=@lossless/source', '--import', 'tsx'] : [],
  };
}

/**
 * `n` consumer processes of one subscription drain a preloaded backlog of `total`: msg/s from the first handled
 * message (any process) to the last (any process), over all processes. Processes connect first; all get `go` at
 * once when all are ready.
 */
async function processesSide(
  ctx: Ctx,
  side: Side,
  topic: string,
  n: number,
  total: number,
  partitions: number | undefined,
): Promise<number> {
  const { file, execArgv } = childEntry();
  const spec: ChildSpec = {
    settings: ctx.broker.settings,
    side,
    topic,
    concurrency: ctx.plan.concurrency,
    ...(partitions === undefined ? {} : { partitions }),
  };
  const state = Array.from({ length: n }, () => ({ ready: false, count: 0, first: 0, last: 0 }));
  const ready = latch();
  const finished = latch();
  ready.promise.catch(() => {});
  finished.promise.catch(() => {});
  let stopping = false;
  const children: ChildProcess[] = state.map((st, i) => {
    const c = fork(file, [JSON.stringify(spec)], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    c.on('message', (raw: unknown) => {
      const m = raw as ChildMessage;
      if (m.type === 'ready') {
        st.ready = true;
        if (state.every((s) => s.ready)) ready.resolve();
      } else {
        st.count = m.count;
        st.first = m.first;
        st.last = m.last;
        if (state.reduce((sum, s) => sum + s.count, 0) >= total) finished.resolve();
      }
    });
    c.on('exit', (code, signal) => {
      if (stopping) return;
      const e = new Error(`consumer process ${i + 1}/${n} exited (${code ?? signal})`);
      ready.reject(e);
      finished.reject(e);
    });
    return c;
  });
  try {
    await within(ready.promise, 90_000, `${n} consumer processes getting ready`);
    for (const c of children) c.send('go');
    await within(finished.promise, SIDE_MS, `${n} consumer processes draining ${total}`);
    const firsts = state.map((s) => s.first).filter((t) => t > 0);
    const first = Math.min(...firsts);
    const last = Math.max(...state.map((s) => s.last));
    return total / ((last - first) / 1000);
  } finally {
    stopping = true;
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const kill = setTimeout(() => c.kill('SIGKILL'), 20_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (c.connected) c.send('stop');
            else c.kill('SIGTERM');
          }),
      ),
    );
  }
}

/** Curve 5: `n` publishes issued at once, none awaited before all are issued; peak heapUsed growth, MiB. */
async function heapSide(s: Session, topic: string, n: number, body: Buffer): Promise<number> {
  fullGc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const sample = () => {
    const h = process.memoryUsage().heapUsed;
    if (h > peak) peak = h;
  };
  const timer = setInterval(sample, 5);
  try {
    const all: Promise<void>[] = [];
    for (let i = 0; i < n; i++) all.push(s.send(topic, body));
    sample(); // the moment every publish is in flight
    await Promise.all(all);
    sample();
  } finally {
    clearInterval(timer);
  }
  return (peak - base) / MiB;
}

/** Latency samples that also remember when the last one arrived. */
class TimedSamples extends LatencySamples {
  last = 0;
  override record(sentAt: number): void {
    super.record(sentAt);
    if (sentAt >= 0) this.last = performance.now();
  }
}

interface LatencyFigure {
  p50: number;
  p99: number;
  p999: number;
  achieved: number;
}

const sentAt = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);

/**
 * One latency side at `offered` msg/s for `seconds`: the consumer records publish → handler time, sends are not
 * awaited one after another (pacedLatency). `achieved`: messages handled per second from the first send to the
 * last handler.
 */
async function latencySide(
  cfg: BenchConfig,
  offered: number,
  seconds: number,
  samples: TimedSamples,
  s: Session,
  topic: string,
): Promise<LatencyFigure> {
  let failures = 0;
  let firstSent = 0;
  const lat = await pacedLatency(
    { ...cfg, latencyRate: offered, latencySeconds: seconds },
    samples,
    (body) => s.send(topic, body),
    (body) => {
      if (firstSent === 0) firstSent = performance.now();
      s.send(topic, body).catch(() => {
        failures++;
      });
    },
    () => failures,
  );
  // latencyOf() sorted samples.ms in place.
  return {
    p50: lat.p50,
    p99: lat.p99,
    p999: percentile(samples.ms, 99.9),
    achieved: lat.received / ((samples.last - firstSent) / 1000),
  };
}

async function libraryLatencySide(
  ctx: Ctx,
  cfg: BenchConfig,
  topic: string,
  offered: number,
): Promise<LatencyFigure> {
  const s = await librarySession(ctx.broker, [topic], undefined);
  try {
    const samples = new TimedSamples();
    const sub = await s.bus.subscribe(topic, SUBSCRIPTION, async (d) => samples.record(sentAt(d.body)), {
      concurrency: ctx.plan.concurrency,
    });
    try {
      return await latencySide(cfg, offered, ctx.plan.latencySeconds, samples, s, topic);
    } finally {
      await sub.close().catch(() => {});
    }
  } finally {
    await s.close().catch(() => {});
  }
}

async function rawLatencySide(
  ctx: Ctx,
  cfg: BenchConfig,
  topic: string,
  offered: number,
): Promise<LatencyFigure> {
  const samples = new TimedSamples();
  const consumer: Consuming = await rawConsume(ctx.broker.settings, topic, ctx.plan.concurrency, (b) =>
    samples.record(sentAt(b)),
  );
  try {
    return await withSession(
      () => ctx.broker.rawSession([topic]),
      (s) => latencySide(cfg, offered, ctx.plan.latencySeconds, samples, s, topic),
    );
  } finally {
    await consumer.close().catch(() => {});
  }
}

/** All curves of one broker, in order; each point logged as it completes. */
async function brokerCurves(ctx: Ctx, cfg: BenchConfig): Promise<void> {
  const { plan, broker } = ctx;
  const c = plan.concurrency;
  // Not recorded: JIT and first connections, so the first point is not the cold one.
  const warm = {
    ...ctx,
    points: [],
    log: (l: string) => ctx.log(l.replace('callers x=0', 'warm-up (not recorded)')),
  };
  await publishPoint(warm, 'callers', 0, 0, {
    callers: c,
    bytes: KiB,
    topics: 1,
    messages: Math.min(plan.messages, 2_000),
  });

  ctx.log(`curves ${broker.name}: 1/6 confirmed publish vs awaiting callers`);
  for (const [i, n] of plan.callers.entries()) {
    await publishPoint(ctx, 'callers', n, i, { callers: n, bytes: KiB, topics: 1, messages: plan.messages });
  }

  ctx.log(`curves ${broker.name}: 2/6 confirmed publish vs message size (${c} callers)`);
  for (const [i, bytes] of plan.sizes.entries()) {
    // Bounded by bytes (and by time): at least two messages per caller, so each caller's await is measured.
    const messages = Math.max(2 * c, Math.min(plan.messages, Math.floor(plan.sizeBytes / bytes)));
    await publishPoint(ctx, 'size', bytes, i, { callers: c, bytes, topics: 1, messages });
  }

  const spread =
    broker.name === 'rabbitmq'
      ? 'queues (one topic each, round-robin)'
      : broker.name === 'kafka'
        ? 'partitions'
        : 'queues of the topic';
  ctx.log(`curves ${broker.name}: 3/6 confirmed publish vs ${spread} (${c} callers)`);
  for (const [i, n] of plan.partitions.entries()) {
    // RabbitMQ has no partitions: N topics with a queue each, the publishes spread over them round-robin.
    const o = broker.name === 'rabbitmq' ? { topics: n } : { topics: 1, partitions: n };
    await publishPoint(ctx, 'partitions', n, i, { callers: c, bytes: KiB, messages: plan.messages, ...o });
  }

  ctx.log(`curves ${broker.name}: 4/6 consume vs consumer processes (backlog ${plan.backlog} per side)`);
  // Kafka: 4 partitions, so up to 4 processes each own one; RocketMQ's driver default is 4 queues anyway.
  const consumePartitions = broker.name === 'kafka' ? 4 : undefined;
  const body = Buffer.alloc(KiB, 7);
  const preload = (s: Session, topic: string) =>
    awaitingCallers(
      s,
      [topic],
      broker.name === 'rocketmq' ? 64 : 256,
      plan.backlog,
      Number.POSITIVE_INFINITY,
      body,
    );
  for (const [i, n] of plan.processes.entries()) {
    const got = await pair(ctx, 'processes', n, i, {
      topics: 1,
      ...(consumePartitions === undefined ? {} : { partitions: consumePartitions }),
      library: async ([topic = '']) => {
        await withSession(
          () => librarySession(broker, [topic], consumePartitions),
          (s) => preload(s, topic),
        );
        return processesSide(ctx, 'library', topic, n, plan.backlog, consumePartitions);
      },
      raw: async ([topic = '']) => {
        await withSession(
          () => broker.rawSession([topic]),
          (s) => preload(s, topic),
        );
        return processesSide(ctx, 'raw', topic, n, plan.backlog, consumePartitions);
      },
      describe: rateText,
    });
    if (got) record(ctx, 'processes', n, 'msg/s', got);
  }

  ctx.log(`curves ${broker.name}: 5/6 heap growth vs unconfirmed publishes in flight`);
  for (const [i, n] of plan.inFlight.entries()) {
    const got = await pair(ctx, 'heap', n, i, {
      topics: 1,
      library: ([topic = '']) =>
        withSession(
          // The default bound (10,000 pending) would make the rest wait for room, not be in flight: raised to N.
          () => librarySession(broker, [topic], undefined, { maxPending: Math.max(10_000, n) }),
          (s) => heapSide(s, topic, n, body),
        ),
      raw: ([topic = '']) =>
        withSession(
          () => broker.rawSession([topic]),
          (s) => heapSide(s, topic, n, body),
        ),
      describe: (v) => `heap +${v.toFixed(1)} MiB`,
    });
    if (got) record(ctx, 'heap', n, 'MiB', got);
  }

  ctx.log(`curves ${broker.name}: 6/6 latency vs offered rate (${plan.latencySeconds} s per rate)`);
  for (const [i, offered] of plan.rates.entries()) {
    const got = await pair(ctx, 'latency', offered, i, {
      topics: 1,
      library: ([topic = '']) => libraryLatencySide(ctx, cfg, topic, offered),
      raw: ([topic = '']) => rawLatencySide(ctx, cfg, topic, offered),
      describe: (v) =>
        `p50 ${v.p50.toFixed(2)} ms, p99 ${v.p99.toFixed(2)} ms, p99.9 ${v.p999.toFixed(2)} ms, achieved ${rateText(v.achieved)}${v.achieved < 0.9 * offered ? ' (fell behind)' : ''}`,
    });
    if (!got) continue;
    let behind = 0;
    for (const side of ['library', 'raw'] as const) {
      const f = got[side];
      const achieved = median(f.map((v) => v.achieved));
      const kept = achieved >= 0.9 * offered;
      if (!kept) behind++;
      ctx.points.push({
        broker: broker.name,
        curve: 'latency',
        x: offered,
        side,
        value: median(f.map((v) => v.p50)),
        unit: 'ms',
        repetitions: f.length,
        p99: median(f.map((v) => v.p99)),
        p999: median(f.map((v) => v.p999)),
        offered,
        achieved,
        kept,
      });
    }
    if (behind === 2 && i < plan.rates.length - 1) {
      const why = `${broker.name} latency: both sides fell behind at ${offered} msg/s; higher rates not measured`;
      ctx.log(`  ${why}`);
      ctx.skipped.push(why);
      break;
    }
  }
}

/** How each curve is titled and drawn. */
function plotText(broker: BrokerName, curve: CurveName, plan: Plan) {
  const name = { rabbitmq: 'RabbitMQ', kafka: 'Kafka', rocketmq: 'RocketMQ' }[broker];
  const depth = `${plan.concurrency} awaiting callers per side`;
  switch (curve) {
    case 'callers':
      return {
        title: `${name}: confirmed publish vs concurrent awaiting callers`,
        subtitle:
          '1 KiB persistent messages; both sides the same number of callers, each awaiting its confirm',
        xTitle: 'awaiting callers (both sides)',
        yTitle: 'confirmed publishes, msg/s',
        xLog: true,
      };
    case 'size':
      return {
        title: `${name}: confirmed publish vs message size`,
        subtitle: `${depth}; points bounded by bytes (${plan.sizeBytes / MiB} MiB) and time`,
        xTitle: 'message body, bytes',
        yTitle: 'confirmed publishes, msg/s',
        xLog: true,
        yLog: true,
      };
    case 'partitions':
      return {
        title: `${name}: confirmed publish vs ${broker === 'rabbitmq' ? 'queues' : broker === 'kafka' ? 'partitions' : 'queues of the topic'}`,
        subtitle:
          broker === 'rabbitmq'
            ? `${depth}; N topics with one durable classic queue each, publishes round-robin`
            : `${depth}; one topic with N ${broker === 'kafka' ? 'partitions' : 'queues'}`,
        xTitle: broker === 'kafka' ? 'partitions' : 'queues',
        yTitle: 'confirmed publishes, msg/s',
        xLog: true,
      };
    case 'processes':
      return {
        title: `${name}: consume vs consumer processes on one subscription`,
        subtitle: `preloaded backlog of ${plan.backlog.toLocaleString('en-US')}; concurrency ${plan.concurrency} per process; first to last handled message, all processes`,
        xTitle: 'consumer processes',
        yTitle: 'consumed + acked, msg/s (total)',
        xLog: false,
      };
    case 'heap':
      return {
        title: `${name}: heap growth vs unconfirmed publishes in flight`,
        subtitle:
          'N publishes of 1 KiB issued before any is awaited; peak heapUsed minus heapUsed after a full GC',
        xTitle: 'publishes in flight',
        yTitle: 'peak heap growth, MiB',
        xLog: true,
        yLog: true,
      };
    case 'latency':
      return {
        title: `${name}: publish → handler latency vs offered rate`,
        subtitle: `${plan.latencySeconds} s per rate, 1 KiB; solid p50, dashed p99 / p99.9; cross: fell below 90 % of the rate`,
        xTitle: 'offered rate, msg/s',
        yTitle: 'publish → handler latency, ms',
        xLog: true,
        yLog: true,
      };
  }
}

function plotPoints(points: readonly CurvePoint[], curve: CurveName): PlotPoint[] {
  if (curve !== 'latency') {
    // Log scales take no zero; a heap growth at or below zero (GC during the side) is drawn at 0.01 MiB.
    return points.map((p) => ({
      x: p.x,
      y: curve === 'heap' ? Math.max(0.01, p.value) : p.value,
      side: p.side,
    }));
  }
  return points.flatMap((p) => {
    const kept = p.kept !== false;
    return [
      { x: p.x, y: p.value, side: p.side, series: 'p50', kept },
      { x: p.x, y: p.p99 ?? Number.NaN, side: p.side, series: 'p99', kept },
      { x: p.x, y: p.p999 ?? Number.NaN, side: p.side, series: 'p99.9', kept },
    ];
  });
}

const CURVE_ORDER: CurveName[] = ['callers', 'size', 'partitions', 'processes', 'heap', 'latency'];

async function drawBroker(
  dir: string,
  broker: BrokerName,
  plan: Plan,
  points: readonly CurvePoint[],
  log: (s: string) => void,
) {
  mkdirSync(dir, { recursive: true });
  for (const curve of CURVE_ORDER) {
    const mine = points.filter((p) => p.broker === broker && p.curve === curve);
    if (mine.length === 0) continue;
    const file = `${dir}/${broker}-${curve}.svg`;
    writeFileSync(
      file,
      await renderSvg({ ...plotText(broker, curve, plan), points: plotPoints(mine, curve) }),
    );
    log(`curves: wrote ${file}`);
  }
}

/** The summary rows: each curve's largest point (latency: p99 at the highest rate both sides kept). */
function summary(broker: BrokerName, points: readonly CurvePoint[]): ResultRow[] {
  const rows: ResultRow[] = [];
  const at = (curve: CurveName, pick: (xs: number[]) => number | undefined) => {
    const mine = points.filter((p) => p.broker === broker && p.curve === curve);
    const both = [...new Set(mine.map((p) => p.x))].filter(
      (x) =>
        mine.some((p) => p.x === x && p.side === 'library') &&
        mine.some((p) => p.x === x && p.side === 'raw'),
    );
    const x = pick(both.sort((a, b) => a - b));
    if (x === undefined) return undefined;
    const lib = mine.find((p) => p.x === x && p.side === 'library');
    const raw = mine.find((p) => p.x === x && p.side === 'raw');
    return lib && raw ? { x, lib, raw } : undefined;
  };
  const largest = (xs: number[]) => xs.at(-1);
  const lines: [CurveName, (x: number) => string][] = [
    ['callers', (x) => `confirmed publish, ${x} awaiting callers`],
    ['size', (x) => `confirmed publish, ${fmtBytes(x)} bodies`],
    ['partitions', (x) => `confirmed publish, ${x} ${broker === 'kafka' ? 'partitions' : 'queues'}`],
    ['processes', (x) => `consume, ${x} consumer processes`],
  ];
  for (const [curve, label] of lines) {
    const p = at(curve, largest);
    if (p) rows.push(makeRow(`${broker}: ${label(p.x)}`, p.lib.value, p.raw.value, 'msg/s', true));
  }
  const callers64 = at('callers', (xs) => (xs.includes(64) ? 64 : undefined));
  if (callers64) {
    rows.push(
      makeRow(
        `${broker}: confirmed publish, 64 awaiting callers`,
        callers64.lib.value,
        callers64.raw.value,
        'msg/s',
        true,
      ),
    );
  }
  const heap = at('heap', largest);
  if (heap)
    rows.push(
      makeRow(
        `${broker}: peak heap growth, ${heap.x} in flight`,
        heap.lib.value,
        heap.raw.value,
        'MiB',
        false,
      ),
    );
  const keptBoth = (x: number) =>
    points
      .filter((p) => p.broker === broker && p.curve === 'latency' && p.x === x)
      .every((p) => p.kept !== false);
  const lat = at('latency', (xs) => xs.filter(keptBoth).at(-1));
  if (lat) {
    rows.push(
      makeRow(
        `${broker}: latency p99 at ${lat.x} msg/s (highest rate both kept)`,
        lat.lib.p99 ?? Number.NaN,
        lat.raw.p99 ?? Number.NaN,
        'ms',
        false,
      ),
    );
  }
  return rows;
}

function fmtBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n.toLocaleString('en-US')} B`;
}

export async function curvesBench(cfg: BenchConfig, adapter: string | undefined): Promise<CurvesReport> {
  const all: BrokerName[] = ['rabbitmq', 'kafka', 'rocketmq'];
  if (adapter === 'memory') {
    throw new Error(
      'bench: --scenario curves measures brokers; the memory adapter has none (use rabbitmq, kafka, rocketmq or all)',
    );
  }
  if (adapter !== undefined && adapter !== 'all' && !(all as string[]).includes(adapter)) {
    throw new Error(
      `bench: --scenario curves knows no adapter '${adapter}' (rabbitmq, kafka, rocketmq or all)`,
    );
  }
  const brokers = adapter === undefined || adapter === 'all' ? all : [adapter as BrokerName];
  const dir = fileURLToPath(new URL('../curves', import.meta.url));
  const started = Date.now();
  const points: CurvePoint[] = [];
  const skipped: string[] = [];
  const describe: string[] = [];
  const results: ResultRow[] = [];
  for (const name of brokers) {
    const t0 = Date.now();
    const broker =
      name === 'rabbitmq'
        ? await rabbitBroker(cfg.log)
        : name === 'kafka'
          ? await kafkaBrokerOf(cfg.log)
          : await rocketBrokerOf(cfg.log);
    describe.push(broker.describe);
    const plan = planFor(name, cfg);
    cfg.log(
      `curves ${name}: ${plan.repetitions} repetition(s) per side per point, ≤ ${plan.messages} messages / ${plan.seconds} s per publish point`,
    );
    const ctx: Ctx = { broker, plan, log: cfg.log, points, skipped };
    await brokerCurves(ctx, cfg);
    await drawBroker(dir, name, plan, points, cfg.log);
    results.push(...summary(name, points));
    cfg.log(`curves ${name}: done in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
  const durationS = Math.round((Date.now() - started) / 1000);
  cfg.log(`curves: all done in ${durationS} s; SVGs in ${dir}`);
  return { adapter: 'curves', broker: describe.join('; '), results, curves: points, skipped, durationS };
}
