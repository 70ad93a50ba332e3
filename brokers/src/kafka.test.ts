// Runs real Kafka nodes (KRaft, from Maven Central jars) and talks to them with raw kafkajs 2.2.4: the smoke
// path of the kit, a SIGKILL + restart that must keep an acknowledged message, and a 3-node cluster that must
// keep serving with one node dead. Cold runs download the broker jars: the hooks have generous timeouts.

import { connect, Socket } from 'node:net';
import type { Admin, Consumer, LogEntry, PartitionMetadata, Producer } from 'kafkajs';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { DEFAULT_KAFKA_VERSION, KAFKA_3_VERSION, KAFKA_4_VERSION, kafka } from './kafka.js';
import { isAlive, waitUntil } from './process.js';
import type { Broker, KafkaSettings } from './types.js';

const UP_TIMEOUT = 600_000;
const TEST_TIMEOUT = 180_000;

/** A kafkajs client whose log lines are kept and printed only when the test fails. */
function client(broker: Broker<KafkaSettings>, name: string): Kafka {
  const lines: string[] = [];
  onTestFailed(() => {
    console.error(`kafkajs (${name}):\n${lines.join('\n')}\n${broker.cluster}`);
  });
  return new Kafka({
    clientId: name,
    brokers: broker.settings.brokers,
    logLevel: logLevel.WARN,
    retry: { retries: 10 },
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        lines.push(`${logLevel[level]} ${namespace}: ${JSON.stringify(log)}`);
      },
  });
}

/**
 * Creates a one-partition topic and returns its partition once every running node reports the same leader and
 * ISR. kafkajs's createTopics({ waitForLeaders: true }) polls a random broker and gives up when that broker has
 * not replayed the new topic yet (UNKNOWN_TOPIC_OR_PARTITION, seen on a 3-node 3.9 cluster): the topic exists
 * then, so that error is followed by the same wait.
 */
async function createTopic(
  admin: Admin,
  broker: Broker<KafkaSettings>,
  topic: string,
  replicationFactor: number,
  minIsr: number,
): Promise<PartitionMetadata> {
  try {
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor,
          configEntries: [{ name: 'min.insync.replicas', value: String(minIsr) }],
        },
      ],
    });
    expect(created).toBe(true);
  } catch (error) {
    if ((error as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
  }
  return partitionSeenByAll(broker, topic);
}

async function produce(producer: Producer, topic: string, value: string): Promise<string> {
  const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: value, value }] });
  expect(meta?.errorCode).toBe(0);
  return meta?.baseOffset ?? '';
}

/**
 * Reads `topic` from the beginning in a new consumer group until every expected value arrived, committing each
 * message's next offset by hand; resolves with the values in order.
 */
