// Topology administration of a RocketMQ 5 cluster from TypeScript, over the remoting protocol (no Java, no
// mqadmin): topics with their `message.type`, subscription groups with their retry settings, and the consumer
// offsets that make a new group start where it was declared. The driver's declare() (@lossless/rocketmq) uses it,
// the broker kit (@lossless/brokers) uses it, and applications may use it for tooling. Every method talks to the
// name server (for the cluster's brokers and routes) and to each master broker of the cluster.
import { ErrorCode, LosslessError } from '@lossless/core/driver';
import type { RemotingCredentials } from './acl-signing.js';
import {
  parseServerJson,
  type RemotingResponse,
  RequestCode,
  ResponseCode,
  remotingCall,
} from './remoting.js';
import { remotingErrorRow } from './remoting-errors.js';

/** A topic's `message.type` attribute: the gRPC proxy refuses messages of any other type. */
export type RocketMqMessageType = 'NORMAL' | 'FIFO' | 'DELAY' | 'TRANSACTION';

export interface CreateTopicOptions {
  /** The topic's `message.type` attribute. Default NORMAL. */
  messageType?: RocketMqMessageType;
  /** Read and write queues per broker. Default 4. */
  queues?: number;
}

export interface CreateGroupOptions {
  /** Deliveries after the first before the broker moves a message to `%DLQ%<group>`. Default 16. */
  retryMaxTimes?: number;
  /** Orderly consumption: required for a FIFO topic to be delivered in order. Default false. */
  fifo?: boolean;
}

/** What a broker holds for a topic. */
export interface TopicInfo {
  readonly name: string;
  /** Read queues (the smallest over the cluster's brokers). */
  readonly queues: number;
  readonly writeQueues: number;
  /** The `message.type` attribute; NORMAL when the topic has none (the broker's default). */
  readonly messageType: string;
}

/** What a broker holds for a subscription group. */
export interface GroupInfo {
  readonly name: string;
  readonly retryMaxTimes: number;
  readonly fifo: boolean;
}

export interface RocketMqAdminOptions {
  /** Name server address(es), `host:port`, several separated by ';'. */
  namesrv: string;
  /** The broker cluster whose master brokers get the topics and groups. Default 'DefaultCluster'. */
  cluster?: string;
  /** Per-request timeout, ms. Default 5,000. */
  requestTimeoutMs?: number;
  /**
   * Sign every request with these (a broker with ACL on: ACL 2.0 username / password, or an ACL 1.0 access key /
   * secret key). Default: unsigned, which such a broker refuses (NO_PERMISSION → PERMISSION_DENIED).
   */
  credentials?: RemotingCredentials;
}

interface ClusterInfo {
  brokerAddrTable?: Record<string, { brokerAddrs?: Record<string, string> }>;
  clusterAddrTable?: Record<string, string[]>;
}

/**
 * Administers topics, groups and offsets of one RocketMQ cluster over the remoting protocol. Methods are safe
 * to call concurrently; each opens its own short TCP connections and caches nothing: every call reads the
 * cluster as it is now. Errors are LosslessErrors (UNAVAILABLE when a server cannot be reached,
 * NOT_FOUND, INTERNAL for a refused request, with the server's remark).
 */
export class RocketMqAdmin {
  readonly namesrv: readonly string[];
  readonly cluster: string;
  private readonly timeoutMs: number;
  readonly #credentials: RemotingCredentials | undefined;

  constructor(options: RocketMqAdminOptions) {
    this.namesrv = options.namesrv
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (this.namesrv.length === 0) {
      throw new LosslessError(ErrorCode.INVALID_ARGUMENT, 'rocketmq admin: namesrv must name an address');
    }
    this.cluster = options.cluster ?? 'DefaultCluster';
    this.timeoutMs = options.requestTimeoutMs ?? 5_000;
    // A private field: util.inspect and JSON.stringify of the admin never show the secret.
    this.#credentials = options.credentials;
  }

