// The replicated RocketMQ layout (`rocketmq({ nodes: 3 })`): one broker group `broker-a` of three brokers in
// RocketMQ 5's controller mode, the controller embedded in the name server. The controller elects the master
// among the brokers in the group's SyncStateSet and promotes a slave when the master is lost; a send is answered
// SEND_OK only once every replica in the SyncStateSet has it (allAckInSyncStateSet) and that set holds at least
// two brokers (minInSyncReplicas = 2): a confirmed message is on two nodes or more, and with one broker left
// the master refuses writes rather than confirm what only it holds.
//
// Controller mode rather than DLedger (a Raft commit log per broker group, RocketMQ 4.5's answer): it is the mode
// RocketMQ 5 recommends, it keeps RocketMQ's own commit log and replication, and its jars (rocketmq-controller,
// dledger for the controller's own Raft log) come with rocketmq-namesrv from Maven Central. One controller, not
// three: the kit's failures are broker failures; a lost controller stops failover, not sends (RocketMQ's docs).
//
// This module holds what differs from the single broker: ports, the generated properties, and the controller's
// view of the group (who is master, who is in sync). rocketmq.ts runs the processes.
import { parseServerJson, RequestCode, remotingCall } from '@lossless/rocketmq-admin';

const HOST = '127.0.0.1';

/** Ports of the replicated fixture; none clashes with the single or the secured RocketMQ, Kafka or RabbitMQ. */
export const REPLICATED_ROCKETMQ_PORTS = {
  namesrv: 19886,
  /** The embedded controller (its DLedger peer address, which also answers the controller's requests). */
  controller: 19888,
  grpc: 18181,
  proxyRemoting: 18180,
  /** Remoting port of each broker; each also binds port-2 (fast channel) and port+1 (HA). */
  brokers: [21011, 21021, 21031],
} as const;

export const REPLICA_COUNT = 3;
/** Fewest replicas (the master included) that must hold a message before the master answers SEND_OK. */
export const MIN_IN_SYNC_REPLICAS = 2;

/** CONTROLLER_GET_REPLICA_INFO: the master and the SyncStateSet of a broker group, from the controller. */
const CONTROLLER_GET_REPLICA_INFO = 1004;

/** namesrv.properties entries that embed the controller. */
export function controllerProperties(storeDir: string): Record<string, string | number | boolean> {
  return {
    enableControllerInNamesrv: true,
    controllerDLegerGroup: 'lossless-controller',
    controllerDLegerPeers: `n0-${HOST}:${REPLICATED_ROCKETMQ_PORTS.controller}`,
    controllerDLegerSelfId: 'n0',
    controllerStorePath: storeDir,
    // Never elect a broker outside the SyncStateSet: it may lack confirmed messages.
    enableElectUncleanMaster: false,
    notifyBrokerRoleChanged: true,
    // How often the controller looks for brokers whose heartbeats stopped (5 s by default).
    scanNotActiveBrokerInterval: 1_000,
  };
}

/**
 * broker.conf entries of a broker in controller mode, on top of what every kit broker gets (its address and
 * ports, store paths and sizes, SYNC_FLUSH).
 */
export function replicatedBrokerProperties(): Record<string, string | number | boolean> {
  return {
    // The controller assigns ids and roles; every broker starts as a slave candidate.
    brokerId: -1,
    brokerRole: 'SLAVE',
    enableControllerMode: true,
    controllerAddr: `${HOST}:${REPLICATED_ROCKETMQ_PORTS.controller}`,
    // The HA address slaves dial; left unset RocketMQ picks the machine's first address.
    brokerIP2: HOST,
    // SEND_OK only when every replica in the SyncStateSet has the message, and only while that set holds at
    // least MIN_IN_SYNC_REPLICAS brokers: otherwise the send fails (IN_SYNC_REPLICAS_NOT_ENOUGH).
    allAckInSyncStateSet: true,
    totalReplicas: REPLICA_COUNT,
    inSyncReplicas: MIN_IN_SYNC_REPLICAS,
    minInSyncReplicas: MIN_IN_SYNC_REPLICAS,
    enableAutoInSyncReplicas: false,
    // Failure detection: a heartbeat to the controller every second, a broker silent for 4 s is inactive
    // (10 s by default), and a slave re-reads the group's master every second.
    brokerHeartbeatInterval: 1_000,
    controllerHeartBeatTimeoutMills: 4_000,
    syncBrokerMetadataPeriod: 1_000,
    checkSyncStateSetPeriod: 1_000,
  };
}

export interface ReplicaInfo {
  /** Index (0-2) of the master broker, or undefined while the group has none. */
  master: number | undefined;
  /** Indexes of the brokers in the SyncStateSet (the master included). */
  inSync: number[];
  /** The controller's epoch of the master: it grows with every election. */
  masterEpoch: number;
}

/**
 * The group as the controller sees it. The SyncStateSet names the broker ids the controller assigned (in
 * registration order, not the kit's index): the master's id comes with the answer, the slaves' from the name
 * server, which lists the master under id 0 and each slave under its own id.
 */
export async function replicaInfo(brokerName: string, namesrv: string): Promise<ReplicaInfo> {
  const none: ReplicaInfo = { master: undefined, inSync: [], masterEpoch: 0 };
  const r = await remotingCall(
    `${HOST}:${REPLICATED_ROCKETMQ_PORTS.controller}`,
    CONTROLLER_GET_REPLICA_INFO,
    { brokerName },
    undefined,
    2_000,
  );
  if (r.code !== 0) return none;
  const idToAddress = new Map<number, string>();
  const info = await remotingCall(namesrv, RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined, 2_000);
  if (info.code === 0) {
    const table = parseServerJson<{
      brokerAddrTable?: Record<string, { brokerAddrs?: Record<string, string> }>;
    }>(info.body).brokerAddrTable;
    for (const [id, address] of Object.entries(table?.[brokerName]?.brokerAddrs ?? {})) {
      if (id !== '0') idToAddress.set(Number(id), address);
    }
  }
  const masterAddress = r.extFields.masterAddress;
  if (masterAddress && r.extFields.masterBrokerId)
    idToAddress.set(Number(r.extFields.masterBrokerId), masterAddress);
  const indexOf = (address: string | undefined): number | undefined => {
    const i = REPLICATED_ROCKETMQ_PORTS.brokers.findIndex((p) => address === `${HOST}:${p}`);
    return i < 0 ? undefined : i;
  };
  const body = JSON.parse(r.body.toString('utf8') || '{}') as { syncStateSet?: number[] };
  const inSync = (body.syncStateSet ?? [])
    .map((id) => indexOf(idToAddress.get(id)))
    .filter((i): i is number => i !== undefined)
    .sort((a, b) => a - b);
  return { master: indexOf(masterAddress), inSync, masterEpoch: Number(r.extFields.masterEpoch ?? 0) };
}
