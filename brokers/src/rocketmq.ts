// Apache RocketMQ 5 run from Maven Central jars as three plain `java` processes: no Docker, no tarball.
//
//   nodes[0] 'broker'  — BrokerStartup: the broker (commit log, consume queues), the node holding the messages.
//   nodes[1] 'namesrv' — NamesrvStartup, the route registry the broker registers with.
//   nodes[2] 'proxy'   — ProxyStartup in cluster mode: the gRPC proxy rocketmq-client-nodejs talks to, a
//                        stateless front that forwards to the broker over remoting. Cluster mode (not local mode,
//                        the broker inside the proxy JVM) because only there does a route answer name the address
//                        the client dialled: with useEndpointPortFromRequest a client whose endpoints are a TCP
//                        fault proxy is routed back through it, so cutting that proxy cuts sends and receives.
//
// kill()/restart() with an index act on that one JVM. Without one they act on the broker as its clients see it:
// the storage broker and the proxy in front of it, killed or restarted together, as the one JVM of local mode
// was. (With only the storage broker gone, the running proxy answers every send with TOPIC_NOT_FOUND, the name
// server having dropped the broker's routes — a different fault from "the broker went away".)
//
// Everything a run creates (generated config, store, RocketMQ's own logs under user.home, console output, pid
// files) lives under <home>/rocketmq-<version>/, so brokers started by the CLI can be killed, restarted or
// stopped from a test in another process. The admin is @lossless/rocketmq-admin's RocketMqAdmin (RocketMQ's
// remoting protocol straight from Node, the one implementation of it, which the driver uses too), so creating a
// topic takes milliseconds instead of a 4 s `mqadmin` JVM.
//
// Readiness is never "the port is open": the broker is ready when it answers a remoting request itself and, if
// the name server runs, the name server lists it; the proxy is ready when it answers a route query for the
// broker's own topic (which it can only do once the broker registered with the name server) and its gRPC port
// accepts connections; the name server is ready when it answers a cluster-info query and, if the broker runs,
// lists it.
//
// `secure: true` is the secured variant (rocketmq-secure.ts): cluster rocketmq-<version>-secure on ports of its
// own, ACL 2.0 on broker and proxy, TLS enforced on the proxy. Every remoting call of the kit is then signed as
// the super user, and the proxy's readiness query goes over verified TLS and is authenticated.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type CreateGroupOptions,
  type CreateTopicOptions,
  RocketMqAdmin as RemotingAdmin,
  RequestCode,
  ResponseCode,
  type RocketMqMessageType,
  remotingCall,
} from '@lossless/rocketmq-admin';
import { defaultLog, kitHome } from './home.js';
import { resolveJars } from './maven.js';
import type { Pki } from './pki.js';
import {
  exclusive as exclusiveOn,
  killHard,
  livePid,
  portOpen,
  signalPid,
  spawnDetached,
  stopGracefully,
  tailFile,
  waitUntil,
} from './process.js';
import {
  controllerProperties,
  REPLICATED_ROCKETMQ_PORTS,
  type ReplicaInfo,
  replicaInfo,
  replicatedBrokerProperties,
} from './rocketmq-replicated.js';
import {
  ADMIN_CREDENTIALS,
  ensureUsers,
  kitTls,
  SECURE_ROCKETMQ_PORTS,
  secureBrokerProperties,
  secureProxyConfig,
  secureProxyJvmFlags,
} from './rocketmq-secure.js';
import { securePki, secureSettings } from './secure.js';
import type {
  Broker,
  BrokerNode,
  BrokerOptions,
  BrokerStatus,
  NodeStatus,
  RocketMqSettings,
} from './types.js';

/** The newest 5.3.x for which namesrv, broker, proxy and tools are all on Maven Central (checked 2026-11). */
export const DEFAULT_ROCKETMQ_VERSION = '5.3.3';