  /**
   * The broker groups of the cluster from one name-server query: each group's master (id 0) and its slaves.
   * Rejects NOT_FOUND when no group has a master.
   */
  private async brokerGroups(): Promise<{ masters: string[]; slaves: string[] }> {
    const r = await this.namesrvCall('cluster info', RequestCode.GET_BROKER_CLUSTER_INFO, {});
    expectSuccess('cluster info', r);
    const info = parseServerJson<ClusterInfo>(r.body);
    const groups = (info.clusterAddrTable?.[this.cluster] ?? []).map(
      (n) => info.brokerAddrTable?.[n]?.brokerAddrs ?? {},
    );
    const masters = groups.map((g) => g['0']).filter((a): a is string => typeof a === 'string');
    if (masters.length === 0) {
      throw new LosslessError(
        ErrorCode.NOT_FOUND,
        `rocketmq admin: the name server knows no master broker of cluster '${this.cluster}' ` +
          `(known clusters: ${Object.keys(info.clusterAddrTable ?? {}).join(', ') || 'none'})`,
        { broker: 'rocketmq' },
      );
    }
    const slaves = groups.flatMap((g) =>
      Object.entries(g)
        .filter(([id]) => id !== '0')
        .map(([, a]) => a),
    );
    return { masters, slaves };
  }

  /** Addresses of the master brokers of the cluster, from the name server. Rejects NOT_FOUND for no broker. */
  async masters(): Promise<string[]> {
    return (await this.brokerGroups()).masters;
  }

  /**
   * Runs fn on every broker of the cluster, masters and then slaves, from the name server. Topics, groups and a
   * group's first offsets go to all of them: a slave copies them from its master only every 10 s, and a slave
   * promoted by a failover in that window would otherwise lack the topic (sends fail), the group's settings
   * (its retry count) or its offsets (a first receive would start at the queue's end, skipping messages).
   */
  async onEveryBroker(fn: (broker: string, master: boolean) => Promise<unknown>): Promise<void> {
    const { masters, slaves } = await this.brokerGroups();
    // Masters first: a slave copying from its master meanwhile then copies what was just written.
    await Promise.all(masters.map((broker) => fn(broker, true)));
    await Promise.all(slaves.map((broker) => fn(broker, false)));
  }

