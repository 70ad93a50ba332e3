// The doctor: connects with the CLI's connection, reads what lossless declared and the broker's relevant
// settings, and judges them with each broker's rules (rabbitmq-rules.ts, kafka-rules.ts, rocketmq-rules.ts).
// Read-only on every broker but one: RabbitMQ's queues and exchanges are read by re-declaring them with the
// settings they already have (rabbitmq-inspect.ts says why), which changes nothing.
import { checkOptions, invalidArgument, type OptionShape } from '@lossless/core';
import { deadLetterQueueName, exchangeName, queueName } from '@lossless/rabbitmq';
import type { CliConnection } from '../connection.js';
import { inspectKafka } from './kafka-inspect.js';
import * as kafkaRules from './kafka-rules.js';
import { RabbitProbe } from './rabbitmq-inspect.js';
import {
  exchangeRules,
  queueRules,
  type RabbitClusterState,
  clusterRules as rabbitClusterRules,
} from './rabbitmq-rules.js';
import { type DoctorReport, type Finding, sortFindings } from './report.js';
import { inspectRocketMq } from './rocketmq-inspect.js';
import * as rocketRules from './rocketmq-rules.js';

export interface DoctorOptions {
  /** Topics to audit. Kafka: every topic (but `__` internal ones) when none is given; RabbitMQ and RocketMQ
   * cannot list what lossless declared without more access, so they audit only what is named here. */
  topics?: string[];
  /** Subscriptions to audit, as `<topic>.<subscription>` (the RabbitMQ queue / Kafka group name). */
  subscriptions?: string[];
  /** Per-request (and connect) timeout, ms. Default 10,000. */
  timeoutMs?: number;
}

const NAME = { type: 'string', minLength: 1, maxLength: 249 } as const;
const SHAPE: OptionShape = {
  topics: { type: 'array', of: NAME, maxLength: 10_000 },
  subscriptions: { type: 'array', of: NAME, maxLength: 10_000 },
  timeoutMs: { type: 'integer', min: 100, max: 600_000 },
};

/** Splits `<topic>.<subscription>`; INVALID_ARGUMENT for anything else (lossless names contain no dot). */
export function parseSubscription(value: string): { topic: string; subscription: string } {
  const parts = value.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw invalidArgument(
      `doctor(): subscriptions are '<topic>.<subscription>' (e.g. 'orders.warehouse'), not '${value.slice(0, 80)}'`,
    );
  }
  return { topic: parts[0], subscription: parts[1] };
}

/**
 * Audits the broker of `connection` and resolves with the findings. Rejects INVALID_ARGUMENT for bad options,
 * UNAVAILABLE when the broker cannot be reached, PERMISSION_DENIED when it refuses the login. Safe to call
 * concurrently; opens its own short-lived connections and closes them before it resolves.
 */
export async function doctor(connection: CliConnection, options?: DoctorOptions): Promise<DoctorReport> {
  const o = checkOptions<DoctorOptions>('doctor()', options, SHAPE);
  const topics = [...new Set(o.topics ?? [])];
  const subscriptions = [...new Set(o.subscriptions ?? [])].map(parseSubscription);
  const timeoutMs = o.timeoutMs ?? 10_000;
  if (connection.adapter === 'rabbitmq')
    return rabbitDoctor(connection.options, topics, subscriptions, timeoutMs);
  if (connection.adapter === 'kafka')
    return kafkaDoctor(connection.options, topics, subscriptions, timeoutMs);
  return rocketDoctor(connection.options, topics, subscriptions, timeoutMs);
}

type Sub = { topic: string; subscription: string };

