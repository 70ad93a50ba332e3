// Declaring the portable topology on Kafka with the admin API: a topic with its partitions, replication factor
// and min.insync.replicas; a subscription's retry topic and (when it keeps dead letters) its dead-letter topic,
// shaped like the main topic. Re-declaring is idempotent: what exists is compared on what the declaration
// names (partitions, replicas, minInSyncReplicas) and a difference is a CONFLICT. declare() resolves only once
// every live broker knows the new topics and their leaders, and those leaders serve the new partitions (see
// waitServing): kafkajs sends metadata requests to a random broker,
// and a broker that has not replayed the topic yet answers UNKNOWN_TOPIC_OR_PARTITION — which this driver maps
// to NOT_FOUND — for a few hundred milliseconds after creation (seen on a 3-node cluster).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@lossless/core';
import {
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  type NormalizedTopic,
  type NormalizedTopology,
} from '@lossless/core/driver';
import type { Admin, ITopicMetadata } from 'kafkajs';
import { classifyNative, innermost, toError } from './error-table.js';
import { deadLetterTopicName, retryTopicName } from './names.js';

/** The settings a topic is created with when the declaration leaves them out. */
export interface TopicDefaults {
  readonly partitions: number;
  readonly replicationFactor: number;
  /** min.insync.replicas for a topic of replication factor `rf`. */
  minInSyncReplicas(rf: number): number;
}

/** What topology needs from the driver. */
export interface TopologyHost {
  readonly admin: Admin;
  readonly logger: Logger;
  defaults(): TopicDefaults;
  /** host:port of every live broker, from the cluster's own description. */
  liveBrokers(): Promise<string[]>;
  /** An admin whose every request goes to `address` (its own metadata view). */
  pinnedAdmin(address: string): Promise<Admin>;
}

interface TopicShape {
  partitions: number;
  replicationFactor: number;
  minInSyncReplicas: number;
}

const METADATA_WAIT_MS = 30_000;
/**
 * kafkajs's ConfigResourceTypes.TOPIC (the protocol's resource type 2). Not imported by name: Node's ESM loader
 * cannot see that export of the CommonJS kafkajs (only Kafka, logLevel, Partitioners… are detected).
 */
const TOPIC_RESOURCE = 2;
const POLL_MS = 100;
/** kafkajs error types of a partition whose leader does not serve it yet. */
const NOT_SERVING_YET = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
]);

function conflict(topic: string, what: string, existing: number, declared: number): LosslessError {
  return new LosslessError(
    ErrorCode.CONFLICT,
    `kafka: topic '${topic}' exists with ${what} ${existing}, the declaration asks for ${declared}: ` +
      'Kafka cannot change that in place (create a new topic, or declare what exists)',
    { broker: 'kafka', topic },
  );
}