const HOST = '127.0.0.1';
/** Ports: none clashes with RocketMQ's defaults (9876, 10909-10912, 8080-8081) or the other fixtures. */
export const ROCKETMQ_PORTS = {
  namesrv: 19876,
  /** Broker remoting; the broker also binds listenPort-2 (its "fast"/VIP channel) and listenPort+1 (HA). */
  broker: 20911,
  brokerFast: 20909,
  brokerHa: 20912,
  /** Proxy gRPC (rocketmq-client-nodejs and the other 5.x gRPC clients), a JVM of its own. */
  grpc: 18081,
  /** Proxy remoting (4.x-style remoting clients through the proxy). */
  proxyRemoting: 18080,
} as const;

/** brokerClusterName and brokerName of the single broker. */
const CLUSTER_NAME = 'lossless';
const BROKER_NAME = 'broker-a';

export type { CreateGroupOptions, CreateTopicOptions, RocketMqMessageType };

export interface RocketMqAdmin {
  /** Creates (or updates) a topic and resolves once the proxy routes it. Idempotent. */
  createTopic(name: string, options?: CreateTopicOptions): Promise<void>;
  /** Creates (or updates) a subscription group. Idempotent. */
  createGroup(name: string, options?: CreateGroupOptions): Promise<void>;
  /** Deletes a topic from the broker and the name server; resolves once the proxy no longer routes it. */
  deleteTopic(name: string): Promise<void>;
  deleteGroup(name: string): Promise<void>;
  /** Whether the name server has a route for the topic. */
  topicExists(name: string): Promise<boolean>;
  /** Runs `mqadmin <args>` (org.apache.rocketmq.tools.command.MQAdminStartup) in a JVM: ~4 s a call. */
  mqadmin(...args: string[]): Promise<string>;
}

export interface RocketMqOptions extends BrokerOptions {
  /** JVM heap options of the broker JVM (default -Xms1g -Xmx1g, 1 GiB direct memory). */
  brokerHeap?: string[];
  /** JVM heap options of the proxy JVM (default -Xms256m -Xmx512m, 256 MiB direct memory). */
  proxyHeap?: string[];
  /** JVM heap options of the name server (default -Xms256m -Xmx512m). */
  namesrvHeap?: string[];
  /** Extra or overriding broker.conf entries, applied at the broker's next start. */
  brokerProperties?: Record<string, string | number | boolean>;
  /** How long a node may take to accept clients after its process started (default 120 s). */
  readyTimeoutMs?: number;
}

export type RocketMqBroker = Broker<RocketMqSettings> & {
  admin: RocketMqAdmin;
  /** The replicated group as the controller sees it (the replicated fixture only). */
  replicas?(): Promise<ReplicaInfo>;
};

const SUCCESS = ResponseCode.SUCCESS;
/** RequestCode.GET_BROKER_RUNTIME_INFO: answered by a broker only (the admin client has no use for it). */
const GET_BROKER_RUNTIME_INFO = 28;

/** Write queue count of a route answer, or 0 when it names no queue (fastjson bodies are not always JSON). */
function routeWriteQueues(body: Buffer): number {
  let total = 0;
  for (const m of body.toString('utf8').matchAll(/"writeQueueNums"\s*:\s*(\d+)/g)) total += Number(m[1]);
  return total;
}

// ---------------------------------------------------------------------------------------------------------