async function rabbitDoctor(
  options: Extract<CliConnection, { adapter: 'rabbitmq' }>['options'],
  topics: string[],
  subscriptions: Sub[],
  timeoutMs: number,
): Promise<DoctorReport> {
  const probe = await RabbitProbe.open(options, timeoutMs);
  const findings: Finding[] = [];
  const checked: string[] = [];
  try {
    const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
    const hosts = new Set(
      urls.map((u) => {
        try {
          const x = new URL(u);
          return `${x.hostname}:${x.port}`;
        } catch {
          return u;
        }
      }),
    );
    const cluster: RabbitClusterState = { nodes: hosts.size, source: 'urls' };
    checked.push(`node count from the ${hosts.size} URL${hosts.size === 1 ? '' : 's'} given`);
    const exchanges = [...new Set([...topics, ...subscriptions.map((s) => s.topic)])].map(exchangeName);
    for (const name of exchanges) {
      const e = await probe.exchange(name);
      checked.push(`exchange ${name}`);
      if (!e)
        findings.push(
          missing('rabbitmq.exchange.missing', `exchange ${name}`, 'declare the topic with bus.declare'),
        );
      else findings.push(...exchangeRules(e));
    }
    for (const s of subscriptions) {
      const names: [string, 'queue' | 'dead-letter'][] = [
        [queueName(s.topic, s.subscription), 'queue'],
        [deadLetterQueueName(s.topic, s.subscription), 'dead-letter'],
      ];
      for (const [name, role] of names) {
        const q = await probe.queue(name, role);
        if (!q) {
          if (role === 'queue') {
            checked.push(`queue ${name}`);
            findings.push(
              missing('rabbitmq.queue.missing', `queue ${name}`, 'declare the subscription with bus.declare'),
            );
          }
          continue;
        }
        checked.push(`queue ${name}`);
        findings.push(...queueRules(q, cluster));
        if (!q.complete) {
          findings.push({
            severity: 'info',
            rule: 'rabbitmq.queue.unreadable',
            subject: `queue ${name}`,
            what: q.exclusive
              ? 'exclusive to another connection: its settings cannot be read'
              : 'some arguments could not be read back',
            why: 'the doctor reads a queue by re-declaring it, which the broker refused',
            fix: 'inspect it with `rabbitmqctl list_queues name durable auto_delete exclusive arguments`',
          });
        }
        const dlx = q.arguments['x-dead-letter-exchange'];
        if (typeof dlx === 'string' && dlx !== '' && !(await probe.exchangeExists(dlx))) {
          findings.push({
            severity: 'loses-data',
            rule: 'rabbitmq.queue.dead-letter-exchange-missing',
            subject: `queue ${name}`,
            what: `x-dead-letter-exchange: ${dlx} does not exist`,
            why: 'messages dead-lettered to a missing exchange are dropped',
            fix: 're-declare the subscription with bus.declare (it creates the .dlx exchange and .dlq queue)',
          });
        }
      }
    }
    findings.push(...rabbitClusterRules(cluster, false));
    if (topics.length === 0 && subscriptions.length === 0) {
      findings.push({
        severity: 'info',
        rule: 'rabbitmq.nothing-named',
        subject: 'cluster',
        what: 'no --topic or --subscription given',
        why: 'over AMQP the doctor cannot list queues or exchanges: it checks only what it is told',
        fix: 'name the topics and subscriptions to audit (--topic orders --subscription orders.warehouse)',
      });
    }
    return { adapter: 'rabbitmq', broker: probe.brokerName, findings: sortFindings(findings), checked };
  } finally {
    await probe.close();
  }
}

function missing(rule: string, subject: string, fix: string): Finding {
  const queue = subject.startsWith('queue ');
  return {
    severity: 'info',
    rule,
    subject,
    what: 'does not exist',
    why: queue
      ? 'nothing to audit; messages published before it is declared are not kept for this subscription'
      : 'nothing to audit; a lossless publish to a topic that does not exist fails (it is not silently dropped)',
    fix,
  };
}

async function kafkaDoctor(
  options: Extract<CliConnection, { adapter: 'kafka' }>['options'],
  topics: string[],
  subscriptions: Sub[],
  timeoutMs: number,
): Promise<DoctorReport> {
  const groups = subscriptions.map((s) => ({ group: `${s.topic}.${s.subscription}`, topic: s.topic }));
  const state = await inspectKafka(options, { topics, groups }, timeoutMs);
  const n = state.brokers.length;
  const findings: Finding[] = [...kafkaRules.clusterRules(n)];
  const checked = [`cluster ${state.clusterId} (${n} broker${n === 1 ? '' : 's'})`];
  for (const b of state.brokers) {
    checked.push(`broker ${b.nodeId} config`);
    findings.push(...kafkaRules.brokerRules(b));
  }
  for (const t of state.topics) {
    checked.push(`topic ${t.name}`);
    findings.push(...kafkaRules.topicRules(t, n));
  }
  for (const t of state.missingTopics) {
    findings.push(missing('kafka.topic.missing', `topic ${t}`, 'declare the topic with bus.declare'));
  }
  for (const g of state.groups) {
    checked.push(`group ${g.group} on ${g.topic}`);
    findings.push(...kafkaRules.groupRules(g));
  }
  return {
    adapter: 'kafka',
    broker: `Kafka cluster ${state.clusterId}, ${n} broker${n === 1 ? '' : 's'} (the protocol does not name the version)`,
    findings: sortFindings(findings),
    checked,
  };
}

async function rocketDoctor(
  options: Extract<CliConnection, { adapter: 'rocketmq' }>['options'],
  topics: string[],
  subscriptions: Sub[],
  timeoutMs: number,
): Promise<DoctorReport> {
  const state = await inspectRocketMq(options, { topics, subscriptions }, timeoutMs);
  const findings: Finding[] = [];
  const checked: string[] = [];
  for (const b of state.brokers) {
    checked.push(`broker ${b.name}/${b.id} config`);
    findings.push(...rocketRules.brokerRules(b));
  }
  for (const t of state.topics) {
    checked.push(`topic ${t.name}`);
    if (!t.exists)
      findings.push(
        missing('rocketmq.topic.missing', `topic ${t.name}`, 'declare the topic with bus.declare'),
      );
  }
  for (const g of state.groups) {
    checked.push(`group ${g.group}`);
    findings.push(...rocketRules.groupRules(g));
  }
  return { adapter: 'rocketmq', broker: state.version, findings: sortFindings(findings), checked };
}
