// The consumer process of `--scenario failover` (bench/src/failover.ts starts it, and SIGKILLs it): one
// subscriber — the library through its driver, or the raw client (amqplib, kafkajs with its defaults, a
// rocketmq-client-nodejs SimpleConsumer) — on the subscription the parent declared. Its config comes as JSON in
// LOSSLESS_FAILOVER_CONSUMER; over IPC it reports `ready` once subscribed and every message it handles (sequence
// number + handled time, epoch ms), one IPC message per delivery so that as little as possible is in flight when
// the parent kills it. A `stop` message closes the subscriber gracefully (a Kafka member leaves its group, so the
// parent can delete the group) and exits.
import { connect, type Delivery } from '@lossless/core';
import { kafka } from '@lossless/kafka';
import { queueName, rabbitmq } from '@lossless/rabbitmq';
import { consumerGroupName, rocketmq } from '@lossless/rocketmq';
import { connect as amqpConnect } from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { SimpleConsumer } from 'rocketmq-client-nodejs';
import { receiveLoop } from './rocketmq-receive.js';

export const CONSUMER_ENV = 'LOSSLESS_FAILOVER_CONSUMER';

/** Where the broker is, as the kit's fixture reports it. */
export type Connection =
  | { broker: 'rabbitmq'; url: string }
  | { broker: 'kafka'; brokers: string[] }
  | { broker: 'rocketmq'; endpoints: string; namesrv: string; cluster: string };

export interface ConsumerConfig {
  connection: Connection;
  side: 'library' | 'raw';
  topic: string;
  subscription: string;
  /** Library handler concurrency; raw prefetch (RabbitMQ) / most unacked (RocketMQ). */
  concurrency: number;
  /**
   * Simulated work per message, ms (a timer: what an I/O-bound handler does). It is what makes the dead
   * consumer hold messages unacked when it is killed, as a real one does.
   */
  workMs: number;
  /** Library on Kafka only: the driver's consumer group timeouts (absent: the driver's defaults). */
  kafkaGroup?: { sessionTimeout: number; heartbeatInterval: number };
  /** The raw Kafka consumer group id (the driver's name for the subscription's group). */
  groupId?: string;
}

/** What the child tells the parent. Times are epoch ms (performance.timeOrigin + performance.now()). */
export type ChildMessage =
  | { t: 'ready'; at: number }
  | { t: 'h'; seq: number; at: number }
  /** Raw kafkajs only: a GROUP_JOIN event (the library's driver does not expose its kafkajs consumer). */
  | { t: 'join'; at: number; partitions: number }
  /** A warning or error of the library (its driver passes kafkajs's errors on as warnings) or of kafkajs. */
  | { t: 'log'; at: number; line: string };

/** The parent's one instruction. */
export type ParentMessage = { t: 'stop' };

/** A body as the parent writes it: the sequence number, then the publish time (epoch ms), little-endian. */
export function readSeq(body: Uint8Array): number {
  return new DataView(body.buffer, body.byteOffset, 8).getFloat64(0, true);
}

export const now = (): number => performance.timeOrigin + performance.now();

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

function send(message: ChildMessage): void {
  // A child always has its IPC channel; after the parent went away there is nobody to tell.
  if (process.connected) process.send?.(message);
}

const handled = (seq: number): void => send({ t: 'h', seq, at: now() });

/** Warnings and errors go to the parent, which prints them on the run's timeline (why a run stalled). */
const forward = (level: string) => (message: string) =>
  send({ t: 'log', at: now(), line: `${level} ${message}` });
const logger = { debug() {}, info() {}, warn: forward('warn'), error: forward('error') };

/** The handler: `workMs` of simulated work, then the message counts as handled (reported at completion, so a
 * message the dead consumer was still working on counts as not handled, and its redelivery as in flight). */
function work(cfg: ConsumerConfig, seq: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      handled(seq);
      resolve();
    }, cfg.workMs),
  );
}

/** Starts the subscriber; resolves with its graceful close once it is subscribed. */
async function start(cfg: ConsumerConfig): Promise<() => Promise<void>> {
  return cfg.side === 'library' ? startLibrary(cfg) : startRaw(cfg);
}

