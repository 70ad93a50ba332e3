// The consume side of the scaling curves (curves.ts): where each broker's library target and raw consumer are
// built from plain settings (so a child process can build them from JSON), and — run as an entry point — one
// consumer process of the "consume throughput vs consumer processes" curve. Such a child connects (library: bus +
// declare; raw: the client's consumer), says `ready`, subscribes on `go`, reports how many messages it handled
// and when its first and last one arrived (epoch ms) every 100 ms, and closes and exits on `stop`.
import { pathToFileURL } from 'node:url';
import { connect, silentLogger, type Topology } from '@lossless/core';
import { consumerGroupId, kafka } from '@lossless/kafka';
import { queueName, rabbitmq } from '@lossless/rabbitmq';
import { consumerGroupName, rocketmq } from '@lossless/rocketmq';
import { connect as amqpConnect } from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { SimpleConsumer } from 'rocketmq-client-nodejs';
import type { LibraryTarget } from './library.js';
import { SUBSCRIPTION } from './library.js';
import { receiveLoop } from './rocketmq-receive.js';

export type BrokerName = 'rabbitmq' | 'kafka' | 'rocketmq';

/** What reaches a broker, as plain JSON (a child process gets it on its command line). */
export type BrokerSettings =
  | { broker: 'rabbitmq'; url: string }
  | { broker: 'kafka'; brokers: string[] }
  | { broker: 'rocketmq'; endpoints: string; namesrv: string; cluster: string };

/**
 * The library side's driver and topology. `partitions` sets Kafka partitions / RocketMQ queues per topic (the
 * driver's default when undefined); RabbitMQ queues are classic (the kit's node is a single node anyway).
 */
export function libraryTarget(s: BrokerSettings, partitions?: number): LibraryTarget {
  return {
    driver: () => {
      switch (s.broker) {
        case 'rabbitmq':
          return rabbitmq({ url: s.url, logger: silentLogger });
        case 'kafka':
          return kafka({ brokers: s.brokers, logger: silentLogger });
        case 'rocketmq':
          return rocketmq({
            endpoints: s.endpoints,
            namesrv: s.namesrv,
            cluster: s.cluster,
            logger: silentLogger,
          });
      }
    },
    topology: (topic, subscription) => topologyOf(s, [topic], partitions, subscription),
  };
}

/** Several topics, each with one subscription, in one declare (RabbitMQ's "queues" curve). */
export function topologyOf(
  s: BrokerSettings,
  topics: readonly string[],
  partitions: number | undefined,
  subscription = SUBSCRIPTION,
): Topology {
  return {
    topics: topics.map((name) => (partitions === undefined ? { name } : { name, partitions })),
    subscriptions: topics.map((topic) =>
      s.broker === 'rabbitmq'
        ? { name: subscription, topic, queueType: 'classic' as const }
        : { name: subscription, topic },
    ),
  };
}