  /**
   * Creates the topic on every broker (masters and slaves), or updates it when it exists with other settings
   * (the broker overwrites: check topicInfo() first when that matters). Resolves once the name server routes it.
   */
  async createTopic(name: string, options: CreateTopicOptions = {}): Promise<void> {
    const queues = String(options.queues ?? 4);
    const messageType = options.messageType ?? 'NORMAL';
    await this.onEveryBroker(async (broker) => {
      const r = await this.call(broker, `create topic ${name}`, RequestCode.UPDATE_AND_CREATE_TOPIC, {
        topic: name,
        defaultTopic: 'TBW102',
        readQueueNums: queues,
        writeQueueNums: queues,
        perm: '6',
        topicFilterType: 'SINGLE_TAG',
        topicSysFlag: '0',
        order: 'false',
        attributes: `+message.type=${messageType}`,
        force: 'false',
      });
      expectSuccess(`create topic ${name}`, r);
    });
    // The broker registers a new topic with the name server as part of the create call; wait to see it.
    const deadline = Date.now() + 30_000;
    while (!(await this.topicExists(name))) {
      if (Date.now() > deadline) {
        throw new LosslessError(
          ErrorCode.UNAVAILABLE,
          `rocketmq admin: topic '${name}' was created but the name server does not route it after 30 s`,
          { broker: 'rocketmq', topic: name },
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The topic as the cluster's brokers hold it; undefined when no master broker has it. */
  async topicInfo(name: string): Promise<TopicInfo | undefined> {
    const masters = await this.masters();
    let found: TopicInfo | undefined;
    for (const broker of masters) {
      const r = await this.call(broker, `topic config ${name}`, RequestCode.GET_TOPIC_CONFIG, {
        topic: name,
      });
      if (r.code === ResponseCode.TOPIC_NOT_EXIST) continue;
      expectSuccess(`topic config ${name}`, r);
      const config = topicConfigOf(r.body);
      const info: TopicInfo = {
        name,
        queues: config.readQueueNums ?? 0,
        writeQueues: config.writeQueueNums ?? 0,
        messageType: config.attributes?.['message.type'] ?? 'NORMAL',
      };
      if (!found || info.queues < found.queues) found = info;
    }
    return found;
  }

  /** Whether the name server routes the topic. */
  async topicExists(name: string): Promise<boolean> {
    const r = await this.namesrvCall(`route ${name}`, RequestCode.GET_ROUTEINFO_BY_TOPIC, {
      topic: name,
      acceptStandardJsonOnly: 'true',
    });
    if (r.code === ResponseCode.SUCCESS) return true;
    if (r.code === ResponseCode.TOPIC_NOT_EXIST) return false;
    return expectSuccess(`route ${name}`, r) && false;
  }

  /** Deletes the topic from every broker and from the name server. Harmless when it does not exist. */
  async deleteTopic(name: string): Promise<void> {
    await this.onEveryBroker(async (broker) =>
      expectSuccess(
        `delete topic ${name}`,
        await this.call(broker, `delete topic ${name}`, RequestCode.DELETE_TOPIC_IN_BROKER, {
          topic: name,
        }),
      ),
    );
    for (const address of this.namesrv) {
      const r = await this.call(address, `delete topic ${name}`, RequestCode.DELETE_TOPIC_IN_NAMESRV, {
        topic: name,
        clusterName: this.cluster,
      });
      expectSuccess(`delete topic ${name} (name server)`, r);
    }
  }

  /** Creates (or overwrites) the subscription group on every broker (masters and slaves). Idempotent. */
  async createGroup(name: string, options: CreateGroupOptions = {}): Promise<void> {
    const body = Buffer.from(
      JSON.stringify({
        groupName: name,
        consumeEnable: true,
        consumeFromMinEnable: false,
        consumeBroadcastEnable: false,
        consumeMessageOrderly: options.fifo ?? false,
        retryQueueNums: 1,
        retryMaxTimes: options.retryMaxTimes ?? 16,
        brokerId: 0,
        whichBrokerWhenConsumeSlowly: 1,
        notifyConsumerIdsChangedEnable: true,
        groupSysFlag: 0,
        consumeTimeoutMinute: 15,
      }),
      'utf8',
    );
    await this.onEveryBroker(async (broker) =>
      expectSuccess(
        `create group ${name}`,
        await this.call(
          broker,
          `create group ${name}`,
          RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
          {},
          body,
        ),
      ),
    );
  }

  /**
   * The group as the first master broker that has it holds it; undefined when none has it. Reads the broker's
   * whole group table: asking for one group (GET_SUBSCRIPTIONGROUP_CONFIG) would create it with default settings
   * on a broker with autoCreateSubscriptionGroup (the default), so a query could not tell "missing" apart.
   */
  async groupInfo(name: string): Promise<GroupInfo | undefined> {
    for (const broker of await this.masters()) {
      const r = await this.call(broker, 'group table', RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, {});
      expectSuccess('group table', r);
      const table = parseBody<{
        subscriptionGroupTable?: Record<string, { retryMaxTimes?: number; consumeMessageOrderly?: boolean }>;
      }>(r.body).subscriptionGroupTable;
      const g = table?.[name];
      if (g) return { name, retryMaxTimes: g.retryMaxTimes ?? 16, fifo: g.consumeMessageOrderly === true };
    }
    return undefined;
  }

  /** Deletes the group and its offsets on every broker. */
  async deleteGroup(name: string): Promise<void> {
    await this.onEveryBroker(async (broker) =>
      expectSuccess(
        `delete group ${name}`,
        await this.call(broker, `delete group ${name}`, RequestCode.DELETE_SUBSCRIPTIONGROUP, {
          groupName: name,
          cleanOffset: 'true',
        }),
      ),
    );
  }

  /**
   * Makes the group start consuming the topic where the topic ends now: for every queue where the group has no
   * committed offset yet, commits the queue's current max offset. Without it, the broker places a group's first
   * pop at the queue's end only when the group first receives (ConsumeInitMode.MAX), so messages published
   * between declaring the subscription and the first consumer would be skipped on an old queue. Queues where the
   * group already has an offset are left alone (re-declaring never moves a group). Idempotent.
   */
  async initGroupOffsets(group: string, topic: string): Promise<void> {
    await this.onEveryBroker(async (broker, master) => {
      const r = await this.call(broker, `topic config ${topic}`, RequestCode.GET_TOPIC_CONFIG, { topic });
      if (r.code === ResponseCode.TOPIC_NOT_EXIST) return;
      expectSuccess(`topic config ${topic}`, r);
      const queues = topicConfigOf(r.body).readQueueNums ?? 0;
      // One queue after the other: the broker's first commit of a group's offsets on a topic is not atomic
      // (ConsumerOffsetManager.commitOffset, 5.3.3: get, then put a new per-queue map), so concurrent first
      // commits can overwrite each other and leave a queue without an offset (its history then delivered).
      for (let queueId = 0; queueId < queues; queueId++) {
        const q = String(queueId);
        const current = await this.call(broker, `offset of ${group}`, RequestCode.QUERY_CONSUMER_OFFSET, {
          consumerGroup: group,
          topic,
          queueId: q,
          setZeroIfNotFound: 'false',
        });
        if (current.code === ResponseCode.SUCCESS) continue;
        if (current.code !== ResponseCode.QUERY_NOT_FOUND) expectSuccess(`offset of ${group}`, current);
        const max = await this.call(broker, `max offset of ${topic}`, RequestCode.GET_MAX_OFFSET, {
          topic,
          queueId: q,
        });
        expectSuccess(`max offset of ${topic}`, max);
        const offset = max.extFields.offset ?? '0';
        const commit = await this.call(
          broker,
          `commit offset of ${group}`,
          RequestCode.UPDATE_CONSUMER_OFFSET,
          {
            consumerGroup: group,
            topic,
            queueId: q,
            commitOffset: offset,
          },
        );
        // A slave whose periodic copy of its master's groups landed between createGroup's write and this one
        // has lost the group for a moment; its next copy brings the group and these offsets from the master.
        if (!master && commit.code === ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST) return;
        expectSuccess(`commit offset of ${group}`, commit);
      }
    });
  }

  private async namesrvCall(
    what: string,
    code: number,
    extFields: Record<string, string>,
  ): Promise<RemotingResponse> {
    let last: unknown;
    for (const address of this.namesrv) {
      try {
        return await this.call(address, what, code, extFields);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  private async call(
    address: string,
    what: string,
    code: number,
    extFields: Record<string, string>,
    body?: Buffer,
  ): Promise<RemotingResponse> {
    try {
      return await remotingCall(address, code, extFields, body, this.timeoutMs, {
        credentials: this.#credentials,
      });
    } catch (error) {
      throw new LosslessError(
        ErrorCode.UNAVAILABLE,
        `rocketmq admin: ${what} at ${address} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, broker: 'rocketmq' },
      );
    }
  }
}

interface TopicConfigBody {
  readQueueNums?: number;
  writeQueueNums?: number;
  attributes?: Record<string, string>;
}

/** A GET_TOPIC_CONFIG answer: a TopicConfigAndQueueMapping, i.e. the TopicConfig's fields at the top level. */
function topicConfigOf(body: Buffer): TopicConfigBody {
  const parsed = parseBody<TopicConfigBody & { topicConfig?: TopicConfigBody }>(body);
  return parsed.topicConfig ?? parsed;
}

function parseBody<T>(body: Buffer): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    return parseServerJson<T>(body);
  }
}

/** Throws the table's error for a non-success answer; returns true otherwise. */
function expectSuccess(what: string, r: RemotingResponse): true {
  if (r.code === ResponseCode.SUCCESS) return true;
  const row = remotingErrorRow(r.code);
  throw new LosslessError(
    row.code,
    `rocketmq admin: ${what} failed (remoting code ${r.code}, ${row.meaning}): ${r.remark ?? ''}`,
    { broker: 'rocketmq', ...(row.retriable === undefined ? {} : { retriable: row.retriable }) },
  );
}
