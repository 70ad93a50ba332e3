// The rule functions on states recorded from the kit's real brokers (RabbitMQ 3.10.8's 406 answers, Kafka 4.4's
// describeConfigs entries, RocketMQ 5.3.3's GET_BROKER_CONFIG text), changed where the kit's single nodes cannot
// show a setting (three brokers, a slave, ASYNC_FLUSH, a quorum queue's members).
import { isLosslessError } from '@lossless/core';
import { describe, expect, it } from 'vitest';
import { doctor, parseSubscription } from './doctor.js';
import { groupRules, brokerRules as kafkaBrokerRules, topicRules } from './kafka-rules.js';
import { parseInequivalence } from './rabbitmq-inspect.js';
import { queueRules, type RabbitQueueState } from './rabbitmq-rules.js';
import { type DoctorReport, formatDoctorReport, sortFindings } from './report.js';
import { brokerRules, parseProperties } from './rocketmq-rules.js';

// Recorded: amqplib's error messages for re-declarations the kit's RabbitMQ 3.10.8 refused.
const RECORDED_406 = {
  durable:
    "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'doctor-probe-1796597399396-nd' in vhost '/': received 'true' but current is 'false'\"",
  ttl: "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'doctor-probe-1796597399396-nd' in vhost '/': received none but current is the value '5000' of type 'short'\"",
  type: "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'doctor-probe-1796597399396-q' in vhost '/': received none but current is the value 'quorum' of type 'longstr'\"",
  extra:
    "Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' for queue 'doctor-probe-1796597399396-q' in vhost '/': received the value 'x' of type 'longstr' but current is none\"",
};

// Recorded: describeConfigs of a topic created with unclean.leader.election.enable=true, min.insync.replicas=1
// on the kit's Kafka 4.4.0, and of its broker 0.
const RECORDED_TOPIC_CONFIG = {
  'min.insync.replicas': '1',
  'retention.ms': '604800000',
  'unclean.leader.election.enable': 'true',
};
const RECORDED_BROKER_CONFIG = {
  'min.insync.replicas': '1',
  'unclean.leader.election.enable': 'false',
  'log.retention.ms': null,
};

// Recorded: an excerpt of the kit broker's GET_BROKER_CONFIG answer (RocketMQ 5.3.3).
const RECORDED_BROKER_CONF = `brokerClusterName=lossless
brokerId=0
brokerName=broker-a
brokerRole=ASYNC_MASTER
enableControllerMode=false
enableDLegerCommitLog=false
fileReservedTime=72
flushDiskType=SYNC_FLUSH
inSyncReplicas=1
minInSyncReplicas=1
totalReplicas=1
`;

const queue = (over: Partial<RabbitQueueState>): RabbitQueueState => ({
  name: 'orders.warehouse',
  role: 'queue',
  durable: true,
  autoDelete: false,
  exclusive: false,
  arguments: { 'x-dead-letter-exchange': 'orders.warehouse.dlx' },
  ...over,
});
const ids = (fs: { rule: string }[]) => fs.map((f) => f.rule).sort();

describe('RabbitMQ rules', () => {
  it('reads the current value out of each recorded 406', () => {
    expect(parseInequivalence(RECORDED_406.durable)).toEqual({ arg: 'durable', current: false });
    expect(parseInequivalence(RECORDED_406.ttl)).toEqual({ arg: 'x-message-ttl', current: 5000 });
    expect(parseInequivalence(RECORDED_406.type)).toEqual({ arg: 'x-queue-type', current: 'quorum' });
    expect(parseInequivalence(RECORDED_406.extra)).toEqual({
      arg: 'x-dead-letter-exchange',
      current: undefined,
    });
    expect(
      parseInequivalence('Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) other'),
    ).toBeUndefined();
  });

  it('flags a quorum queue with fewer than 3 members as a risk, and 3 members as fine', () => {
    const single = { nodes: 3, source: 'management' } as const;
    const q = (members: number) =>
      queue({
        members,
        arguments: {
          'x-queue-type': 'quorum',
          'x-dead-letter-exchange': 'd',
          'x-dead-letter-strategy': 'at-least-once',
          'x-overflow': 'reject-publish',
        },
      });
    expect(queueRules(q(2), single).map((f) => [f.rule, f.severity])).toEqual([
      ['rabbitmq.queue.quorum-few-members', 'risk'],
    ]);
    expect(queueRules(q(3), single)).toEqual([]);
  });

  it('flags a classic queue on a cluster as losing data, not on one node', () => {
    expect(ids(queueRules(queue({}), { nodes: 3, source: 'management' }))).toEqual([
      'rabbitmq.queue.classic-on-cluster',
    ]);
    expect(queueRules(queue({}), { nodes: 1, source: 'urls' })).toEqual([]);
  });

  it('treats a length limit without x-overflow as drop-head, and a dead-letter exchange as softening it', () => {
    const limited = queue({ arguments: { 'x-max-length': 100 } });
    expect(queueRules(limited, { nodes: 1, source: 'urls' }).map((f) => [f.rule, f.severity])).toEqual([
      ['rabbitmq.queue.drop-head', 'loses-data'],
      ['rabbitmq.queue.no-dead-letter', 'risk'],
    ]);
    const withDlx = queue({ arguments: { 'x-max-length': 100, 'x-dead-letter-exchange': 'd' } });
    expect(queueRules(withDlx, { nodes: 1, source: 'urls' }).map((f) => f.severity)).toEqual(['risk']);
  });

  it('does not ask a dead-letter queue for its own dead-letter exchange', () => {
    expect(queueRules(queue({ role: 'dead-letter', arguments: {} }), { nodes: 1, source: 'urls' })).toEqual(
      [],
    );
  });
});

