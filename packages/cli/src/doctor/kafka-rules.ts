// The Kafka rules: pure functions from a topic's replication and configs, the brokers' configs and a consumer
// group's position to findings. kafka-inspect.ts gathers the state with kafkajs' admin; these only judge it.
import type { Finding } from './report.js';

/** A topic as the cluster holds it. */
export interface KafkaTopicState {
  readonly name: string;
  /** The smallest replica count over its partitions. */
  readonly replicationFactor: number;
  readonly partitions: number;
  /** Its effective configs (topic overrides, else broker defaults), as describeConfigs answers them. */
  readonly config: Readonly<Record<string, string | null>>;
}

/** A broker's relevant configs. */
export interface KafkaBrokerState {
  readonly nodeId: number;
  readonly config: Readonly<Record<string, string | null>>;
}

/** Where a consumer group stands on one partition of one topic. */
export interface KafkaGroupPartition {
  readonly partition: number;
  /** The next offset the group reads; -1 when it has committed nothing. */
  readonly committed: number;
  /** The partition's first retained offset. */
  readonly low: number;
  readonly high: number;
  /** The first offset written at or after (now − retention.ms); `high` when none is. */
  readonly retentionHorizon: number;
  /** The first offset written at or after (now − retention.ms / 2). */
  readonly halfRetentionHorizon: number;
}

export interface KafkaGroupState {
  readonly group: string;
  readonly topic: string;
  readonly retentionMs: number | undefined;
  readonly partitions: readonly KafkaGroupPartition[];
}

export function clusterRules(brokers: number): Finding[] {
  if (brokers >= 2) return [];
  return [
    {
      severity: 'risk',
      rule: 'kafka.cluster.single-node',
      subject: 'cluster',
      what: 'one broker',
      why: 'every partition has one copy: acks=all waits for nothing else, and that broker’s disk (or an OS crash before the page cache is flushed) holds every message',
      fix: 'run 3 brokers and declare topics with replicas: 3, minInSyncReplicas: 2',
    },
  ];
}

export function brokerRules(b: KafkaBrokerState): Finding[] {
  if (b.config['unclean.leader.election.enable'] !== 'true') return [];
  return [
    {
      severity: 'loses-data',
      rule: 'kafka.broker.unclean-leader-election',
      subject: `broker ${b.nodeId}`,
      what: 'unclean.leader.election.enable=true (broker default for every topic)',
      why: 'an out-of-sync replica may become leader: messages acked by the old leader and not copied are truncated',
      fix: 'set unclean.leader.election.enable=false in server.properties (or kafka-configs --entity-type brokers)',
    },
  ];
}

function int(v: string | null | undefined): number | undefined {
  if (v === null || v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export function topicRules(t: KafkaTopicState, brokers: number): Finding[] {
  const out: Finding[] = [];
  const subject = `topic ${t.name}`;
  if (brokers >= 3 && t.replicationFactor < 3) {
    out.push({
      severity: t.replicationFactor === 1 ? 'loses-data' : 'risk',
      rule: 'kafka.topic.replication-factor',
      subject,
      what: `replication factor ${t.replicationFactor} on a cluster of ${brokers} brokers`,
      why:
        t.replicationFactor === 1
          ? 'one copy per partition: the loss of its broker’s disk loses the partition'
          : 'two copies: with min.insync.replicas=2 one broker down stops writes, with 1 the last copy’s loss loses data',
      fix: 'raise the replication factor to 3 (kafka-reassign-partitions) and set min.insync.replicas=2',
    });
  }
  const minIsr = int(t.config['min.insync.replicas']);
  if (minIsr !== undefined && minIsr < 2) {
    out.push({
      severity: t.replicationFactor >= 2 ? 'loses-data' : 'risk',
      rule: 'kafka.topic.min-insync-replicas',
      subject,
      what: `min.insync.replicas=${minIsr} (replication factor ${t.replicationFactor})`,
      why:
        t.replicationFactor >= 2
          ? 'acks=all is satisfied by the leader alone: a message acked just before the leader dies can be gone'
          : 'no second copy to wait for: acks=all means the leader’s page cache',
      fix:
        t.replicationFactor >= 2
          ? `kafka-configs --alter --entity-type topics --entity-name ${t.name} --add-config min.insync.replicas=2`
          : 'replicate the topic (3 replicas) and set min.insync.replicas=2',
    });
  }
  if (t.config['unclean.leader.election.enable'] === 'true') {
    out.push({
      severity: 'loses-data',
      rule: 'kafka.topic.unclean-leader-election',
      subject,
      what: 'unclean.leader.election.enable=true',
      why: 'an out-of-sync replica may become leader: acked messages it never received are truncated everywhere',
      fix: `kafka-configs --alter --entity-type topics --entity-name ${t.name} --add-config unclean.leader.election.enable=false`,
    });
  }
  return out;
}

/**
 * A consumer group behind its topic's retention: messages deleted (or about to be) before the group read them.
 * loses-data when unread messages are older than retention.ms (deleted at the next segment clean-up) or already
 * below the partition's first offset; risk when they are older than half of it.
 */
export function groupRules(g: KafkaGroupState): Finding[] {
  const out: Finding[] = [];
  const subject = `group ${g.group} on ${g.topic}`;
  const retention = g.retentionMs === undefined || g.retentionMs < 0 ? 'unlimited' : `${g.retentionMs} ms`;
  const lost = g.partitions.filter((p) => p.committed >= 0 && p.committed < p.low);
  const expired = g.partitions.filter(
    (p) => !lost.includes(p) && p.committed >= 0 && p.committed < p.high && p.committed < p.retentionHorizon,
  );
  const aging = g.partitions.filter(
    (p) =>
      !lost.includes(p) &&
      !expired.includes(p) &&
      p.committed >= 0 &&
      p.committed < p.high &&
      p.committed < p.halfRetentionHorizon,
  );
  const list = (ps: readonly KafkaGroupPartition[]) => ps.map((p) => p.partition).join(', ');
  if (lost.length > 0) {
    const n = lost.reduce((s, p) => s + (p.low - p.committed), 0);
    out.push({
      severity: 'loses-data',
      rule: 'kafka.group.behind-retention',
      subject,
      what: `committed offset below the first retained offset on partition ${list(lost)} (${n} messages deleted unread)`,
      why: `retention (${retention}) deleted messages this group had not consumed`,
      fix: 'raise retention.ms above the longest lag the group may have, and alert on consumer lag',
    });
  }
  if (expired.length > 0) {
    out.push({
      severity: 'loses-data',
      rule: 'kafka.group.behind-retention',
      subject,
      what: `unconsumed messages older than retention.ms (${retention}) on partition ${list(expired)}`,
      why: 'they are deleted with their segment at the next clean-up although the group never read them',
      fix: `raise retention.ms now (kafka-configs --alter --entity-type topics --entity-name ${g.topic} --add-config retention.ms=…), then catch the group up`,
    });
  }
  if (aging.length > 0) {
    out.push({
      severity: 'risk',
      rule: 'kafka.group.near-retention',
      subject,
      what: `oldest unconsumed message older than half of retention.ms (${retention}) on partition ${list(aging)}`,
      why: 'if the group stays this far behind, retention deletes messages before it reads them',
      fix: 'scale the consumers or raise retention.ms',
    });
  }
  return out;
}