/** A running consumer of either side. */
export interface Consuming {
  close(): Promise<void>;
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/**
 * The raw client's consumer of `topic`'s subscription, at most `prefetch` messages unsettled, each acked /
 * committed after `onMessage` ran (an empty handler otherwise), the same patterns as the main bench's raw sides:
 * RabbitMQ channel prefetch + manual ack a microtask later; kafkajs autoCommit off, a batch's handlers
 * `prefetch` at a time, one commit per batch; RocketMQ a SimpleConsumer receive loop (≤ 32 per receive).
 */
export async function rawConsume(
  s: BrokerSettings,
  topic: string,
  prefetch: number,
  onMessage: (body: Buffer) => void,
): Promise<Consuming> {
  switch (s.broker) {
    case 'rabbitmq': {
      const model = await amqpConnect(s.url, { noDelay: true });
      model.on('error', () => {});
      const ch = await model.createChannel();
      ch.on('error', () => {});
      await ch.prefetch(prefetch);
      const ok = await ch.consume(
        queueName(topic, SUBSCRIPTION),
        (msg) => {
          if (!msg) return;
          void Promise.resolve()
            .then(() => {
              onMessage(msg.content);
              ch.ack(msg);
            })
            .catch(() => {}); // a closed channel: the side times out and is measured again
        },
        { noAck: false },
      );
      return {
        close: async () => {
          await ch.cancel(ok.consumerTag).catch(() => {});
          await ch.close().catch(() => {});
          await model.close().catch(() => {});
        },
      };
    }
    case 'kafka': {
      const client = new Kafka({
        clientId: 'lossless-bench-curves',
        brokers: s.brokers,
        logLevel: logLevel.NOTHING,
      });
      const consumer = client.consumer({ groupId: consumerGroupId(topic, SUBSCRIPTION) });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const messages = batch.messages;
          let last: string | undefined;
          for (let i = 0; i < messages.length && isRunning() && !isStale(); i += prefetch) {
            const chunk = messages.slice(i, i + prefetch);
            await Promise.all(
              chunk.map(async (m) => {
                if (m.value) onMessage(m.value);
              }),
            );
            const tail = chunk.at(-1);
            if (tail === undefined) break;
            last = tail.offset;
            resolveOffset(last);
            await heartbeat();
          }
          if (last !== undefined) {
            await consumer.commitOffsets([
              { topic: batch.topic, partition: batch.partition, offset: String(BigInt(last) + 1n) },
            ]);
          }
        },
      });
      return { close: () => consumer.disconnect() };
    }
    case 'rocketmq': {
      const consumer = new SimpleConsumer({
        endpoints: s.endpoints,
        namespace: '',
        consumerGroup: consumerGroupName(topic, SUBSCRIPTION),
        subscriptions: new Map([[topic, '*']]),
        awaitDuration: 2_000,
        logger: quiet,
      });
      await consumer.startup();
      const loop = receiveLoop(consumer, prefetch, (view) => onMessage(view.body));
      return {
        close: async () => {
          loop.stop();
          await consumer.shutdown().catch(() => {});
          await loop.finished.catch(() => {});
        },
      };
    }
  }
}

/** The library's subscription with `concurrency` handlers, an empty handler besides `onMessage`. */
export async function libraryConsume(
  s: BrokerSettings,
  topic: string,
  concurrency: number,
  partitions: number | undefined,
  onMessage: (body: Uint8Array) => void,
): Promise<{ subscribe(): Promise<void>; close(): Promise<void> }> {
  const target = libraryTarget(s, partitions);
  const bus = await connect(target.driver(), { logger: silentLogger });
  await bus.declare(target.topology(topic, SUBSCRIPTION));
  let sub: { close(): Promise<void> } | undefined;
  return {
    subscribe: async () => {
      sub = await bus.subscribe(topic, SUBSCRIPTION, async (d) => onMessage(d.body), { concurrency });
    },
    close: async () => {
      await sub?.close().catch(() => {});
      await bus.close().catch(() => {});
    },
  };
}

/** What a child process is told on its command line. */
export interface ChildSpec {
  settings: BrokerSettings;
  side: 'library' | 'raw';
  topic: string;
  concurrency: number;
  partitions?: number;
}

/** What a child process reports: handled messages so far, first and last handled (epoch ms, 0: none yet). */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'progress'; count: number; first: number; last: number };

const now = () => performance.timeOrigin + performance.now();

async function child(spec: ChildSpec): Promise<void> {
  const send = (m: ChildMessage) => process.send?.(m);
  let count = 0;
  let first = 0;
  let last = 0;
  const onMessage = () => {
    last = now();
    if (count++ === 0) first = last;
  };
  // Connecting and declaring happen before `go`, so every process is ready when the parent starts them all.
  const lib =
    spec.side === 'library'
      ? await libraryConsume(spec.settings, spec.topic, spec.concurrency, spec.partitions, onMessage)
      : undefined;
  let running: Consuming | undefined;
  const report = setInterval(() => send({ type: 'progress', count, first, last }), 100);
  process.on('message', (m: unknown) => {
    if (m === 'go') {
      const start = lib
        ? lib.subscribe()
        : rawConsume(spec.settings, spec.topic, spec.concurrency, onMessage).then((c) => {
            running = c;
          });
      start.catch((error: unknown) => {
        console.error(`curves consumer: ${String(error)}`);
        process.exit(1);
      });
    } else if (m === 'stop') {
      clearInterval(report);
      send({ type: 'progress', count, first, last });
      void (async () => {
        await lib?.close();
        await running?.close();
        process.exit(0);
      })();
    }
  });
  // The parent went away: nothing left to report to.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
  child(spec).catch((error: unknown) => {
    console.error(`curves consumer: ${String(error)}`);
    process.exit(1);
  });
}