function isUnknownTopic(error: unknown): boolean {
  return (innermost(error) as { type?: unknown } | null)?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

export class TopologyManager {
  constructor(private readonly host: TopologyHost) {}

  /** Creates what is missing, checks what exists, waits until every broker knows the topics. */
  async declare(topology: NormalizedTopology): Promise<void> {
    const shapes = new Map<string, TopicShape>();
    /** Topics this declare created: their partitions may not take writes yet when metadata names a leader. */
    const created: string[] = [];
    await Promise.all(
      topology.topics.map(async (t) => {
        shapes.set(t.name, await this.declareTopic(t, created));
      }),
    );
    const extra: string[] = [];
    await Promise.all(
      topology.subscriptions.map(async (s) => {
        extra.push(...(await this.declareSubscription(s, shapes.get(s.topic), created)));
      }),
    );
    await this.waitEverywhere([...shapes.keys(), ...extra]);
    await this.waitServing(created);
  }

  private async declareTopic(t: NormalizedTopic, created: string[]): Promise<TopicShape> {
    const d = this.host.defaults();
    const rf = t.replicas ?? d.replicationFactor;
    const want: TopicShape = {
      partitions: t.partitions ?? d.partitions,
      replicationFactor: rf,
      minInSyncReplicas: t.minInSyncReplicas ?? Math.min(d.minInSyncReplicas(rf), rf),
    };
    if (await this.create(t.name, want)) {
      created.push(t.name);
      return want;
    }
    const existing = await this.shapeOf(t.name, true);
    if (t.partitions !== undefined && existing.partitions !== t.partitions) {
      throw conflict(t.name, 'partitions', existing.partitions, t.partitions);
    }
    if (t.replicas !== undefined && existing.replicationFactor !== t.replicas) {
      throw conflict(t.name, 'replication factor', existing.replicationFactor, t.replicas);
    }
    if (t.minInSyncReplicas !== undefined && existing.minInSyncReplicas !== t.minInSyncReplicas) {
      throw conflict(t.name, 'min.insync.replicas', existing.minInSyncReplicas, t.minInSyncReplicas);
    }
    return existing;
  }

  /** The retry topic and, with dead letters, the dead-letter topic, shaped like the main topic. */
  private async declareSubscription(
    s: NormalizedSubscription,
    known: TopicShape | undefined,
    created: string[],
  ): Promise<string[]> {
    let shape = known;
    if (!shape) {
      try {
        shape = await this.shapeOf(s.topic, false);
      } catch (error) {
        if (!isUnknownTopic(error)) throw error;
        throw new LosslessError(
          ErrorCode.NOT_FOUND,
          `kafka: subscription '${s.name}' names topic '${s.topic}', which does not exist: declare the topic first`,
          { broker: 'kafka', topic: s.topic, subscription: s.name, cause: error },
        );
      }
    }
    const topics = [retryTopicName(s.topic, s.name)];
    if (s.deadLetter) topics.push(deadLetterTopicName(s.topic, s.name));
    // Ours: whatever shape they have is fine (created by an earlier declaration of the same subscription).
    await Promise.all(
      topics.map(async (name) => {
        if (await this.create(name, shape)) created.push(name);
      }),
    );
    return topics;
  }

  /** createTopics for one topic: true when created, false when it existed. Throws mapped errors. */
  private async create(topic: string, shape: TopicShape): Promise<boolean> {
    try {
      return await this.host.admin.createTopics({
        waitForLeaders: false,
        timeout: 10_000,
        topics: [
          {
            topic,
            numPartitions: shape.partitions,
            replicationFactor: shape.replicationFactor,
            configEntries: [{ name: 'min.insync.replicas', value: String(shape.minInSyncReplicas) }],
          },
        ],
      });
    } catch (error) {
      if ((innermost(error) as { type?: unknown } | null)?.type === 'TOPIC_ALREADY_EXISTS') return false;
      throw toError(error, { topic, doing: `creating topic '${topic}'` });
    }
  }

  /**
   * Partitions, replication factor and min.insync.replicas of an existing topic. With `wait`, a topic another
   * client has just created (not yet in this broker's metadata) is polled for a while.
   */
  private async shapeOf(topic: string, wait: boolean): Promise<TopicShape> {
    const deadline = Date.now() + (wait ? METADATA_WAIT_MS : 0);
    let meta: ITopicMetadata | undefined;
    for (;;) {
      try {
        meta = (await this.host.admin.fetchTopicMetadata({ topics: [topic] })).topics[0];
        if (meta && meta.partitions.length > 0) break;
      } catch (error) {
        if (!isUnknownTopic(error) || Date.now() >= deadline) {
          if (isUnknownTopic(error)) throw error;
          throw toError(error, { topic, doing: `reading the metadata of topic '${topic}'` });
        }
      }
      if (Date.now() >= deadline) {
        throw new LosslessError(ErrorCode.UNAVAILABLE, `kafka: no metadata for topic '${topic}'`, {
          broker: 'kafka',
          topic,
        });
      }
      await sleep(POLL_MS);
    }
    const partitions = meta.partitions.length;
    const replicationFactor = meta.partitions[0]?.replicas.length ?? 0;
    let minInSyncReplicas = 1;
    try {
      const { resources } = await this.host.admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: ['min.insync.replicas'] }],
      });
      const value = resources[0]?.configEntries.find(
        (c) => c.configName === 'min.insync.replicas',
      )?.configValue;
      if (value !== undefined) minInSyncReplicas = Number(value);
    } catch (error) {
      throw toError(error, { topic, doing: `reading the configuration of topic '${topic}'` });
    }
    return { partitions, replicationFactor, minInSyncReplicas };
  }

  /** Waits until every live broker's own metadata has each topic with a leader for every partition. */
  private async waitEverywhere(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    const brokers = await this.host.liveBrokers();
    const deadline = Date.now() + METADATA_WAIT_MS;
    const pending = new Set(brokers);
    let last = '';
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (address) => {
          try {
            const admin = await this.host.pinnedAdmin(address);
            const { topics: seen } = await admin.fetchTopicMetadata({ topics });
            const ready =
              seen.length === topics.length &&
              seen.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
            if (ready) pending.delete(address);
            else last = `${address} has no leader yet`;
          } catch (error) {
            const e = classifyNative(error);
            // A broker we cannot reach serves nobody: do not wait for it. Anything else: not there yet.
            if (e?.code === ErrorCode.UNAVAILABLE && !isUnknownTopic(error)) {
              this.host.logger.debug(
                `kafka: skipping unreachable broker ${address} in declare: ${e.message}`,
              );
              pending.delete(address);
            } else {
              last = `${address}: ${error instanceof Error ? error.message : String(error)}`;
            }
          }
        }),
      );
      if (pending.size === 0) return;
      if (Date.now() >= deadline) {
        throw new LosslessError(
          ErrorCode.UNAVAILABLE,
          `kafka: topics ${topics.join(', ')} were created but not every broker knows them after ` +
            `${METADATA_WAIT_MS} ms (${last}); declare again`,
          { broker: 'kafka', topic: topics[0] },
        );
      }
      await sleep(POLL_MS);
    }
  }

  /**
   * Waits until the leaders of new topics serve their partitions. Metadata names a leader before the broker has
   * the partition ready: on one Kafka 4.4 broker, a Produce right after declaring a 64-partition topic failed
   * with NOT_LEADER_OR_FOLLOWER for 50–150 ms, on every fresh topic tried, and each such failure costs the
   * publish a retired producer and core's back-off. A ListOffsets (read-only) fails the same way until the
   * partition is served, so it is polled instead; an error that is not "not served yet" leaves the topic to
   * publish's own retries.
   */
  private async waitServing(topics: readonly string[]): Promise<void> {
    const deadline = Date.now() + METADATA_WAIT_MS;
    const pending = new Set(topics);
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (topic) => {
          try {
            await this.host.admin.fetchTopicOffsets(topic);
            pending.delete(topic);
          } catch (error) {
            const type = (innermost(error) as { type?: unknown } | null)?.type;
            if (typeof type === 'string' && NOT_SERVING_YET.has(type) && Date.now() < deadline) return;
            this.host.logger.debug(
              `kafka: not waiting for the partitions of '${topic}' to be served: ${error instanceof Error ? error.message : String(error)}`,
            );
            pending.delete(topic);
          }
        }),
      );
      if (pending.size > 0) await sleep(POLL_MS);
    }
  }

  /** The names of `topics` that do not exist (for subscribe's NOT_FOUND). */
  async missing(topics: readonly string[]): Promise<string[]> {
    const missing: string[] = [];
    await Promise.all(
      topics.map(async (topic) => {
        try {
          const { topics: seen } = await this.host.admin.fetchTopicMetadata({ topics: [topic] });
          if (!seen[0] || seen[0].partitions.length === 0) missing.push(topic);
        } catch (error) {
          if (isUnknownTopic(error)) missing.push(topic);
          else throw toError(error, { topic, doing: `checking topic '${topic}'` });
        }
      }),
    );
    return missing;
  }
}