async function consume(
  kafkaClient: Kafka,
  topic: string,
  expected: string[],
  groupId: string,
): Promise<string[]> {
  const consumer: Consumer = kafkaClient.consumer({ groupId, retry: { retries: 10 } });
  const seen: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      // kafkajs restarts the consumer after a retriable crash (e.g. the group coordinator moved): only a crash
      // without restart is a failure.
      consumer.on(consumer.events.CRASH, (event) => {
        if (!event.payload.restart) reject(event.payload.error);
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            seen.push(message.value?.toString() ?? '');
            await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
            if (expected.every((v) => seen.includes(v))) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/**
 * Partition 0 of `topic` as every running node reports it, once they all know the topic and agree. kafkajs's
 * createTopics({ waitForLeaders }) returns when one broker's metadata has the leaders; another broker can still
 * answer UNKNOWN_TOPIC_OR_PARTITION for a moment, and admin.fetchTopicMetadata does not retry that error.
 */
async function partitionSeenByAll(broker: Broker<KafkaSettings>, topic: string): Promise<PartitionMetadata> {
  const running = (await broker.status()).nodes
    .filter((n) => n.running)
    .map((n) => `127.0.0.1:${n.ports.kafka}`);
  let agreed: PartitionMetadata | undefined;
  await waitUntil(
    `${topic}: same metadata on ${running.join(', ')}`,
    async () => {
      const views = await Promise.all(
        running.map(async (address) => {
          // kafkajs sends each request to a random broker of its pool: pin this client to one node.
          const admin = new Kafka({
            clientId: 'metadata',
            brokers: [address],
            logLevel: logLevel.NOTHING,
            retry: { retries: 0 },
            socketFactory: ({ host, port, onConnect }) => {
              if (`${host}:${port}` === address) return connect({ host, port }, onConnect);
              const socket = new Socket();
              setImmediate(() => socket.destroy(new Error(`pinned to ${address}`)));
              return socket;
            },
          }).admin();
          await admin.connect();
          try {
            const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
            return topics[0]?.partitions[0];
          } finally {
            await admin.disconnect();
          }
        }),
      );
      const first = views[0];
      const same = (p: PartitionMetadata | undefined) =>
        p !== undefined &&
        p.leader === first?.leader &&
        p.isr.slice().sort().join() === first.isr.slice().sort().join();
      if (!views.every(same)) return false;
      agreed = first;
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return agreed!;
}

async function committed(admin: Admin, groupId: string, topic: string): Promise<string | undefined> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return offsets?.partitions[0]?.offset;
}

describe.each([
  { version: KAFKA_4_VERSION, label: '4.x' },
  { version: KAFKA_3_VERSION, label: '3.9' },
])('kafka $version single node', ({ version }) => {
  const broker = kafka({ version });

  beforeAll(async () => {
    // Concurrent calls share one start-up.
    await Promise.all([broker.up(), broker.up()]);
  }, UP_TIMEOUT);

  afterAll(async () => {
    await broker.down();
  }, UP_TIMEOUT);

  it('describes itself', async () => {
    expect(broker.cluster).toBe(`kafka-${version}-n1`);
    expect(broker.settings).toEqual({ kind: 'kafka', brokers: ['127.0.0.1:19092'] });
    const status = await broker.status();
    expect(status.nodes).toHaveLength(1);
    expect(status.nodes[0]).toMatchObject({ running: true, ports: { kafka: 19092, controller: 19093 } });
    // Another fixture object for the same cluster finds it running (state is on disk) and starts nothing.
    const pid = status.nodes[0]?.pid;
    await kafka({ version }).up();
    expect((await broker.status()).nodes[0]?.pid).toBe(pid);
  });

  it(
    'smoke: admin creates a topic, an idempotent producer writes, a consumer group reads and commits',
    async () => {
      const k = client(broker, 'smoke');
      const admin = k.admin();
      const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
      await admin.connect();
      await producer.connect();
      try {
        const topic = `smoke-${Date.now()}`;
        await createTopic(admin, broker, topic, 1, 1);
        expect(await produce(producer, topic, 'hello')).toBe('0');
        const groupId = `${topic}-group`;
        expect(await consume(k, topic, ['hello'], groupId)).toEqual(['hello']);
        expect(await committed(admin, groupId, topic)).toBe('1');
      } finally {
        await producer.disconnect();
        await admin.disconnect();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'keeps an acknowledged message through SIGKILL and restart',
    async () => {
      const k = client(broker, 'durability');
      const topic = `durable-${Date.now()}`;
      const admin = k.admin();
      await admin.connect();
      await createTopic(admin, broker, topic, 1, 1);
      await admin.disconnect();
      const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await produce(producer, topic, 'survives-sigkill');
      await producer.disconnect();

      const before = (await broker.status()).nodes[0]?.pid;
      await broker.kill();
      expect(await broker.nodes[0]?.isRunning()).toBe(false);
      if (before !== undefined) expect(isAlive(before)).toBe(false);
      await broker.restart();
      expect(await broker.nodes[0]?.isRunning()).toBe(true);

      expect(await consume(k, topic, ['survives-sigkill'], `${topic}-group`)).toEqual(['survives-sigkill']);
    },
    TEST_TIMEOUT,
  );

  it(
    'restart() of a running node stops it gracefully and brings it back',
    async () => {
      const before = (await broker.status()).nodes[0]?.pid;
      await broker.restart();
      const after = (await broker.status()).nodes[0]?.pid;
      expect(after).toBeDefined();
      expect(after).not.toBe(before);
      const k = client(broker, 'graceful');
      const admin = k.admin();
      await admin.connect();
      const topics = await admin.listTopics();
      await admin.disconnect();
      expect(topics.some((t) => t.startsWith('durable-'))).toBe(true);
    },
    TEST_TIMEOUT,
  );

  it(
    'down() leaves no process behind',
    async () => {
      const pid = (await broker.status()).nodes[0]?.pid;
      expect(pid).toBeDefined();
      await broker.down();
      const status = await broker.status();
      expect(status.nodes.every((n) => !n.running)).toBe(true);
      if (pid !== undefined) expect(isAlive(pid)).toBe(false);
    },
    TEST_TIMEOUT,
  );
});

// The default version first (the one that must pass), then the other pinned line.
describe.each([
  DEFAULT_KAFKA_VERSION,
  DEFAULT_KAFKA_VERSION === KAFKA_4_VERSION ? KAFKA_3_VERSION : KAFKA_4_VERSION,
])('kafka %s cluster of 3', (version) => {
  const broker = kafka({ nodes: 3, version });

  beforeAll(async () => {
    await broker.up();
  }, UP_TIMEOUT);

  afterAll(async () => {
    await broker.down();
  }, UP_TIMEOUT);

  it(
    'serves an RF 3 / min ISR 2 topic with one node killed, and takes the node back',
    async () => {
      expect(broker.settings.brokers).toEqual(['127.0.0.1:19192', '127.0.0.1:19194', '127.0.0.1:19196']);
      const k = client(broker, 'cluster');
      const admin = k.admin();
      await admin.connect();
      const producer = k.producer({ idempotent: true, maxInFlightRequests: 1 });
      try {
        expect((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()).toEqual([0, 1, 2]);
        const topic = `replicated-${Date.now()}`;
        const partition = await createTopic(admin, broker, topic, 3, 2);
        expect(partition?.replicas.slice().sort()).toEqual([0, 1, 2]);
        expect(partition?.isr.slice().sort()).toEqual([0, 1, 2]);

        await producer.connect();
        await produce(producer, topic, 'before-kill');

        // Kill the partition leader: the hardest case (the ISR must elect a new leader).
        const victim = partition?.leader ?? 0;
        await broker.kill(victim);
        expect(await broker.nodes[victim]?.isRunning()).toBe(false);

        expect(await consume(k, topic, ['before-kill'], `${topic}-g1`)).toEqual(['before-kill']);
        await produce(producer, topic, 'with-two-of-three');
        expect(await consume(k, topic, ['before-kill', 'with-two-of-three'], `${topic}-g2`)).toEqual([
          'before-kill',
          'with-two-of-three',
        ]);

        await broker.restart(victim);
        expect(await broker.nodes[victim]?.isRunning()).toBe(true);
        expect((await admin.describeCluster()).brokers.map((b) => b.nodeId).sort()).toEqual([0, 1, 2]);
        // restart() returns once every node's metadata has the node back in the ISR of what it replicates.
        expect((await partitionSeenByAll(broker, topic)).isr.slice().sort()).toEqual([0, 1, 2]);
        await produce(producer, topic, 'after-restart');
      } finally {
        await producer.disconnect();
        await admin.disconnect();
      }
    },
    TEST_TIMEOUT,
  );

  it('rejects a node it does not have', async () => {
    await expect(broker.kill(3)).rejects.toThrow(RangeError);
  });
});
