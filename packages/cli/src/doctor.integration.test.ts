// The doctor against the kit's real brokers: fixtures configured unsafely on purpose (declared with the raw
// clients, one finding per rule the broker can express) and topologies declared by lossless itself (bus.declare),
// which must have no "loses-data" finding. Every name is unique per run; the shared fixtures' own settings are
// only read, never changed: the broker-level rules (RocketMQ's flushDiskType and brokerRole, which the kit runs
// safely) are proven on the config fetched from the kit's broker, changed in memory.
import {
  kafka as kafkaBroker,
  rabbitmq as rabbitmqBroker,
  rocketmq as rocketmqBroker,
} from '@lossless/brokers';
import { connect, isLosslessError, silentLogger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { kafka } from '@lossless/kafka';
import { rabbitmq } from '@lossless/rabbitmq';
import {
  consumerGroupName,
  deadLetterTopicName,
  RocketMqAdmin,
  remotingCall,
  rocketmq,
} from '@lossless/rocketmq';
import { connect as amqpConnect } from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliConnection } from './connection.js';
import { type DoctorReport, doctor, doctorCommand, formatDoctorReport } from './doctor/index.js';
import { GET_BROKER_CONFIG } from './doctor/rocketmq-inspect.js';
import { brokerRules, parseProperties } from './doctor/rocketmq-rules.js';

const run = `doctor${Date.now().toString(36)}`;
const rules = (r: DoctorReport, subject?: string) =>
  r.findings.filter((f) => subject === undefined || f.subject === subject).map((f) => f.rule);
const losing = (r: DoctorReport) => r.findings.filter((f) => f.severity === 'loses-data');

async function declaredByLossless(driver: Driver, topic: string, subscription: string): Promise<void> {
  const bus = await connect(driver, { connectTimeoutMs: 20_000, logger: silentLogger });
  try {
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: subscription, topic }] });
  } finally {
    await bus.close();
  }
}

function captured(): { io: Parameters<typeof doctorCommand>[1]; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: {},
    },
    out: () => out,
    err: () => err,
  };
}