function javaCommand(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** What Java 17 needs for RocketMQ's direct-buffer and mmap tricks. */
const JAVA17_FLAGS = [
  '--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED',
  '--add-opens=java.base/java.nio=ALL-UNNAMED',
  '--add-opens=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-opens=java.base/java.lang=ALL-UNNAMED',
  '--add-exports=java.base/sun.nio.ch=ALL-UNNAMED',
  '--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED',
];

function properties(entries: Record<string, string | number | boolean>): string {
  return `${Object.entries(entries)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}

export function rocketmq(options: RocketMqOptions = {}): RocketMqBroker {
  if (options.nodes !== undefined && options.nodes !== 1 && options.nodes !== 3) {
    throw new Error('rocketmq: nodes must be 1 (a single broker) or 3 (a replicated broker group)');
  }
  const replicated = options.nodes === 3;
  const secure = options.secure === true;
  if (replicated && secure) throw new Error('rocketmq: the secured fixture is a single broker (no nodes: 3)');
  const version = options.version ?? DEFAULT_ROCKETMQ_VERSION;
  if (!/^5\.\d+\.\d+$/.test(version)) throw new Error(`rocketmq: version ${version} is not a 5.x.y version`);
  const log =
    options.log ?? (process.stderr.isTTY || process.env.CI ? defaultLog : (_line: string): void => undefined);
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const PORTS = replicated ? REPLICATED_ROCKETMQ_PORTS : secure ? SECURE_ROCKETMQ_PORTS : ROCKETMQ_PORTS;
  const cluster = secure
    ? `rocketmq-${version}-secure`
    : replicated
      ? `rocketmq-${version}-n3`
      : `rocketmq-${version}`;
  const base = join(kitHome(options.home), cluster);
  /** Remoting, fast-channel and HA port of each broker: one broker, or the three of the replicated group. */
  const brokerPorts = (
    replicated
      ? REPLICATED_ROCKETMQ_PORTS.brokers
      : [(secure ? SECURE_ROCKETMQ_PORTS : ROCKETMQ_PORTS).broker]
  ).map((port) => ({ broker: port, brokerFast: port - 2, brokerHa: port + 1 }));
  const dirs = {
    conf: join(base, 'conf'),
    home: join(base, 'home'),
    store: join(base, 'store'),
    run: join(base, 'run'),
    logs: join(base, 'logs'),
  };
  const rocketLogs = join(dirs.home, 'logs', 'rocketmqlogs');
  // The proxy's logback writes broker.log and friends too (it can embed a broker): a user.home of its own keeps
  // two JVMs from appending to and rolling the same files.
  const proxyHome = join(dirs.home, 'proxy');
  const settings: RocketMqSettings = {
    kind: 'rocketmq',
    endpoints: `${HOST}:${PORTS.grpc}`,
    namesrv: `${HOST}:${PORTS.namesrv}`,
    cluster: CLUSTER_NAME,
    broker: `${HOST}:${brokerPorts[0]?.broker}`,
    replicas: brokerPorts.length,
    ...(secure ? { security: secureSettings(options.home) } : {}),
  };
  /** How the kit's own remoting calls are signed (the super user) on the secured fixture. */
  const signed = secure ? { credentials: ADMIN_CREDENTIALS } : {};
  let pkiPromise: Promise<Pki> | undefined;
  function pki(): Promise<Pki> {
    pkiPromise ??= securePki(options.home).catch((e: unknown) => {
      pkiPromise = undefined;
      throw e;
    });
    return pkiPromise;
  }
  const proxyRemoting = `${HOST}:${PORTS.proxyRemoting}`;

  let jarsPromise: Promise<string> | undefined;
  function jars(): Promise<string> {
    jarsPromise ??= resolveJars(
      cluster,
      ['rocketmq-namesrv', 'rocketmq-broker', 'rocketmq-proxy', 'rocketmq-tools'].map((artifactId) => ({
        groupId: 'org.apache.rocketmq',
        artifactId,
        version,
      })),
      { ...(options.home ? { home: options.home } : {}), log },
    ).catch((e: unknown) => {
      jarsPromise = undefined;
      throw e;
    });
    return jarsPromise;
  }

  function jvmArgs(lib: string, logbackResource: string, userHome = dirs.home): string[] {
    return [
      ...JAVA17_FLAGS,
      '-XX:+UseG1GC',
      '-XX:-OmitStackTraceInFastThrow',
      '-XX:+ExitOnOutOfMemoryError',
      '-Dfile.encoding=UTF-8',
      `-Duser.home=${userHome}`,
      `-Drocketmq.home.dir=${base}`,
      `-Drmq.logback.configurationFile=${logbackResource}`,
      '-cp',
      join(lib, '*'),
    ];
  }

  function javaEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ROCKETMQ_HOME: base, RMQ_PROXY_HOME: base, NAMESRV_ADDR: settings.namesrv };
  }

  /** The name of broker `i` in node names, pid files and config files ('broker' when there is one). */
  const brokerName = (i: number): string => (replicated ? `broker-${i}` : 'broker');
  const brokerHome = (i: number): string => (replicated ? join(dirs.home, brokerName(i)) : dirs.home);
  const brokerStore = (i: number): string => (replicated ? join(dirs.store, brokerName(i)) : dirs.store);

  function writeConfig(certs: Pki | undefined): void {
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    writeFileSync(
      join(dirs.conf, 'namesrv.properties'),
      properties({
        listenPort: PORTS.namesrv,
        kvConfigPath: join(dirs.home, 'namesrv', 'kvConfig.json'),
        ...(replicated ? controllerProperties(join(dirs.store, 'controller')) : {}),
      }),
    );
    brokerPorts.forEach((ports, i) => {
      const store = brokerStore(i);
      writeFileSync(
        join(dirs.conf, `${brokerName(i)}.conf`),
        properties({
          brokerClusterName: CLUSTER_NAME,
          brokerName: BROKER_NAME,
          brokerId: 0,
          brokerRole: 'ASYNC_MASTER',
          brokerIP1: HOST,
          listenPort: ports.broker,
          haListenPort: ports.brokerHa,
          namesrvAddr: settings.namesrv,
          // Durability: fsync before answering SEND_OK.
          flushDiskType: 'SYNC_FLUSH',
          // Topics and their message.type are created explicitly (gRPC clients never auto-create anyway).
          autoCreateTopicEnable: false,
          // Re-register with the name server every 10 s (the minimum) so a restarted name server learns fast.
          registerNameServerPeriod: 10_000,
          storePathRootDir: store,
          storePathCommitLog: join(store, 'commitlog'),
          // Small mapped files: 64 MiB commit log segments instead of 1 GiB, smaller indexes and timer log.
          mappedFileSizeCommitLog: 64 * 1024 * 1024,
          mappedFileSizeConsumeQueue: 100_000 * 20,
          mappedFileSizeTimerLog: 16 * 1024 * 1024,
          maxHashSlotNum: 50_000,
          maxIndexNum: 200_000,
          // A disk more than 75 % full would otherwise stop writes on a shared CI machine.
          diskMaxUsedSpaceRatio: 95,
          // Controller mode: ids and roles from the controller, sync replication to the SyncStateSet.
          ...(replicated ? replicatedBrokerProperties() : {}),
          ...(secure ? secureBrokerProperties() : {}),
          ...options.brokerProperties,
        }),
      );
    });
    writeFileSync(
      join(dirs.conf, 'rmq-proxy.json'),
      `${JSON.stringify(
        {
          rocketMQClusterName: CLUSTER_NAME,
          proxyMode: 'cluster',
          namesrvAddr: settings.namesrv,
          grpcServerPort: PORTS.grpc,
          remotingListenPort: PORTS.proxyRemoting,
          // A route answer names the host and port the client dialled (cluster mode echoes the request's
          // endpoints; without this the port would be replaced by grpcServerPort), so a client behind a port
          // mapping or a TCP fault proxy keeps using that address for sends, receives and acks.
          useEndpointPortFromRequest: true,
          // The proxy caches routes (including "no such topic") and topic configs (including none, while the
          // broker restarts), and refreshes each on access after this many seconds (20 by default).
          topicRouteServiceCacheRefreshSeconds: 1,
          topicConfigCacheRefreshSeconds: 1,
          grpcShutdownTimeSeconds: 3,
          // A receive long-polls at least this long (5 s by default), and a consumer's close() waits for the
          // receive in flight, so that what it brings is handed back at once. 1 s lets tests close consumers
          // quickly (with the driver's awaitDurationMs: 1000); an empty poll every second is cheap here.
          grpcClientConsumerMinLongPollingTimeoutMillis: 1_000,
          enablePrintJstack: false,
          ...(certs ? secureProxyConfig(certs) : {}),
        },
        null,
        2,
      )}\n`,
    );
  }

  /** The broker at `address` answers a remoting request itself (its runtime info). */
  async function brokerAnswers(address: string): Promise<boolean> {
    const r = await remotingCall(address, GET_BROKER_RUNTIME_INFO, {}, undefined, 2_000, signed);
    return r.code === SUCCESS;
  }

  /** The name server's cluster info (which brokers are registered), as the kit's admin asks for it. */
  function clusterInfo() {
    return remotingCall(settings.namesrv, RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined, 2_000, signed);
  }

  async function namesrvLists(addresses: string[]): Promise<boolean> {
    const r = await clusterInfo();
    if (r.code !== SUCCESS) return false;
    const body = r.body.toString('utf8');
    return addresses.every((a) => body.includes(`"${a}"`));
  }

  /**
   * The proxy answers a route query for the broker's own topic: proxy up, broker registered, route known. On the
   * secured fixture the query goes over TLS verified against the kit's CA, signed: the proxy's certificate and
   * its ACL (which reads the users from the broker) both work.
   */
  async function proxyRoutes(topic: string): Promise<boolean> {
    const r = await remotingCall(
      proxyRemoting,
      RequestCode.GET_ROUTEINFO_BY_TOPIC,
      { topic, acceptStandardJsonOnly: 'true' },
      undefined,
      3_000,
      secure ? { ...signed, tls: kitTls(await pki()) } : {},
    );
    return r.code === SUCCESS && routeWriteQueues(r.body) > 0;
  }

  interface NodeSpec {
    name: string;
    ports: Record<string, number>;
    mainClass: string;
    args: () => string[];
    heap: string[];
    logback: string;
    /** JVM flags of the secured fixture (TLS system properties). */
    secureFlags?: (certs: Pki) => string[];
    /** user.home of the JVM, where RocketMQ writes its logs (default: the shared home). */
    userHome?: string;
    /** RocketMQ's own main log for this node, for logTail. */
    mainLog: string;
    ready: () => Promise<boolean>;
  }

  const running = (name: string): boolean => livePid(pidFile(name)) !== undefined;
  const brokerAddresses = brokerPorts.map((p) => `${HOST}:${p.broker}`);
  const runningBrokers = (): string[] => brokerAddresses.filter((_a, i) => running(brokerName(i)));

  const brokerSpecs: NodeSpec[] = brokerPorts.map((ports, i) => ({
    name: brokerName(i),
    ports,
    mainClass: 'org.apache.rocketmq.broker.BrokerStartup',
    args: () => ['-c', join(dirs.conf, `${brokerName(i)}.conf`), '-n', settings.namesrv],
    // Three brokers of a group on 2 cores: half the single broker's memory each.
    heap:
      options.brokerHeap ??
      (replicated
        ? ['-Xms512m', '-Xmx512m', '-XX:MaxDirectMemorySize=512m']
        : ['-Xms1g', '-Xmx1g', '-XX:MaxDirectMemorySize=1g']),
    logback: 'rmq.broker.logback.xml',
    // Brokers of one group each get a user.home: RocketMQ keeps logs and a copy of broker.conf there.
    userHome: brokerHome(i),
    mainLog: join(brokerHome(i), 'logs', 'rocketmqlogs', 'broker.log'),
    ready: async () => {
      const address = brokerAddresses[i] ?? '';
      if (!(await brokerAnswers(address))) return false;
      // The broker registers with the name server as it starts (in controller mode once the controller gave
      // it a role), and every registerNameServerPeriod after.
      return !running('namesrv') || namesrvLists([address]);
    },
  }));
  const namesrvSpec: NodeSpec = {
    name: 'namesrv',
    ports: replicated
      ? { namesrv: PORTS.namesrv, controller: REPLICATED_ROCKETMQ_PORTS.controller }
      : { namesrv: PORTS.namesrv },
    mainClass: 'org.apache.rocketmq.namesrv.NamesrvStartup',
    args: () => ['-c', join(dirs.conf, 'namesrv.properties')],
    heap: options.namesrvHeap ?? ['-Xms256m', '-Xmx512m'],
    logback: 'rmq.namesrv.logback.xml',
    mainLog: join(rocketLogs, 'namesrv.log'),
    ready: async () => {
      if (runningBrokers().length === 0) return (await clusterInfo()).code === SUCCESS;
      // Running brokers re-register within registerNameServerPeriod (10 s).
      return namesrvLists(runningBrokers());
    },
  };
  const proxySpec: NodeSpec = {
    name: 'proxy',
    ports: { grpc: PORTS.grpc, proxyRemoting: PORTS.proxyRemoting },
    mainClass: 'org.apache.rocketmq.proxy.ProxyStartup',
    args: () => ['-pm', 'cluster', '-pc', join(dirs.conf, 'rmq-proxy.json'), '-n', settings.namesrv],
    heap: options.proxyHeap ?? ['-Xms256m', '-Xmx512m', '-XX:MaxDirectMemorySize=256m'],
    logback: 'rmq.proxy.logback.xml',
    userHome: proxyHome,
    secureFlags: secureProxyJvmFlags,
    mainLog: join(proxyHome, 'logs', 'rocketmqlogs', 'proxy.log'),
    // A cluster-mode proxy needs a name server and a registered broker to start at all (it exits otherwise).
    ready: async () => (await portOpen(HOST, PORTS.grpc)) && proxyRoutes(BROKER_NAME),
  };
  /**
   * In node order: the brokers first (index 0, the default of kill/restart on a single broker, is the broker
   * holding the messages), then the name server and the proxy.
   */
  const specs: NodeSpec[] = [...brokerSpecs, namesrvSpec, proxySpec];
  const brokerSpec = brokerSpecs[0] as NodeSpec;

  function pidFile(name: string): string {
    return join(dirs.run, `${name}.pid`);
  }
  function outFile(name: string): string {
    return join(dirs.logs, `${name}.out`);
  }

  async function startNode(spec: NodeSpec): Promise<void> {
    const pf = pidFile(spec.name);
    if (livePid(pf) === undefined) {
      const lib = await jars();
      await waitPortsFree(spec, 20_000);
      const certs = secure ? await pki() : undefined;
      writeConfig(certs);
      const started = Date.now();
      const flags = certs && spec.secureFlags ? spec.secureFlags(certs) : [];
      spawnDetached({
        command: javaCommand(),
        args: [
          ...spec.heap,
          ...flags,
          ...jvmArgs(lib, spec.logback, spec.userHome),
          spec.mainClass,
          ...spec.args(),
        ],
        env: javaEnv(),
        cwd: base,
        logFile: outFile(spec.name),
        pidFile: pf,
      });
      await waitUntil(`rocketmq ${spec.name}`, spec.ready, {
        timeoutMs: readyTimeoutMs,
        pidFile: pf,
        logFile: outFile(spec.name),
      });
      log(`rocketmq ${spec.name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    await waitUntil(`rocketmq ${spec.name}`, spec.ready, {
      timeoutMs: readyTimeoutMs,
      pidFile: pf,
      logFile: outFile(spec.name),
    });
  }

  /**
   * A killed JVM's pid can look dead (its main thread is a zombie) while its other threads still tear down and
   * its sockets stay open for a moment: wait until every port of the node is closed.
   */
  async function waitPortsFree(spec: NodeSpec, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const busy: string[] = [];
      for (const [portName, port] of Object.entries(spec.ports)) {
        if (await portOpen(HOST, port, 500)) busy.push(`${port} (${portName})`);
      }
      if (busy.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `rocketmq ${spec.name}: port ${busy.join(', ')} in use by a process this kit does not track`,
        );
      }
      await sleep(100);
    }
  }

  async function stopNode(spec: NodeSpec): Promise<void> {
    await stopGracefully(pidFile(spec.name), 30_000);
    await waitPortsFree(spec, 20_000);
  }

  async function killNode(spec: NodeSpec): Promise<void> {
    await killHard(pidFile(spec.name));
    await waitPortsFree(spec, 20_000);
  }

  // One operation at a time per process and across processes (process.ts).
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return exclusiveOn(join(dirs.run, 'lock'), 'rocketmq', fn);
  }

  const nodes: BrokerNode[] = specs.map((spec) => {
    const node: BrokerNode = {
      name: spec.name,
      start: () => exclusive(() => startNode(spec)),
      stop: () => exclusive(() => stopNode(spec)),
      kill: () => killNode(spec),
      restart: () =>
        exclusive(async () => {
          await stopNode(spec);
          await startNode(spec);
        }),
      isRunning: async () => livePid(pidFile(spec.name)) !== undefined,
      logTail: async (lines = 50) =>
        `--- ${outFile(spec.name)} ---\n${await tailFile(outFile(spec.name), lines)}\n` +
        `--- ${spec.mainLog} ---\n${await tailFile(spec.mainLog, lines)}`,
    };
    return node;
  });

  function nodeAt(index: number | undefined): BrokerNode {
    const node = nodes[index ?? 0];
    if (!node)
      throw new Error(
        `rocketmq: no node ${index} (${specs.map((spec, i) => `${i} = ${spec.name}`).join(', ')})`,
      );
    return node;
  }

  let upPromise: Promise<void> | undefined;

  /** SIGSTOP / SIGCONT one JVM (a node frozen: its sockets stay open, nothing answers). */
  async function signalNode(index: number, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const spec = specs[index];
    if (!spec) throw new Error(`rocketmq: no node ${index}`);
    signalPid(pidFile(spec.name), signal);
  }

  /** Index of the group's master broker, once the controller names one (within 60 s). */
  async function leaderOf(): Promise<number> {
    let master: number | undefined;
    await waitUntil(
      'rocketmq: the controller names a master',
      async () => {
        master = (await replicaInfo(BROKER_NAME, settings.namesrv)).master;
        return master !== undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    return master as number;
  }

  /** Every running broker of the group is in the SyncStateSet, one of them master, the name server lists all. */
  async function groupInSync(): Promise<void> {
    await waitUntil(
      'rocketmq: every running broker in the SyncStateSet',
      async () => {
        const info = await replicaInfo(BROKER_NAME, settings.namesrv);
        const up = brokerSpecs.map((_s, i) => i).filter((i) => running(brokerName(i)));
        return (
          info.master !== undefined &&
          up.every((i) => info.inSync.includes(i)) &&
          namesrvLists(runningBrokers())
        );
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 250 },
    );
  }

  // @lossless/rocketmq-admin's remoting admin, plus what only the kit needs: waiting for the proxy's route cache.
  const remoting = new RemotingAdmin({
    namesrv: settings.namesrv,
    cluster: CLUSTER_NAME,
    ...(secure ? { credentials: ADMIN_CREDENTIALS } : {}),
  });
  const admin: RocketMqAdmin = {
    async createTopic(name, topicOptions = {}) {
      await remoting.createTopic(name, topicOptions);
      // The broker registers the topic with the name server on the create call; the proxy's cache follows.
      await waitUntil(`rocketmq: proxy route for topic ${name}`, () => proxyRoutes(name), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
    },
    createGroup: (name, groupOptions = {}) => remoting.createGroup(name, groupOptions),
    async deleteTopic(name) {
      await remoting.deleteTopic(name);
      await waitUntil(`rocketmq: proxy forgets topic ${name}`, async () => !(await proxyRoutes(name)), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
    },
    deleteGroup: (name) => remoting.deleteGroup(name),
    topicExists: (name) => remoting.topicExists(name),
    async mqadmin(...args) {
      const lib = await jars();
      mkdirSync(dirs.home, { recursive: true });
      return new Promise<string>((resolve, reject) => {
        const child = spawn(
          javaCommand(),
          [
            '-Xms64m',
            '-Xmx256m',
            '-XX:+UseSerialGC',
            '-XX:TieredStopAtLevel=1',
            ...jvmArgs(lib, 'rmq.tools.logback.xml'),
            'org.apache.rocketmq.tools.command.MQAdminStartup',
            ...args,
          ],
          { env: javaEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let output = '';
        child.stdout.on('data', (d: Buffer) => {
          output += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          output += d.toString();
        });
        child.on('error', reject);
        // MQAdminStartup exits 0 even when a sub-command fails: callers must read the output.
        child.on('exit', (code) =>
          code === 0
            ? resolve(output)
            : reject(new Error(`mqadmin ${args.join(' ')} (exit ${code}):\n${output}`)),
        );
      });
    },
  };

  const brokerFixture: RocketMqBroker = {
    kind: 'rocketmq',
    version,
    cluster,
    nodes,
    settings,
    admin,
    up() {
      upPromise ??= exclusive(async () => {
        const started = Date.now();
        // One after the other: the broker registers with the name server as it starts, and a cluster-mode proxy
        // exits at start when it cannot create its system topic (DefaultHeartBeatSyncerTopic) on a registered
        // broker of the cluster. The brokers of a group start together (the controller elects one master).
        await startNode(namesrvSpec);
        await Promise.all(brokerSpecs.map((spec) => startNode(spec)));
        if (replicated) await groupInSync();
        // The limited user and its ACL, before the proxy (which reads them from the broker) serves clients.
        if (secure) await ensureUsers(settings.broker);
        await startNode(proxySpec);
        log(
          `rocketmq ${version}${replicated ? ' (3 brokers, controller mode)' : ''} up in ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s (gRPC ${settings.endpoints})`,
        );
      }).finally(() => {
        upPromise = undefined;
      });
      return upPromise;
    },
    down(downOptions = {}) {
      return exclusive(async () => {
        // The proxy takes ~10 s to shut its remoting clients down: the brokers stop meanwhile.
        await Promise.all([stopNode(proxySpec), ...brokerSpecs.map((spec) => stopNode(spec))]);
        await stopNode(namesrvSpec);
        if (downOptions.wipe) {
          for (const d of [dirs.conf, dirs.home, dirs.store, dirs.logs])
            rmSync(d, { recursive: true, force: true });
        }
      });
    },
    async kill(node) {
      if (node !== undefined) return nodeAt(node).kill();
      // A replicated group as its clients see it: the master goes, the controller promotes a slave.
      if (replicated) return killNode(brokerSpecs[await leaderOf()] as NodeSpec);
      await Promise.all([killNode(proxySpec), killNode(brokerSpec)]);
    },
    restart(node) {
      if (replicated && (node === undefined || node < brokerSpecs.length)) {
        return exclusive(async () => {
          // Without an index: every broker of the group that is down, or the master when none is.
          const down = brokerSpecs.filter((spec) => !running(spec.name));
          const targets =
            node !== undefined
              ? [brokerSpecs[node] as NodeSpec]
              : down.length > 0
                ? down
                : [brokerSpecs[await leaderOf()] as NodeSpec];
          for (const spec of targets) await stopNode(spec);
          await Promise.all(targets.map((spec) => startNode(spec)));
          // Back only once it caught up with the master and is in the SyncStateSet again.
          await groupInSync();
        });
      }
      if (node !== undefined) return nodeAt(node).restart();
      return exclusive(async () => {
        await Promise.all([stopNode(proxySpec), stopNode(brokerSpec)]);
        await startNode(brokerSpec);
        await startNode(proxySpec);
      });
    },
    freeze: (node) => signalNode(node, 'SIGSTOP'),
    thaw: (node) => signalNode(node, 'SIGCONT'),
    ...(replicated
      ? { leaderOf: () => leaderOf(), replicas: () => replicaInfo(BROKER_NAME, settings.namesrv) }
      : {}),
    async status(): Promise<BrokerStatus> {
      const nodeStatus: NodeStatus[] = specs.map((spec) => {
        const pid = livePid(pidFile(spec.name));
        return {
          name: spec.name,
          running: pid !== undefined,
          ...(pid !== undefined ? { pid } : {}),
          ports: spec.ports,
        };
      });
      return { kind: 'rocketmq', version, cluster, nodes: nodeStatus };
    },
  };
  return brokerFixture;
}
