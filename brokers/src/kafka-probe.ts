// Readiness probes of a Kafka cluster through kafkajs: a node is ready when its own metadata lists every running
// broker (and theirs list it), the cluster when the group coordinator answers, a rejoined node when it is back in
// the ISR of every partition it replicates. Probes stay silent unless they fail; then their last kafkajs log
// lines go into the error. On the secured fixture every probe speaks SASL_SSL as the admin user (verified TLS
// against the kit CA): an open port says nothing about a TLS listener or the SCRAM users.
import { connect, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Admin, ISocketFactoryArgs, LogEntry } from 'kafkajs';
import { Kafka, logLevel } from 'kafkajs';
import type { KitClientSecurity } from './kafka-secure.js';
import { livePid, waitUntil } from './process.js';

/** What a probe needs to know of a node. */
export interface ProbedNode {
  readonly index: number;
  readonly name: string;
  /** host:port of its client listener. */
  readonly address: string;
  readonly pidFile: string;
  readonly logFile: string;
}

/** What a probe needs to know of the cluster: its name (for messages), every node, and how long to wait. */
export interface ProbedCluster {
  readonly cluster: string;
  readonly nodes: readonly ProbedNode[];
  readonly readyTimeoutMs: number;
  /** Set on the secured fixture: how the kit's clients log in. */
  readonly client?: KitClientSecurity | undefined;
}

interface Probe {
  kafka: Kafka;
  /** The last kafkajs log lines (errors and warnings), for failure messages. */
  recent: string[];
}

/**
 * A kafkajs client for readiness checks. kafkajs sends a request to a random broker of its pool, so a probe
 * that must see one node's own view (its metadata cache) is pinned to it: connections to other nodes fail.
 */
function probe(brokers: string[], client: KitClientSecurity | undefined, pinnedTo?: string): Probe {
  const recent: string[] = [];
  const kafka = new Kafka({
    clientId: 'lossless-brokers',
    brokers,
    ...(client ? { ssl: client.ssl, sasl: client.sasl } : {}),
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, log }: LogEntry) => {
        const { message, error } = log as { message?: string; error?: string };
        if (pinnedTo && message?.includes('pinned to')) return;
        recent.push(`${namespace}: ${message ?? ''}${error ? ` (${error})` : ''}`);
        if (recent.length > 10) recent.shift();
      },
    ...(pinnedTo
      ? {
          socketFactory: ({ host, port, ssl, onConnect }: ISocketFactoryArgs) => {
            if (`${host}:${port}` === pinnedTo) {
              // kafkajs hands its `ssl` option to the factory: a custom factory must do the TLS itself.
              return client
                ? tlsConnect({ host, port, ...ssl }, onConnect)
                : connect({ host, port }, onConnect);
            }
            const socket = new Socket();
            setImmediate(() => socket.destroy(new Error(`probe pinned to ${pinnedTo}`)));
            return socket;
          },
        }
      : {}),
  });
  return { kafka, recent };
}