describe('doctor on RabbitMQ', () => {
  const broker = rabbitmqBroker();
  const url = () => broker.settings.urls[0] as string;
  const t = (n: number) => `${run}-t${n}`;
  const queues: string[] = [];
  const exchanges: string[] = [];

  beforeAll(async () => {
    await broker.up();
    const c = await amqpConnect(url());
    const ch = await c.createChannel();
    // t1: a non-durable exchange and a non-durable queue without dead-lettering.
    await ch.assertExchange(t(1), 'fanout', { durable: false });
    await ch.assertQueue(`${t(1)}.s`, { durable: false });
    // t2: a durable queue that drops its oldest messages when full, expires them, and is lazy.
    await ch.assertExchange(t(2), 'fanout', { durable: true });
    await ch.assertQueue(`${t(2)}.s`, {
      durable: true,
      arguments: {
        'x-overflow': 'drop-head',
        'x-max-length': 10,
        'x-message-ttl': 60_000,
        'x-queue-mode': 'lazy',
      },
    });
    // t3: a quorum queue of one member with a delivery limit and nowhere to dead-letter.
    await ch.assertQueue(`${t(3)}.s`, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3, 'x-quorum-initial-group-size': 1 },
    });
    // t4: a queue that deletes itself when unused, dead-lettering to an exchange that does not exist.
    await ch.assertQueue(`${t(4)}.s`, {
      durable: true,
      autoDelete: true,
      arguments: { 'x-expires': 600_000, 'x-dead-letter-exchange': `${run}-nowhere` },
    });
    queues.push(`${t(1)}.s`, `${t(2)}.s`, `${t(3)}.s`, `${t(4)}.s`);
    exchanges.push(t(1), t(2));
    await c.close();
  });

  afterAll(async () => {
    const c = await amqpConnect(url());
    const ch = await c.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    for (const e of exchanges) await ch.deleteExchange(e);
    await c.close();
  });

  it('finds each unsafe setting a queue or exchange can carry, and exits 1', async () => {
    const connection: CliConnection = { adapter: 'rabbitmq', options: { urls: [url()] } };
    const report = await doctor(connection, {
      topics: [t(1), t(2)],
      subscriptions: [`${t(1)}.s`, `${t(2)}.s`, `${t(3)}.s`, `${t(4)}.s`],
    });
    expect(report.broker).toMatch(/^RabbitMQ 3\.|^RabbitMQ 4\./);
    expect(rules(report, `exchange ${t(1)}`)).toEqual(['rabbitmq.exchange.non-durable']);
    expect(rules(report, `queue ${t(1)}.s`).sort()).toEqual([
      'rabbitmq.queue.no-dead-letter',
      'rabbitmq.queue.non-durable',
    ]);
    expect(rules(report, `queue ${t(2)}.s`).sort()).toEqual([
      'rabbitmq.queue.drop-head',
      'rabbitmq.queue.lazy',
      'rabbitmq.queue.message-ttl',
      'rabbitmq.queue.no-dead-letter',
    ]);
    expect(rules(report, `queue ${t(3)}.s`).sort()).toEqual([
      'rabbitmq.queue.delivery-limit-drops',
      'rabbitmq.queue.no-dead-letter',
      'rabbitmq.queue.quorum-few-members',
    ]);
    expect(rules(report, `queue ${t(4)}.s`).sort()).toEqual([
      'rabbitmq.queue.auto-delete',
      'rabbitmq.queue.dead-letter-exchange-missing',
      'rabbitmq.queue.expires',
    ]);
    expect(rules(report, `exchange ${t(3)}`)).toEqual(['rabbitmq.exchange.missing']);
    expect(rules(report, 'cluster')).toEqual(['rabbitmq.policies.unchecked']);
    const drop = report.findings.find((f) => f.rule === 'rabbitmq.queue.drop-head');
    expect(drop).toMatchObject({
      severity: 'loses-data',
      what: 'x-overflow: drop-head with a length limit (10)',
    });

    const cli = captured();
    const code = await doctorCommand(
      ['--adapter', 'rabbitmq', '--url', url(), '--subscription', `${t(2)}.s`],
      cli.io,
    );
    expect(code).toBe(1);
    expect(cli.out()).toContain('rabbitmq.queue.drop-head');
  });

  it('reads a classic queue on more than one node URL as a classic queue on a cluster', async () => {
    const other = url().replace('127.0.0.1', 'localhost');
    const report = await doctor(
      { adapter: 'rabbitmq', options: { urls: [url(), other] } },
      { subscriptions: [`${t(2)}.s`] },
    );
    expect(rules(report, `queue ${t(2)}.s`)).toContain('rabbitmq.queue.classic-on-cluster');
  });

  it('finds nothing that loses data in a topology lossless declared', async () => {
    const topic = `${run}-safe`;
    await declaredByLossless(rabbitmq({ url: url(), logger: silentLogger }), topic, 'warehouse');
    queues.push(`${topic}.warehouse`, `${topic}.warehouse.dlq`);
    exchanges.push(topic, `${topic}.warehouse.dlx`);
    const report = await doctor(
      { adapter: 'rabbitmq', options: { urls: [url()] } },
      { topics: [topic], subscriptions: [`${topic}.warehouse`] },
    );
    expect(losing(report)).toEqual([]);
    expect(report.checked).toEqual(
      expect.arrayContaining([
        `exchange ${topic}`,
        `queue ${topic}.warehouse`,
        `queue ${topic}.warehouse.dlq`,
      ]),
    );
    const cli = captured();
    expect(
      await doctorCommand(['--adapter', 'rabbitmq', '--url', url(), '--topic', topic, '--json'], cli.io),
    ).toBe(0);
    expect(JSON.parse(cli.out())).toMatchObject({
      adapter: 'rabbitmq',
      checked: [expect.any(String), `exchange ${topic}`],
    });
  });

  it('exits 3 when no node answers, 2 for a bad flag, and refuses unknown options', async () => {
    const cli = captured();
    expect(
      await doctorCommand(
        ['--adapter', 'rabbitmq', '--url', 'amqp://127.0.0.1:1', '--timeout-ms', '2000'],
        cli.io,
      ),
    ).toBe(3);
    expect(cli.err()).toMatch(/no node answered/);
    expect(await doctorCommand(['--adapter', 'rabbitmq', '--bogus'], captured().io)).toBe(2);
    expect(
      await doctorCommand(
        ['--adapter', 'rabbitmq', '--url', url(), '--subscription', 'no-dot'],
        captured().io,
      ),
    ).toBe(2);
    const error = await doctor({ adapter: 'rabbitmq', options: { urls: [url()] } }, {
      topic: ['x'],
    } as never).catch((e) => e);
    expect(isLosslessError(error) && error.code).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(/topic/);
  });
});

