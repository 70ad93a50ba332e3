// The portable topology: topics (where producers publish) and subscriptions (durable, named streams of every
// message of one topic, shared by competing consumers). Validated here once for every driver.
import { invalidArgument } from './errors.js';
import { validateName } from './message.js';
import { checkOptions, type OptionShape } from './validate.js';

export interface TopicSpec {
  name: string;
  /** Kafka partitions / RocketMQ queues. Default: the driver's (Kafka: 3, RocketMQ: 4). */
  partitions?: number;
  /** Copies of each message the broker keeps (Kafka replication factor, quorum queue group size). */
  replicas?: number;
  /** Minimum in-sync replicas that must have a message before it is confirmed (Kafka). */
  minInSyncReplicas?: number;
  /** 'key': messages of one key are stored and delivered in order (RocketMQ FIFO topic). Default 'none'. */
  ordering?: 'none' | 'key';
}

export interface SubscriptionSpec {
  name: string;
  topic: string;
  /**
   * Deliveries before a failing message is dead-lettered (or, with deadLetter false, dropped by the broker
   * where it enforces a limit). Default 10.
   */
  maxDeliveries?: number;
  /** Keep messages that exhausted maxDeliveries on a dead-letter destination. Default true. */
  deadLetter?: boolean;
  /**
   * RabbitMQ only: 'quorum' (replicated) or 'classic' (durable, one node). Default: the driver's (quorum on a
   * cluster, classic on a single node — see @lossless/rabbitmq).
   */
  queueType?: 'quorum' | 'classic';
}

export interface Topology {
  topics?: TopicSpec[];
  subscriptions?: SubscriptionSpec[];
}

export interface NormalizedSubscription {
  readonly name: string;
  readonly topic: string;
  readonly maxDeliveries: number;
  readonly deadLetter: boolean;
  /** As declared; undefined lets the driver choose. */
  readonly queueType: 'quorum' | 'classic' | undefined;
}

export interface NormalizedTopic {
  readonly name: string;
  readonly partitions: number | undefined;
  readonly replicas: number | undefined;
  readonly minInSyncReplicas: number | undefined;
  readonly ordering: 'none' | 'key';
}

export interface NormalizedTopology {
  readonly topics: readonly NormalizedTopic[];
  readonly subscriptions: readonly NormalizedSubscription[];
}

export const DEFAULT_MAX_DELIVERIES = 10;

const TOPIC_SHAPE: OptionShape = {
  name: { type: 'any' }, // validateName says what is wrong with it
  partitions: { type: 'integer', min: 1, max: 10_000 },
  replicas: { type: 'integer', min: 1, max: 32 },
  minInSyncReplicas: { type: 'integer', min: 1, max: 32 },
  ordering: { type: 'enum', values: ['none', 'key'] },
};

const SUBSCRIPTION_SHAPE: OptionShape = {
  name: { type: 'any' },
  topic: { type: 'any' },
  maxDeliveries: { type: 'integer', min: 1, max: 1_000 },
  deadLetter: { type: 'boolean' },
  queueType: { type: 'enum', values: ['quorum', 'classic'] },
};

const TOPOLOGY_SHAPE: OptionShape = {
  topics: { type: 'array', of: { type: 'object', shape: TOPIC_SHAPE }, maxLength: 10_000 },
  subscriptions: { type: 'array', of: { type: 'object', shape: SUBSCRIPTION_SHAPE }, maxLength: 10_000 },
};

function positiveInt(what: string, v: unknown, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalidArgument(`${what} must be an integer from 1 to ${max}, got ${String(v)}`);
  }
  return v;
}

/**
 * Validates a topology and fills in defaults. Throws INVALID_ARGUMENT for bad names, numbers, a subscription
 * of a topic declared nowhere in this call or earlier (`known`), or one name declared twice differently.
 */
export function normalizeTopology(given: Topology, knownTopics: ReadonlySet<string>): NormalizedTopology {
  if (given === undefined) throw invalidArgument('declare(): a topology object is required');
  // A checked copy: unknown keys and wrong types are refused, undefined values dropped, getters read once.
  const topology = checkOptions<Topology>('declare()', given, TOPOLOGY_SHAPE);
  const topics = new Map<string, NormalizedTopic>();
  for (const t of topology.topics ?? []) {
    validateName('topic', t?.name);
    const ordering = t.ordering ?? 'none';
    if (ordering !== 'none' && ordering !== 'key') {
      throw invalidArgument(`topic '${t.name}': ordering must be 'none' or 'key', got ${String(ordering)}`);
    }
    const n: NormalizedTopic = {
      name: t.name,
      partitions: positiveInt(`topic '${t.name}': partitions`, t.partitions, 10_000),
      replicas: positiveInt(`topic '${t.name}': replicas`, t.replicas, 32),
      minInSyncReplicas: positiveInt(`topic '${t.name}': minInSyncReplicas`, t.minInSyncReplicas, 32),
      ordering,
    };
    if (n.replicas !== undefined && n.minInSyncReplicas !== undefined && n.minInSyncReplicas > n.replicas) {
      throw invalidArgument(
        `topic '${t.name}': minInSyncReplicas (${n.minInSyncReplicas}) > replicas (${n.replicas})`,
      );
    }
    const prev = topics.get(n.name);
    if (prev && JSON.stringify(prev) !== JSON.stringify(n)) {
      throw invalidArgument(`topic '${t.name}' is declared twice with different settings in one call`);
    }
    topics.set(n.name, n);
  }
  const subscriptions = new Map<string, NormalizedSubscription>();
  for (const s of topology.subscriptions ?? []) {
    validateName('subscription', s?.name);
    validateName('topic', s.topic);
    if (!topics.has(s.topic) && !knownTopics.has(s.topic)) {
      throw invalidArgument(
        `subscription '${s.name}' names topic '${s.topic}', which is not declared: declare the topic in the same call`,
        { topic: s.topic, subscription: s.name },
      );
    }
    const queueType = s.queueType;
    if (queueType !== undefined && queueType !== 'quorum' && queueType !== 'classic') {
      throw invalidArgument(`subscription '${s.name}': queueType must be 'quorum' or 'classic'`);
    }
    if (s.deadLetter !== undefined && typeof s.deadLetter !== 'boolean') {
      throw invalidArgument(`subscription '${s.name}': deadLetter must be a boolean`);
    }
    const n: NormalizedSubscription = {
      name: s.name,
      topic: s.topic,
      maxDeliveries:
        positiveInt(`subscription '${s.name}': maxDeliveries`, s.maxDeliveries, 1000) ??
        DEFAULT_MAX_DELIVERIES,
      deadLetter: s.deadLetter ?? true,
      queueType,
    };
    const key = `${n.topic}\u0000${n.name}`;
    const prev = subscriptions.get(key);
    if (prev && JSON.stringify(prev) !== JSON.stringify(n)) {
      throw invalidArgument(`subscription '${s.name}' is declared twice with different settings in one call`);
    }
    subscriptions.set(key, n);
  }
  return { topics: [...topics.values()], subscriptions: [...subscriptions.values()] };
}