/** Runs fn with a fresh admin whose every request goes to `address` (no cached metadata). */
async function withPinnedAdmin<T>(
  address: string,
  client: KitClientSecurity | undefined,
  recent: string[],
  fn: (admin: Admin) => Promise<T>,
): Promise<T> {
  const { kafka, recent: own } = probe([address], client, address);
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await fn(admin);
  } catch (error) {
    recent.push(`${address}: ${(error as Error).message}`, ...own);
    while (recent.length > 10) recent.shift();
    throw error;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Node ids of the live brokers in `address`'s own metadata. */
async function brokerIdsSeenBy(
  address: string,
  client: KitClientSecurity | undefined,
  recent: string[],
): Promise<number[]> {
  return withPinnedAdmin(address, client, recent, async (admin) => {
    const { brokers } = await admin.describeCluster();
    return brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  });
}

/** The running nodes: those whose pid file names a live process. */
function runningNodes(target: ProbedCluster): ProbedNode[] {
  return target.nodes.filter((n) => livePid(n.pidFile) !== undefined);
}

/**
 * Waits until each of `nodes` serves metadata listing every running node of the cluster, and every other running
 * node lists them too: the node has (re)joined and clients can use it.
 */
export async function waitForNodes(target: ProbedCluster, nodes: readonly ProbedNode[]): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const recent: string[] = [];
      let seen: number[] = [];
      const ready = async () => {
        const running = runningNodes(target);
        const expected = running.map((n) => n.index);
        for (const peer of running) {
          if (peer !== node && !nodes.includes(peer)) {
            const ids = await brokerIdsSeenBy(peer.address, target.client, recent);
            if (!ids.includes(node.index)) return false;
          }
        }
        seen = await brokerIdsSeenBy(node.address, target.client, recent);
        return expected.every((id) => seen.includes(id));
      };
      await waitUntil(`${target.cluster} ${node.name} (${node.address})`, ready, {
        timeoutMs: target.readyTimeoutMs,
        pidFile: node.pidFile,
        logFile: node.logFile,
        intervalMs: 200,
      }).catch((error: Error) => {
        throw new Error(
          `${error.message}\nlast metadata from ${node.name}: brokers [${seen.join(', ')}]` +
            `${recent.length ? `\nkafkajs:\n  ${recent.join('\n  ')}` : ''}`,
        );
      });
    }),
  );
}

/** FindCoordinator creates __consumer_offsets; waiting for it here keeps that out of the first test. */
export async function waitForGroupCoordinator(target: ProbedCluster, brokers: string[]): Promise<void> {
  const { kafka, recent } = probe(brokers, target.client);
  const admin = kafka.admin();
  try {
    await waitUntil(
      `${target.cluster} group coordinator`,
      async () => {
        await admin.connect();
        await admin.describeGroups(['lossless-kit-readiness']);
        return true;
      },
      { timeoutMs: target.readyTimeoutMs, intervalMs: 200 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}${recent.length ? `\nkafkajs:\n  ${recent.join('\n  ')}` : ''}`);
    });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * After a node rejoined: wait until every running node's metadata has it back in the ISR of every partition it
 * replicates (brokers learn ISR changes from the metadata log at slightly different times).
 */
export async function waitForIsr(target: ProbedCluster, node: ProbedNode): Promise<void> {
  const recent: string[] = [];
  let lagging: string[] = [];
  await waitUntil(
    `${target.cluster} ${node.name} back in sync`,
    async () => {
      const running = runningNodes(target);
      const views = await Promise.all(
        running.map((peer) =>
          withPinnedAdmin(peer.address, target.client, recent, async (admin) => {
            const { topics } = await admin.fetchTopicMetadata();
            return topics.flatMap((t) =>
              t.partitions
                .filter((p) => p.replicas.includes(node.index) && !p.isr.includes(node.index))
                .map((p) => `${t.name}-${p.partitionId} (seen by ${peer.name})`),
            );
          }),
        ),
      );
      lagging = views.flat();
      return lagging.length === 0;
    },
    { timeoutMs: target.readyTimeoutMs, pidFile: node.pidFile, logFile: node.logFile, intervalMs: 200 },
  ).catch((error: Error) => {
    throw new Error(
      `${error.message}\nout of the ISR: ${lagging.slice(0, 20).join(', ')}` +
        `${recent.length ? `\nkafkajs:\n  ${recent.join('\n  ')}` : ''}`,
    );
  });
}

/** Runs fn with an admin of the kit connected to `brokers` (as the admin user on the secured fixture). */
export async function withKitAdmin<T>(
  target: ProbedCluster,
  brokers: string[],
  fn: (admin: Admin) => Promise<T>,
): Promise<T> {
  const { kafka, recent } = probe(brokers, target.client);
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await fn(admin);
  } catch (error) {
    throw new Error(
      `${target.cluster}: ${(error as Error).message}${recent.length ? `\nkafkajs:\n  ${recent.join('\n  ')}` : ''}`,
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
