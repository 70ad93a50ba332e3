// What the doctor reads from a RocketMQ over its remoting protocol (@lossless/rocketmq-admin, re-exported by
// @lossless/rocketmq): the name server's cluster table (every broker and its slaves), each broker's running
// config (GET_BROKER_CONFIG, request code 26: the whole broker.conf with defaults, as properties text) and
// version (GET_BROKER_RUNTIME_INFO, 28), and each subscription's group (retryMaxTimes) and dead-letter topic.
import { ErrorCode, LosslessError } from '@lossless/core';
import {
  consumerGroupName,
  deadLetterTopicName,
  parseServerJson,
  RocketMqAdmin,
  type RocketMqDriverOptions,
  remotingCall,
} from '@lossless/rocketmq';
import { parseProperties, type RocketBrokerState, type RocketGroupState } from './rocketmq-rules.js';

/** org.apache.rocketmq.remoting.protocol.RequestCode. */
export const GET_BROKER_CONFIG = 26;
export const GET_BROKER_RUNTIME_INFO = 28;
const GET_BROKER_CLUSTER_INFO = 106;

interface ClusterInfo {
  brokerAddrTable?: Record<string, { brokerAddrs?: Record<string, string>; cluster?: string }>;
  clusterAddrTable?: Record<string, string[]>;
}

export interface RocketState {
  readonly version: string;
  readonly brokers: RocketBrokerState[];
  readonly groups: RocketGroupState[];
  readonly topics: { name: string; exists: boolean }[];
}

function unavailable(what: string, error: unknown): LosslessError {
  const message = error instanceof Error ? error.message : String(error);
  return new LosslessError(ErrorCode.UNAVAILABLE, `rocketmq doctor: ${what}: ${message}`, {
    broker: 'rocketmq',
    cause: error,
  });
}

export async function inspectRocketMq(
  options: RocketMqDriverOptions,
  wanted: { topics: readonly string[]; subscriptions: readonly { topic: string; subscription: string }[] },
  timeoutMs: number,
): Promise<RocketState> {
  const credentials = options.auth
    ? {
        accessKey: options.auth.accessKey,
        secretKey: options.auth.secretKey,
        ...(options.auth.securityToken === undefined ? {} : { securityToken: options.auth.securityToken }),
      }
    : undefined;
  const call = async (address: string, code: number, what: string) => {
    let r: Awaited<ReturnType<typeof remotingCall>>;
    try {
      r = await remotingCall(address, code, {}, undefined, timeoutMs, { credentials });
    } catch (error) {
      throw unavailable(`${what} at ${address}`, error);
    }
    if (r.code === 16) {
      throw new LosslessError(
        ErrorCode.PERMISSION_DENIED,
        `rocketmq doctor: ${what} at ${address} refused: ${r.remark ?? ''}`,
        {
          broker: 'rocketmq',
        },
      );
    }
    if (r.code !== 0) {
      throw new LosslessError(
        ErrorCode.INTERNAL,
        `rocketmq doctor: ${what} at ${address} failed (code ${r.code}): ${r.remark ?? ''}`,
        {
          broker: 'rocketmq',
        },
      );
    }
    return r;
  };
  const namesrv = options.namesrv.split(';')[0]?.trim() ?? options.namesrv;
  const info = parseServerJson<ClusterInfo>(
    (await call(namesrv, GET_BROKER_CLUSTER_INFO, 'cluster info')).body,
  );
  const brokers: RocketBrokerState[] = [];
  let version = 'unknown version';
  const clusters = new Set<string>();
  for (const [name, entry] of Object.entries(info.brokerAddrTable ?? {})) {
    if (options.cluster !== undefined && entry.cluster !== options.cluster) continue;
    if (entry.cluster) clusters.add(entry.cluster);
    const addrs = Object.entries(entry.brokerAddrs ?? {});
    for (const [id, address] of addrs) {
      const config = parseProperties(
        (await call(address, GET_BROKER_CONFIG, 'broker config')).body.toString('utf8'),
      );
      if (Number(id) === 0) {
        const runtime = await call(address, GET_BROKER_RUNTIME_INFO, 'broker runtime info').catch(
          () => undefined,
        );
        const v =
          runtime &&
          parseServerJson<{ table?: Record<string, string> }>(runtime.body).table?.brokerVersionDesc;
        if (v) version = v;
      }
      brokers.push({ name, id: Number(id), address, config, replicas: addrs.length - 1 });
    }
  }
  const cluster = options.cluster ?? [...clusters][0] ?? 'DefaultCluster';
  const admin = new RocketMqAdmin({
    namesrv: options.namesrv,
    cluster,
    requestTimeoutMs: timeoutMs,
    ...(credentials ? { credentials } : {}),
  });
  const topics: { name: string; exists: boolean }[] = [];
  for (const name of wanted.topics) topics.push({ name, exists: await admin.topicExists(name) });
  const groups: RocketGroupState[] = [];
  for (const { topic, subscription } of wanted.subscriptions) {
    const group = consumerGroupName(topic, subscription);
    const deadLetterTopic = deadLetterTopicName(topic, subscription);
    const g = brokers.length === 0 ? undefined : await admin.groupInfo(group);
    groups.push({
      subscription: `${topic}.${subscription}`,
      group,
      retryMaxTimes: g?.retryMaxTimes,
      deadLetterTopic,
      deadLetterTopicExists: await admin.topicExists(deadLetterTopic),
    });
  }
  return { version: `RocketMQ ${version.replace(/^V/, '').replaceAll('_', '.')}`, brokers, groups, topics };
}
