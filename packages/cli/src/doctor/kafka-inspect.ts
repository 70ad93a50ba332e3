// What the doctor reads from a Kafka cluster, with kafkajs' admin client (the one @lossless/kafka uses): the
// brokers (describeCluster), their and the topics' configs (describeConfigs), replica counts
// (fetchTopicMetadata), and each consumer group's committed offsets against the partitions' first offsets and
// the offsets at the retention horizon (fetchOffsets, fetchTopicOffsets, fetchTopicOffsetsByTimestamp). Kafka's
// protocol does not tell the broker's version to kafkajs: the report names the cluster id and its size instead.
import type { ConnectionOptions } from 'node:tls';
import { ErrorCode, LosslessError } from '@lossless/core';
import { nodeTlsOptions } from '@lossless/core/driver';
import type { KafkaDriverOptions } from '@lossless/kafka';
import { type Admin, Kafka, type KafkaConfig, logLevel, type SASLOptions } from 'kafkajs';
import type {
  KafkaBrokerState,
  KafkaGroupPartition,
  KafkaGroupState,
  KafkaTopicState,
} from './kafka-rules.js';

/** kafkajs' ConfigResourceTypes (a const enum in its types, absent at run time). */
const TOPIC = 2;
const BROKER = 4;

export const TOPIC_CONFIGS = ['min.insync.replicas', 'unclean.leader.election.enable', 'retention.ms'];
export const BROKER_CONFIGS = ['unclean.leader.election.enable', 'min.insync.replicas', 'log.retention.ms'];

function kafkajsConfig(options: KafkaDriverOptions, timeoutMs: number): KafkaConfig {
  const config: KafkaConfig = {
    clientId: 'lossless-doctor',
    brokers: [...options.brokers],
    connectionTimeout: Math.min(timeoutMs, 10_000),
    requestTimeout: timeoutMs,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000 },
    logLevel: logLevel.NOTHING,
  };
  if (options.tls) {
    config.ssl = nodeTlsOptions(options.tls, { where: 'kafka doctor', broker: 'kafka' }) as ConnectionOptions;
  }
  if (options.sasl) {
    const s = options.sasl;
    config.sasl =
      s.mechanism === 'oauthbearer'
        ? ({ mechanism: 'oauthbearer', oauthBearerProvider: s.oauthBearerProvider } as SASLOptions)
        : ({ mechanism: s.mechanism, username: s.username, password: s.password } as SASLOptions);
  }
  return config;
}

function classify(error: unknown, brokers: readonly string[]): LosslessError {
  const name = (error as { name?: string }).name ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (/SASL|Authentication|authoriz/i.test(`${name} ${message}`)) {
    return new LosslessError(ErrorCode.PERMISSION_DENIED, `kafka doctor: refused: ${message}`, {
      broker: 'kafka',
      cause: error,
    });
  }
  return new LosslessError(
    ErrorCode.UNAVAILABLE,
    `kafka doctor: cannot reach ${brokers.join(', ')}: ${message}`,
    { broker: 'kafka', cause: error },
  );
}

export interface KafkaState {
  readonly clusterId: string;
  readonly brokers: KafkaBrokerState[];
  readonly topics: KafkaTopicState[];
  readonly missingTopics: string[];
  readonly groups: KafkaGroupState[];
}

/** Reads what the rules need. `groups` maps a consumer group to the topic it reads. */
export async function inspectKafka(
  options: KafkaDriverOptions,
  wanted: { topics: readonly string[]; groups: readonly { group: string; topic: string }[] },
  timeoutMs: number,
): Promise<KafkaState> {
  const admin: Admin = new Kafka(kafkajsConfig(options, timeoutMs)).admin();
  try {
    await admin.connect();
  } catch (error) {
    throw classify(error, options.brokers);
  }
  try {
    const cluster = await admin.describeCluster().catch((error: unknown) => {
      throw classify(error, options.brokers);
    });
    const existing = new Set(await admin.listTopics());
    const asked =
      wanted.topics.length > 0 ? [...wanted.topics] : [...existing].filter((t) => !t.startsWith('__'));
    const groupTopics = wanted.groups.map((g) => g.topic);
    const names = [...new Set([...asked, ...groupTopics])].filter((t) => existing.has(t)).sort();
    const missingTopics = [...new Set([...asked, ...groupTopics])].filter((t) => !existing.has(t)).sort();
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        ...names.map((name) => ({ type: TOPIC, name, configNames: TOPIC_CONFIGS })),
        ...cluster.brokers.map((b) => ({
          type: BROKER,
          name: String(b.nodeId),
          configNames: BROKER_CONFIGS,
        })),
      ],
    });
    const configOf = (type: number, name: string) => {
      const r = described.resources.find((x) => x.resourceType === type && x.resourceName === name);
      return Object.fromEntries((r?.configEntries ?? []).map((e) => [e.configName, e.configValue]));
    };
    const metadata = names.length === 0 ? { topics: [] } : await admin.fetchTopicMetadata({ topics: names });
    const topics: KafkaTopicState[] = metadata.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.length,
      replicationFactor: Math.min(...t.partitions.map((p) => p.replicas.length)),
      config: configOf(TOPIC, t.name),
    }));
    const brokers = cluster.brokers.map((b) => ({
      nodeId: b.nodeId,
      config: configOf(BROKER, String(b.nodeId)),
    }));
    const groups: KafkaGroupState[] = [];
    for (const { group, topic } of wanted.groups) {
      if (!existing.has(topic)) continue;
      const retentionRaw = topics.find((t) => t.name === topic)?.config['retention.ms'];
      const retentionMs =
        retentionRaw === undefined || retentionRaw === null ? undefined : Number(retentionRaw);
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      const now = Date.now();
      const horizon = async (ms: number | undefined) => {
        if (ms === undefined || ms < 0) return new Map<number, number>();
        const at = await admin.fetchTopicOffsetsByTimestamp(topic, now - ms);
        return new Map(at.map((p) => [p.partition, Number(p.offset)]));
      };
      const full = await horizon(retentionMs);
      const half = await horizon(retentionMs === undefined ? undefined : retentionMs / 2);
      const partitions: KafkaGroupPartition[] = ends.map((e) => {
        const high = Number(e.high);
        const at = (m: Map<number, number>) => {
          const v = m.get(e.partition);
          return v === undefined || v < 0 ? (m.size === 0 ? -1 : high) : v;
        };
        const c = committed?.partitions.find((p) => p.partition === e.partition);
        return {
          partition: e.partition,
          committed: c === undefined ? -1 : Number(c.offset),
          low: Number(e.low),
          high,
          retentionHorizon: at(full),
          halfRetentionHorizon: at(half),
        };
      });
      groups.push({
        group,
        topic,
        retentionMs,
        partitions: partitions.sort((a, b) => a.partition - b.partition),
      });
    }
    return { clusterId: cluster.clusterId, brokers, topics, missingTopics, groups };
  } catch (error) {
    if (error instanceof LosslessError) throw error;
    const name = (error as { name?: string }).name ?? '';
    if (/Connection|NumberOfRetriesExceeded|Timeout/i.test(name)) throw classify(error, options.brokers);
    throw error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