describe('doctor on Kafka', () => {
  const broker = kafkaBroker();
  const brokers = () => broker.settings.brokers;
  const client = () => new Kafka({ brokers: brokers(), logLevel: logLevel.NOTHING });
  const unsafe = `${run}-unsafe`;
  const old = `${run}-old`;
  const aging = `${run}-aging`;
  const gone = `${run}-gone`;
  const created: string[] = [];

  beforeAll(async () => {
    await broker.up();
    const admin = client().admin();
    await admin.connect();
    const hour = 3_600_000;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: unsafe,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [
            { name: 'unclean.leader.election.enable', value: 'true' },
            { name: 'min.insync.replicas', value: '1' },
          ],
        },
        {
          topic: old,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: String(hour) }],
        },
        {
          topic: aging,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'retention.ms', value: String(hour) }],
        },
        { topic: gone, numPartitions: 1, replicationFactor: 1 },
      ],
    });
    created.push(unsafe, old, aging, gone);
    const producer = client().producer();
    await producer.connect();
    const at = (ago: number) =>
      [0, 1, 2, 3].map((i) => ({ value: `m${i}`, timestamp: String(Date.now() - ago) }));
    // Four messages written two hours ago on a topic that keeps one hour; four written 40 minutes ago.
    await producer.send({ topic: old, acks: -1, messages: at(2 * hour) });
    await producer.send({ topic: aging, acks: -1, messages: at(40 * 60_000) });
    await producer.send({ topic: gone, acks: -1, messages: at(0) });
    await producer.disconnect();
    // 'gone.lost' read 1 of 4, then offsets 0-1 were deleted (deleteTopicRecords stands in for a clean-up);
    // 'old.behind' read 2 of 4 and its unread messages are past retention (the broker's retention check may
    // delete them at any moment: the finding is the same either way); 'aging.slow' read 1 of 4, 40 min behind.
    await admin.fetchTopicMetadata({ topics: [gone] }); // the admin's metadata predates the partition's leader
    await admin.deleteTopicRecords({ topic: gone, partitions: [{ partition: 0, offset: '2' }] });
    await admin.setOffsets({
      groupId: `${gone}.lost`,
      topic: gone,
      partitions: [{ partition: 0, offset: '1' }],
    });
    await admin.setOffsets({
      groupId: `${old}.behind`,
      topic: old,
      partitions: [{ partition: 0, offset: '2' }],
    });
    await admin.setOffsets({
      groupId: `${aging}.slow`,
      topic: aging,
      partitions: [{ partition: 0, offset: '1' }],
    });
    await admin.disconnect();
  });

  afterAll(async () => {
    const admin = client().admin();
    await admin.connect();
    await admin.deleteGroups([`${gone}.lost`, `${old}.behind`, `${aging}.slow`]).catch(() => {});
    await admin.deleteTopics({ topics: created }).catch(() => {});
    await admin.disconnect();
  });

  it('finds unclean leader election, min.insync.replicas 1, a single node and groups behind retention', async () => {
    const report = await doctor(
      { adapter: 'kafka', options: { brokers: brokers() } },
      {
        topics: [unsafe, old, aging, gone],
        subscriptions: [`${gone}.lost`, `${old}.behind`, `${aging}.slow`],
      },
    );
    expect(rules(report, `topic ${unsafe}`).sort()).toEqual([
      'kafka.topic.min-insync-replicas',
      'kafka.topic.unclean-leader-election',
    ]);
    expect(report.findings.find((f) => f.rule === 'kafka.topic.unclean-leader-election')?.severity).toBe(
      'loses-data',
    );
    expect(rules(report, 'cluster')).toEqual(['kafka.cluster.single-node']);
    const lost = report.findings.filter((f) => f.subject === `group ${gone}.lost on ${gone}`);
    expect(lost).toMatchObject([{ rule: 'kafka.group.behind-retention', severity: 'loses-data' }]);
    expect(lost[0]?.what).toMatch(/1 messages deleted unread/);
    expect(report.findings.filter((f) => f.subject === `group ${old}.behind on ${old}`)).toMatchObject([
      { rule: 'kafka.group.behind-retention', severity: 'loses-data' },
    ]);
    expect(report.findings.filter((f) => f.subject === `group ${aging}.slow on ${aging}`)).toMatchObject([
      { rule: 'kafka.group.near-retention', severity: 'risk' },
    ]);
    const cli = captured();
    expect(
      await doctorCommand(
        ['--adapter', 'kafka', '--brokers', brokers().join(','), '--topic', unsafe],
        cli.io,
      ),
    ).toBe(1);
  });

  it('finds nothing that loses data in a topology lossless declared', async () => {
    const topic = `${run}-safe`;
    await declaredByLossless(kafka({ brokers: brokers(), logger: silentLogger }), topic, 'warehouse');
    created.push(topic, `${topic}.warehouse.retry`, `${topic}.warehouse.dlq`);
    const report = await doctor(
      { adapter: 'kafka', options: { brokers: brokers() } },
      {
        topics: [topic, `${topic}.warehouse.retry`, `${topic}.warehouse.dlq`],
        subscriptions: [`${topic}.warehouse`],
      },
    );
    expect(losing(report)).toEqual([]);
    expect(report.checked).toContain(`topic ${topic}`);
    expect(report.checked).toContain(`group ${topic}.warehouse on ${topic}`);
  });

  it('exits 3 when no broker answers', async () => {
    const cli = captured();
    expect(
      await doctorCommand(['--adapter', 'kafka', '--brokers', '127.0.0.1:1', '--timeout-ms', '1000'], cli.io),
    ).toBe(3);
    expect(cli.err()).toMatch(/kafka doctor: cannot reach 127\.0\.0\.1:1/);
  });
});