async function startLibrary(cfg: ConsumerConfig): Promise<() => Promise<void>> {
  const c = cfg.connection;
  const driver =
    c.broker === 'rabbitmq'
      ? rabbitmq({ url: c.url, logger })
      : c.broker === 'kafka'
        ? kafka({ brokers: c.brokers, logger, ...(cfg.kafkaGroup ?? {}) })
        : rocketmq({ endpoints: c.endpoints, namesrv: c.namesrv, cluster: c.cluster, logger });
  const bus = await connect(driver, { logger });
  // The same topology the parent declared: declaring on every bus that subscribes is safe (core's README).
  await bus.declare({
    topics: [{ name: cfg.topic }],
    subscriptions: [{ name: cfg.subscription, topic: cfg.topic }],
  });
  const sub = await bus.subscribe(cfg.topic, cfg.subscription, (d: Delivery) => work(cfg, readSeq(d.body)), {
    concurrency: cfg.concurrency,
  });
  return async () => {
    await sub.close();
    await bus.close();
  };
}

async function startRaw(cfg: ConsumerConfig): Promise<() => Promise<void>> {
  const c = cfg.connection;
  if (c.broker === 'rabbitmq') {
    const model = await amqpConnect(c.url, { noDelay: true });
    model.on('error', () => {});
    const ch = await model.createChannel();
    await ch.prefetch(cfg.concurrency);
    await ch.consume(
      queueName(cfg.topic, cfg.subscription),
      (msg) => {
        if (!msg) return;
        void work(cfg, readSeq(msg.content))
          .then(() => ch.ack(msg))
          .catch(() => {});
      },
      { noAck: false },
    );
    return async () => {
      await model.close().catch(() => {});
    };
  }
  if (c.broker === 'kafka') {
    if (cfg.groupId === undefined) throw new Error('failover consumer: raw Kafka needs its groupId');
    const client = new Kafka({
      clientId: 'lossless-bench-failover',
      brokers: c.brokers,
      logLevel: logLevel.NOTHING,
    });
    // kafkajs's group defaults, as a user would write it: sessionTimeout 30 s, heartbeatInterval 3 s,
    // rebalanceTimeout 60 s, autoCommit.
    const consumer = client.consumer({ groupId: cfg.groupId });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const partitions = Object.values(e.payload.memberAssignment).reduce((n, ps) => n + ps.length, 0);
      send({ t: 'join', at: now(), partitions });
    });
    await consumer.connect();
    await consumer.subscribe({ topic: cfg.topic, fromBeginning: true });
    await consumer.run({
      // One partition at a time (kafkajs's default) would serialise the simulated work below the publish rate
      // for a lone consumer; the library hands out across partitions too.
      partitionsConsumedConcurrently: 3,
      eachMessage: async ({ message }) => {
        if (message.value) await work(cfg, readSeq(message.value));
      },
    });
    return () => consumer.disconnect();
  }
  const consumer = new SimpleConsumer({
    endpoints: c.endpoints,
    namespace: '',
    consumerGroup: consumerGroupName(cfg.topic, cfg.subscription),
    subscriptions: new Map([[cfg.topic, '*']]),
    awaitDuration: 5_000,
    logger: quiet,
  });
  await consumer.startup();
  // An empty long poll or a proxy hiccup: receive again (the proxy itself paces the loop).
  const loop = receiveLoop(consumer, cfg.concurrency, (view) => work(cfg, readSeq(view.body)), {
    retryReceive: true,
  });
  return async () => {
    loop.stop();
    await loop.finished.catch(() => {});
    await consumer.shutdown();
  };
}

async function main(): Promise<void> {
  const raw = process.env[CONSUMER_ENV];
  if (raw === undefined)
    throw new Error(`failover consumer: ${CONSUMER_ENV} is not set (started by failover.ts)`);
  const cfg = JSON.parse(raw) as ConsumerConfig;
  // Without its parent the measurement is over: leave rather than consume on.
  process.on('disconnect', () => process.exit(0));
  const close = await start(cfg);
  process.on('message', (m: ParentMessage) => {
    if (m.t !== 'stop') return;
    void close()
      .catch((error: unknown) => console.error(`failover consumer: closing: ${String(error)}`))
      .finally(() => process.exit(0));
  });
  send({ t: 'ready', at: now() });
}

// Only as an entry point: failover.ts imports this module's types (erased) and nothing else.
if (process.env[CONSUMER_ENV] !== undefined) {
  main().catch((error: unknown) => {
    console.error(
      `failover consumer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exit(1);
  });
}
