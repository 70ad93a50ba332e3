// The RocketMQ rules: pure functions from a broker's config (GET_BROKER_CONFIG: the broker.conf it runs with,
// defaults included), the cluster's replicas and a subscription's group to findings. rocketmq-inspect.ts reads
// the state over the remoting protocol; these only judge it.
import type { Finding } from './report.js';

/** One broker as the name server and its own config describe it. */
export interface RocketBrokerState {
  /** `broker-a` (id 0 is the master, others are its slaves). */
  readonly name: string;
  readonly id: number;
  readonly address: string;
  /** Every `key=value` of its running config. */
  readonly config: Readonly<Record<string, string>>;
  /** Slaves registered under the same broker name. */
  readonly replicas: number;
}

/** A subscription's consumer group and its dead-letter topic, as the brokers hold them. */
export interface RocketGroupState {
  readonly subscription: string;
  readonly group: string;
  /** undefined: no master broker has the group. */
  readonly retryMaxTimes: number | undefined;
  /** lossless' explicit dead-letter topic `<group>_dlq`. */
  readonly deadLetterTopic: string;
  readonly deadLetterTopicExists: boolean;
}

/** Parses the properties text GET_BROKER_CONFIG answers (MixAll.properties2String: `key=value` lines). */
export function parseProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#') || !line.includes('=')) continue;
    const i = line.indexOf('=');
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export function brokerRules(b: RocketBrokerState): Finding[] {
  const out: Finding[] = [];
  const c = b.config;
  const subject = `broker ${b.name}${b.id === 0 ? '' : ` (slave ${b.id})`} at ${b.address}`;
  if ((c.flushDiskType ?? 'ASYNC_FLUSH') === 'ASYNC_FLUSH') {
    out.push({
      severity: 'loses-data',
      rule: 'rocketmq.broker.async-flush',
      subject,
      what: 'flushDiskType=ASYNC_FLUSH',
      why: 'SEND_OK is answered before the message is fsynced: a power loss or OS crash drops the last ~500 ms of confirmed messages',
      fix: 'set flushDiskType=SYNC_FLUSH in broker.conf and restart the broker',
    });
  }
  if (b.id !== 0) return out;
  const raft = c.enableDLegerCommitLog === 'true';
  if (raft) return out;
  if (c.brokerRole === 'ASYNC_MASTER' && b.replicas > 0) {
    out.push({
      severity: 'loses-data',
      rule: 'rocketmq.broker.async-replication',
      subject,
      what: `brokerRole=ASYNC_MASTER with ${b.replicas} slave${b.replicas === 1 ? '' : 's'}`,
      why: 'SEND_OK is answered before a slave has the message: losing the master’s disk (or failing over) loses what was not yet copied',
      fix: 'set brokerRole=SYNC_MASTER (or run DLedger / controller mode with inSyncReplicas ≥ 2)',
    });
  }
  if (b.replicas === 0) {
    out.push({
      severity: 'risk',
      rule: 'rocketmq.broker.no-replica',
      subject,
      what: `no slave registered for ${b.name}${c.brokerRole ? ` (brokerRole=${c.brokerRole})` : ''}`,
      why: 'the master’s disk is the only copy of every message: its loss loses them all',
      fix: 'add a SYNC_MASTER/SLAVE pair or a DLedger group of 3',
    });
  }
  return out;
}

export function groupRules(g: RocketGroupState): Finding[] {
  const subject = `subscription ${g.subscription} (group ${g.group})`;
  const out: Finding[] = [];
  if (g.retryMaxTimes === undefined) {
    out.push({
      severity: 'risk',
      rule: 'rocketmq.group.missing',
      subject,
      what: 'no master broker has the consumer group',
      why: 'the broker creates it on first use with its defaults (or refuses consumers with autoCreateSubscriptionGroup=false), not with the declared retries',
      fix: 'declare the subscription with bus.declare before consuming',
    });
  } else if (g.retryMaxTimes <= 0) {
    out.push({
      severity: 'risk',
      rule: 'rocketmq.group.no-retries',
      subject,
      what: `retryMaxTimes=${g.retryMaxTimes}`,
      why: 'a message whose first delivery fails goes straight to %DLQ% (write-only, deleted after fileReservedTime)',
      fix: 'set the group’s retryMaxTimes (mqadmin updateSubGroup -r 15, or maxDeliveries in bus.declare)',
    });
  }
  if (!g.deadLetterTopicExists) {
    out.push({
      severity: 'risk',
      rule: 'rocketmq.group.no-dead-letter',
      subject,
      what: `no dead-letter topic ${g.deadLetterTopic}`,
      why: 'after the last delivery a failing message is dropped (or left in the broker’s write-only %DLQ%, deleted after fileReservedTime) instead of kept',
      fix: 'declare the subscription with deadLetter: true',
    });
  }
  return out;
}