describe('doctor on RocketMQ', () => {
  const broker = rocketmqBroker();
  const s = () => broker.settings;
  const topic = `${run}-rq`;
  const admin = () => new RocketMqAdmin({ namesrv: s().namesrv, cluster: s().cluster });

  beforeAll(async () => {
    await broker.up();
  });

  afterAll(async () => {
    await admin()
      .deleteGroup(consumerGroupName(topic, 'noretry'))
      .catch(() => {});
    for (const sub of ['warehouse']) {
      await admin()
        .deleteGroup(consumerGroupName(`${run}-rqsafe`, sub))
        .catch(() => {});
      await admin()
        .deleteTopic(deadLetterTopicName(`${run}-rqsafe`, sub))
        .catch(() => {});
    }
    await admin()
      .deleteTopic(`${run}-rqsafe`)
      .catch(() => {});
  });

  it('finds a group without retries or dead-letter topic, a missing group, and the unreplicated broker', async () => {
    await admin().createGroup(consumerGroupName(topic, 'noretry'), { retryMaxTimes: 0 });
    const report = await doctor(
      { adapter: 'rocketmq', options: { endpoints: s().endpoints, namesrv: s().namesrv } },
      { subscriptions: [`${topic}.noretry`, `${topic}.nogroup`] },
    );
    expect(report.broker).toMatch(/^RocketMQ 5\./);
    const noretry = `subscription ${topic}.noretry (group ${consumerGroupName(topic, 'noretry')})`;
    expect(rules(report, noretry).sort()).toEqual([
      'rocketmq.group.no-dead-letter',
      'rocketmq.group.no-retries',
    ]);
    const nogroup = `subscription ${topic}.nogroup (group ${consumerGroupName(topic, 'nogroup')})`;
    expect(rules(report, nogroup).sort()).toEqual([
      'rocketmq.group.missing',
      'rocketmq.group.no-dead-letter',
    ]);
    // The kit runs SYNC_FLUSH on a lone ASYNC_MASTER: no flush finding, one "no replica" risk.
    expect(rules(report).filter((r) => r.startsWith('rocketmq.broker.'))).toEqual([
      'rocketmq.broker.no-replica',
    ]);
  });

  it('judges the kit broker’s real config as loses-data once it says ASYNC_FLUSH, or ASYNC_MASTER with a slave', async () => {
    const r = await remotingCall(s().broker, GET_BROKER_CONFIG, {});
    const config = parseProperties(r.body.toString('utf8'));
    expect(config.flushDiskType).toBe('SYNC_FLUSH');
    const base = { name: 'broker-a', id: 0, address: s().broker, replicas: 0 };
    expect(brokerRules({ ...base, config }).map((f) => f.rule)).toEqual(['rocketmq.broker.no-replica']);
    const asyncFlush = brokerRules({ ...base, config: { ...config, flushDiskType: 'ASYNC_FLUSH' } });
    expect(asyncFlush.find((f) => f.rule === 'rocketmq.broker.async-flush')?.severity).toBe('loses-data');
    const replicated = brokerRules({ ...base, replicas: 1, config });
    expect(replicated.map((f) => [f.rule, f.severity])).toEqual([
      ['rocketmq.broker.async-replication', 'loses-data'],
    ]);
    expect(brokerRules({ ...base, replicas: 1, config: { ...config, brokerRole: 'SYNC_MASTER' } })).toEqual(
      [],
    );
  });

  it('finds nothing that loses data in a topology lossless declared', async () => {
    const safe = `${run}-rqsafe`;
    await declaredByLossless(
      rocketmq({
        endpoints: s().endpoints,
        namesrv: s().namesrv,
        cluster: s().cluster,
        logger: silentLogger,
      }),
      safe,
      'warehouse',
    );
    const report = await doctor(
      { adapter: 'rocketmq', options: { endpoints: s().endpoints, namesrv: s().namesrv } },
      { topics: [safe], subscriptions: [`${safe}.warehouse`] },
    );
    expect(losing(report)).toEqual([]);
    expect(rules(report).filter((r) => r.startsWith('rocketmq.group.'))).toEqual([]);
    expect(formatDoctorReport(report)).toContain('0 loses-data');
  });
});