describe('Kafka rules', () => {
  it('judges the recorded topic config: unclean election loses data, min.insync.replicas 1 on RF 1 is a risk', () => {
    const t = { name: 't', partitions: 1, replicationFactor: 1, config: RECORDED_TOPIC_CONFIG };
    expect(topicRules(t, 1).map((f) => [f.rule, f.severity])).toEqual([
      ['kafka.topic.min-insync-replicas', 'risk'],
      ['kafka.topic.unclean-leader-election', 'loses-data'],
    ]);
  });

  it('on three brokers: replication factor 1 and min.insync.replicas 1 with replicas both lose data', () => {
    const config = { ...RECORDED_TOPIC_CONFIG, 'unclean.leader.election.enable': 'false' };
    expect(
      topicRules({ name: 't', partitions: 3, replicationFactor: 1, config }, 3).map((f) => [
        f.rule,
        f.severity,
      ]),
    ).toEqual([
      ['kafka.topic.replication-factor', 'loses-data'],
      ['kafka.topic.min-insync-replicas', 'risk'],
    ]);
    expect(
      topicRules({ name: 't', partitions: 3, replicationFactor: 3, config }, 3).map((f) => [
        f.rule,
        f.severity,
      ]),
    ).toEqual([['kafka.topic.min-insync-replicas', 'loses-data']]);
    const safe = { ...config, 'min.insync.replicas': '2' };
    expect(topicRules({ name: 't', partitions: 3, replicationFactor: 3, config: safe }, 3)).toEqual([]);
  });

  it('flags unclean leader election at broker level once the recorded broker config says true', () => {
    expect(kafkaBrokerRules({ nodeId: 0, config: RECORDED_BROKER_CONFIG })).toEqual([]);
    const unclean = { ...RECORDED_BROKER_CONFIG, 'unclean.leader.election.enable': 'true' };
    expect(ids(kafkaBrokerRules({ nodeId: 0, config: unclean }))).toEqual([
      'kafka.broker.unclean-leader-election',
    ]);
  });

  it('says nothing about a group that is caught up, or that has committed nothing', () => {
    const p = { partition: 0, low: 0, high: 4, retentionHorizon: 4, halfRetentionHorizon: 4 };
    expect(
      groupRules({ group: 'g', topic: 't', retentionMs: 1, partitions: [{ ...p, committed: 4 }] }),
    ).toEqual([]);
    expect(
      groupRules({ group: 'g', topic: 't', retentionMs: 1, partitions: [{ ...p, committed: -1 }] }),
    ).toEqual([]);
  });
});

describe('RocketMQ rules', () => {
  const config = parseProperties(RECORDED_BROKER_CONF);
  const base = { name: 'broker-a', id: 0, address: '127.0.0.1:20911', replicas: 0 };

  it('parses the recorded config and finds only the missing replica', () => {
    expect(config.flushDiskType).toBe('SYNC_FLUSH');
    expect(ids(brokerRules({ ...base, config }))).toEqual(['rocketmq.broker.no-replica']);
  });

  it('finds ASYNC_FLUSH on a slave too, and nothing about replication under DLedger', () => {
    const slave = brokerRules({
      ...base,
      id: 1,
      replicas: 1,
      config: { ...config, flushDiskType: 'ASYNC_FLUSH', brokerRole: 'SLAVE' },
    });
    expect(ids(slave)).toEqual(['rocketmq.broker.async-flush']);
    expect(brokerRules({ ...base, config: { ...config, enableDLegerCommitLog: 'true' } })).toEqual([]);
  });
});

describe('doctor() options and the report', () => {
  it('refuses an unknown option key and a subscription that is not <topic>.<subscription>, before connecting', async () => {
    const connection = { adapter: 'kafka', options: { brokers: ['127.0.0.1:1'] } } as const;
    const unknown = await doctor(connection, { topcis: ['a'] } as never).catch((e: unknown) => e);
    expect(isLosslessError(unknown) && unknown.code).toBe('INVALID_ARGUMENT');
    expect((unknown as Error).message).toMatch(/topcis/);
    const bad = await doctor(connection, { subscriptions: ['a.b.c'] }).catch((e: unknown) => e);
    expect(isLosslessError(bad) && bad.code).toBe('INVALID_ARGUMENT');
    expect(parseSubscription('orders.warehouse')).toEqual({ topic: 'orders', subscription: 'warehouse' });
  });

  it('prints findings worst first with their why and fix, and the summary', () => {
    const report: DoctorReport = {
      adapter: 'rabbitmq',
      broker: 'RabbitMQ 3.10.8',
      checked: ['queue q'],
      findings: sortFindings([
        { severity: 'info', rule: 'r.c', subject: 'b', what: 'w3', why: 'y3', fix: 'f3' },
        { severity: 'loses-data', rule: 'r.a', subject: 'a', what: 'w1', why: 'y1', fix: 'f1' },
      ]),
    };
    const text = formatDoctorReport(report);
    expect(text.indexOf('r.a')).toBeLessThan(text.indexOf('r.c'));
    expect(text).toContain('   fix: f1');
    expect(text).toContain('1 loses-data, 0 risk, 1 info');
  });
});
