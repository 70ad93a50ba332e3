// Apache Kafka in KRaft mode (combined broker+controller nodes), run from Maven Central jars as plain `java`
// processes: no Docker, no tarball. One node for the basic cases, three for replication. Every node's state
// (server.properties, data, console log, pid file) lives under <home>/kafka-<version>-n<nodes>/node-<i>/, so a
// cluster started by the CLI can be killed, restarted or stopped from a test in another process.
//
// Readiness is never "the port is open": a node is ready when a kafkajs admin connected to it sees every
// expected broker in its metadata (describeCluster), and `up()` also waits until the group coordinator
// answers (which creates __consumer_offsets), so the first consumer of a test does not pay for that.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, ISocketFactoryArgs, LogEntry } from 'kafkajs';
import { Kafka, logLevel } from 'kafkajs';
import { defaultLog, kitHome } from './home.js';
import type { MavenArtifact } from './maven.js';
import { resolveJars } from './maven.js';
import {
  exclusive,
  isAlive,
  killHard,
  livePid,
  portOpen,
  spawnDetached,
  stopGracefully,
  tailFile,
  waitUntil,
} from './process.js';
import type { Broker, BrokerNode, BrokerOptions, BrokerStatus, KafkaSettings, NodeStatus } from './types.js';

/** The pinned versions: the newest 3.9.x and the newest 4.x on Maven Central (checked 2026-11). */
export const KAFKA_3_VERSION = '3.9.2';
export const KAFKA_4_VERSION = '4.4.0';
export const DEFAULT_KAFKA_VERSION = KAFKA_4_VERSION;

export interface KafkaOptions extends BrokerOptions {
  /**
   * First client port; node i listens for clients on basePort + 2i and for the controller quorum on
   * basePort + 2i + 1. Default 19092 for one node, 19192 for three.
   */
  basePort?: number;
  /** Extra or overriding server.properties entries, applied to every node at its next start. */
  serverProperties?: Record<string, string | number | boolean>;
  /** JVM options replacing the default heap settings (-Xms256m -Xmx768m). */
  heap?: string[];
  /** How long a node may take to accept clients after its process started (default 120 s). */
  readyTimeoutMs?: number;
}

const HOST = '127.0.0.1';
const LOG4J_VERSION = '2.25.3';

function resolveVersion(version: string | undefined): string {
  const v = version ?? DEFAULT_KAFKA_VERSION;
  if (v === '3' || v === '3.9') return KAFKA_3_VERSION;
  if (v === '4' || v === KAFKA_4_VERSION.split('.').slice(0, 2).join('.')) return KAFKA_4_VERSION;
  if (!/^(3\.9|4\.\d+)\.\d+$/.test(v)) {
    throw new Error(
      `kafka: version ${v} is not supported (use 3.9.x or 4.x.y; pinned ${KAFKA_3_VERSION}, ${KAFKA_4_VERSION})`,
    );
  }
  return v;
}

function isKafka4(version: string): boolean {
  return version.startsWith('4.');
}

/** The broker jars and the logging backend each line needs (Kafka's pom leaves the backend to the distribution). */
function artifacts(version: string): { deps: MavenArtifact[]; exclusions: string[] } {
  const kafkaJar = { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version };
  if (isKafka4(version)) {
    // 4.x logs through slf4j 1.7 → log4j2 (the distribution ships log4j-slf4j-impl + log4j-core).
    return {
      deps: [
        kafkaJar,
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
      ],
      exclusions: [],
    };
  }
  // 3.9 logs through slf4j 1.7 → reload4j; ZooKeeper's pom would bring logback as a second binding.
  return {
    deps: [
      kafkaJar,
      { groupId: 'ch.qos.reload4j', artifactId: 'reload4j', version: '1.2.25' },
      { groupId: 'org.slf4j', artifactId: 'slf4j-reload4j', version: '1.7.36' },
    ],
    exclusions: ['ch.qos.logback:logback-classic', 'ch.qos.logback:logback-core'],
  };
}

function loggingConfig(
  version: string,
  level: 'INFO' | 'WARN',
): { file: string; text: string; property: string } {
  // Everything goes to stdout, which the supervisor appends to the node's console log. The per-client config
  // dumps are held back: they bury the lines that explain a failure.
  const quiet = [
    'kafka.server.KafkaConfig',
    'org.apache.kafka.clients.producer.ProducerConfig',
    'org.apache.kafka.clients.consumer.ConsumerConfig',
    'org.apache.kafka.clients.admin.AdminClientConfig',
    'org.apache.kafka.common.config.AbstractConfig',
    'org.apache.kafka.common.utils.AppInfoParser',
    'org.apache.kafka.common.utils.internals.AppInfoParser',
  ];
  if (isKafka4(version)) {
    const loggers = quiet.flatMap((name, i) => [`logger.q${i}.name = ${name}`, `logger.q${i}.level = WARN`]);
    return {
      file: `log4j2-${level.toLowerCase()}.properties`,
      property: 'log4j2.configurationFile',
      text: [
        'status = warn',
        // Kafka stops on SIGTERM through its own hooks; log4j's hook would swap in a SimpleLogger half-way.
        'shutdownHook = disable',
        'appender.out.type = Console',
        'appender.out.name = OUT',
        'appender.out.layout.type = PatternLayout',
        'appender.out.layout.pattern = [%d] %p %m (%c)%n',
        `rootLogger.level = ${level}`,
        'rootLogger.appenderRef.out.ref = OUT',
        ...loggers,
        '',
      ].join('\n'),
    };
  }
  return {
    file: `log4j-${level.toLowerCase()}.properties`,
    property: 'log4j.configuration',
    text: [
      `log4j.rootLogger=${level}, stdout`,
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
      ...quiet.map((name) => `log4j.logger.${name}=WARN`),
      '',
    ].join('\n'),
  };
}

/** A Kafka Uuid as `kafka-storage random-uuid` prints it: 16 random bytes, base64url without padding. */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka's Uuid.randomUuid() skips ids that start with '-' (they read as options) and the reserved ones.
    if (!id.startsWith('-') && id !== 'AAAAAAAAAAAAAAAAAAAAAA' && id !== 'AAAAAAAAAAAAAAAAAAAAAQ') return id;
  }
}

function javaCommand(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

function runJava(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      javaCommand(),
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`.trim()));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

// --- serialisation: one operation at a time per cluster, in this process and across processes -------------------

// (exclusive() from process.ts)

const jarDirs = new Map<string, Promise<string>>();

/** The runtime classpath directory of one Kafka version (resolved once per machine, then cached). */
export function kafkaJars(
  version: string,
  options: { home?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const v = resolveVersion(version);
  const { deps, exclusions } = artifacts(v);
  // The jar set's name carries a hash of its definition, so changing the artifacts re-resolves.
  const hash = createHash('sha256').update(JSON.stringify({ deps, exclusions })).digest('hex').slice(0, 8);
  const name = `kafka-${v}-${hash}`;
  const home = kitHome(options.home);
  const key = join(home, 'jars', name);
  let pending = jarDirs.get(key);
  if (!pending) {
    mkdirSync(join(home, 'jars'), { recursive: true });
    pending = exclusive(`${key}.lock`, `resolving ${name}`, () =>
      resolveJars(name, deps, {
        home,
        exclusions,
        ...(options.log ? { log: options.log } : {}),
      }),
    );
    jarDirs.set(key, pending);
    pending.catch(() => jarDirs.delete(key));
  }
  return pending;
}

// --- class data sharing: a JVM that maps an archive of Kafka's loaded classes starts about twice as fast -----------
//
// The archive is made for free: when none exists, one started node runs with -XX:ArchiveClassesAtExit and
// writes it when it exits gracefully (stop/down; a SIGKILL writes nothing and the next start tries again). An
// archive that does not match the JVM or the classpath is ignored by the JVM (a warning in the log), but a
// truncated one (its writer killed while dumping) crashes it with SIGBUS: a dump is adopted only after a JVM
// started with it under -Xshare:on.

interface ClassArchive {
  args: string[];
  /** Records the pid of the JVM that dumps (call right after spawning it). */
  spawned(pid: number): void;
}

async function classArchive(lib: string): Promise<ClassArchive> {
  const dir = dirname(lib);
  const archive = join(dir, 'classes.jsa');
  let dumping = false;
  for (const entry of readdirSync(dir)) {
    if (!entry.endsWith('.jsa.owner')) continue;
    const owner = join(dir, entry);
    const dump = owner.slice(0, -'.owner'.length);
    const writer = Number.parseInt(readFileSync(owner, 'utf8'), 10);
    if (Number.isInteger(writer) && writer > 0 && isAlive(writer)) {
      dumping = true;
      continue;
    }
    // The writer is gone: it wrote a complete archive at exit, or nothing, or (killed while dumping) a part.
    if (!existsSync(archive) && existsSync(dump)) {
      const usable = await runJava(
        [
          `-XX:SharedArchiveFile=${dump}`,
          '-Xshare:on',
          '-XX:ErrorFile=/dev/null',
          '-cp',
          join(lib, '*'),
          '-version',
        ],
        dir,
        30_000,
      ).then(
        () => true,
        () => false,
      );
      try {
        if (usable && !existsSync(archive)) renameSync(dump, archive);
      } catch {
        /* another process adopted it first */
      }
    }
    rmSync(dump, { force: true });
    rmSync(owner, { force: true });
  }
  const none = { args: [], spawned: () => {} };
  if (existsSync(archive)) return { ...none, args: [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto'] };
  if (dumping) return none;
  const dump = join(dir, `dump-${randomBytes(4).toString('hex')}.jsa`);
  return {
    args: [`-XX:ArchiveClassesAtExit=${dump}`],
    spawned: (pid) => writeFileSync(`${dump}.owner`, String(pid)),
  };
}

// --- kafkajs probes: silent unless they fail --------------------------------------------------------------------

interface Probe {
  kafka: Kafka;
  /** The last kafkajs log lines (errors and warnings), for failure messages. */
  recent: string[];
}

/**
 * A kafkajs client for readiness checks. kafkajs sends a request to a random broker of its pool, so a probe
 * that must see one node's own view (its metadata cache) is pinned to it: connections to other nodes fail.
 */
function probe(brokers: string[], pinnedTo?: string): Probe {
  const recent: string[] = [];
  const kafka = new Kafka({
    clientId: 'lossless-brokers',
    brokers,
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
          socketFactory: ({ host, port, onConnect }: ISocketFactoryArgs) => {
            if (`${host}:${port}` === pinnedTo) return connect({ host, port }, onConnect);
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
  recent: string[],
  fn: (admin: Admin) => Promise<T>,
): Promise<T> {
  const { kafka, recent: own } = probe([address], address);
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
async function brokerIdsSeenBy(address: string, recent: string[]): Promise<number[]> {
  return withPinnedAdmin(address, recent, async (admin) => {
    const { brokers } = await admin.describeCluster();
    return brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  });
}

// --- the fixture ------------------------------------------------------------------------------------------------

class KafkaNode implements BrokerNode {
  readonly name: string;
  readonly dir: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly propertiesFile: string;
  readonly dataDir: string;

  constructor(
    private readonly cluster: KafkaCluster,
    readonly index: number,
    readonly port: number,
    readonly controllerPort: number,
  ) {
    this.name = `node-${index}`;
    this.dir = join(cluster.dir, this.name);
    this.pidFile = join(this.dir, 'kafka.pid');
    this.logFile = join(this.dir, 'kafka.log');
    this.propertiesFile = join(this.dir, 'server.properties');
    this.dataDir = join(this.dir, 'data');
  }

  get address(): string {
    return `${HOST}:${this.port}`;
  }

  start(): Promise<void> {
    return this.cluster.locked(`start ${this.name}`, async () => {
      await this.cluster.launch([this]);
      await this.cluster.waitForNodes([this]);
    });
  }

  stop(): Promise<void> {
    return this.cluster.locked(`stop ${this.name}`, () => this.stopProcess());
  }

  async kill(): Promise<void> {
    await killHard(this.pidFile);
    await this.portsClosed();
  }

  /**
   * The thread-group leader of a dying JVM can read as a zombie while its other threads still hold the sockets:
   * wait until the listeners are really gone.
   */
  async portsClosed(timeoutMs = 10_000): Promise<void> {
    await waitUntil(
      `${this.name}: ports ${this.port}/${this.controllerPort} closed`,
      async () =>
        !(await portOpen(HOST, this.port, 500)) && !(await portOpen(HOST, this.controllerPort, 500)),
      { timeoutMs, intervalMs: 50 },
    );
  }

  restart(): Promise<void> {
    return this.cluster.restartNode(this.index);
  }

  async isRunning(): Promise<boolean> {
    return livePid(this.pidFile) !== undefined;
  }

  logTail(lines = 50): Promise<string> {
    return tailFile(this.logFile, lines);
  }

  /** SIGTERM lets Kafka shut down in order (controlled shutdown, clean log close); SIGKILL after 30 s. */
  async stopProcess(): Promise<void> {
    await stopGracefully(this.pidFile, 30_000);
    await this.portsClosed();
  }
}

class KafkaCluster implements Broker<KafkaSettings> {
  readonly kind = 'kafka' as const;
  readonly version: string;
  readonly cluster: string;
  readonly nodes: readonly KafkaNode[];
  readonly settings: KafkaSettings;
  readonly dir: string;
  private readonly home: string;
  private readonly log: (line: string) => void;
  private readonly lockFile: string;
  private readonly readyTimeoutMs: number;

  constructor(private readonly options: KafkaOptions) {
    this.version = resolveVersion(options.version);
    const count = options.nodes ?? 1;
    if (count !== 1 && count !== 3) throw new Error(`kafka: nodes must be 1 or 3, not ${String(count)}`);
    this.home = kitHome(options.home);
    this.cluster = `kafka-${this.version}-n${count}`;
    this.dir = join(this.home, this.cluster);
    this.lockFile = join(this.home, `${this.cluster}.lock`);
    this.log = options.log ?? (process.stderr.isTTY || process.env.CI ? defaultLog : () => {});
    this.readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
    const base = options.basePort ?? (count === 1 ? 19092 : 19192);
    this.nodes = Array.from(
      { length: count },
      (_, i) => new KafkaNode(this, i, base + 2 * i, base + 2 * i + 1),
    );
    this.settings = { kind: 'kafka', brokers: this.nodes.map((n) => n.address) };
  }

  locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.home, { recursive: true });
    return exclusive(this.lockFile, `${this.cluster}: ${what}`, fn);
  }

  private node(index = 0): KafkaNode {
    const node = this.nodes[index];
    if (!node)
      throw new RangeError(`${this.cluster} has no node ${index} (nodes: 0..${this.nodes.length - 1})`);
    return node;
  }

  // --- configuration --------------------------------------------------------------------------------------------

  private serverProperties(node: KafkaNode): string {
    const replicated = this.nodes.length > 1;
    const rf = replicated ? 3 : 1;
    const minIsr = replicated ? 2 : 1;
    const props: Record<string, string | number | boolean> = {
      'process.roles': 'broker,controller',
      'node.id': node.index,
      'controller.quorum.voters': this.nodes.map((n) => `${n.index}@${HOST}:${n.controllerPort}`).join(','),
      listeners: `PLAINTEXT://${HOST}:${node.port},CONTROLLER://${HOST}:${node.controllerPort}`,
      'advertised.listeners': `PLAINTEXT://${HOST}:${node.port}`,
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'log.dirs': node.dataDir,
      // Topics exist only when a test creates them; no leader from outside the ISR, ever.
      'auto.create.topics.enable': false,
      'unclean.leader.election.enable': false,
      'group.initial.rebalance.delay.ms': 0,
      'num.partitions': 1,
      // One node: every replication setting is lowered to 1 (offsets topic, transaction log and its min ISR,
      // default RF, min.insync.replicas) — a single broker cannot do more. Three nodes: RF 3, min ISR 2.
      'default.replication.factor': rf,
      'min.insync.replicas': minIsr,
      'offsets.topic.replication.factor': rf,
      'transaction.state.log.replication.factor': rf,
      'transaction.state.log.min.isr': minIsr,
      // Fewer internal partitions than the defaults (50) make the first start and every recovery quicker.
      'offsets.topic.num.partitions': 10,
      'transaction.state.log.num.partitions': 10,
      // A killed node is fenced (and its partitions fail over) after 4 s instead of 9 s; a node restarted after a SIGKILL
      // can register only once its previous incarnation expired, so this also bounds restart().
      'broker.heartbeat.interval.ms': 500,
      'broker.session.timeout.ms': 4_000,
      // The log cleaner's default 128 MiB dedupe buffer is a sixth of this small heap.
      'log.cleaner.dedupe.buffer.size': 32 * 1024 * 1024,
      // Acknowledged means written to the OS: a SIGKILL keeps it; only an OS crash would need log.flush.*.
    };
    if (isKafka4(this.version)) {
      props['share.coordinator.state.topic.replication.factor'] = rf;
      props['share.coordinator.state.topic.min.isr'] = minIsr;
    }
    Object.assign(props, this.options.serverProperties ?? {});
    const lines = Object.entries(props).map(([k, v]) => `${k}=${String(v)}`);
    return `# Generated by the lossless broker kit at every start; edits are overwritten.\n${lines.join('\n')}\n`;
  }

  private jvm(lib: string, level: 'INFO' | 'WARN'): string[] {
    const logging = loggingConfig(this.version, level);
    const file = join(this.dir, logging.file);
    writeFileSync(file, logging.text);
    return [
      ...(this.options.heap ?? ['-Xms256m', '-Xmx768m']),
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-D${logging.property}=file:${file}`,
      '-cp',
      join(lib, '*'),
    ];
  }

  private clusterId(): string {
    const file = join(this.dir, 'cluster.id');
    if (existsSync(file)) {
      const id = readFileSync(file, 'utf8').trim();
      if (id) return id;
    }
    const id = randomClusterId();
    writeFileSync(file, `${id}\n`);
    return id;
  }

  /** kafka-storage format, once per node (meta.properties marks a formatted log dir). */
  private async format(node: KafkaNode, lib: string, clusterId: string): Promise<void> {
    if (existsSync(join(node.dataDir, 'meta.properties'))) return;
    rmSync(node.dataDir, { recursive: true, force: true }); // a format that died half-way
    await runJava(
      [
        ...this.jvm(lib, 'WARN'),
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId,
        '-c',
        node.propertiesFile,
        '--ignore-formatted',
      ],
      node.dir,
      120_000,
    ).catch((error: Error) => {
      throw new Error(`${this.cluster}: formatting ${node.name} failed: ${error.message}`);
    });
  }

  /** Starts the given nodes that are not running (resolving jars and formatting storage on first use). */
  async launch(nodes: readonly KafkaNode[]): Promise<void> {
    const lib = await kafkaJars(this.version, { home: this.home, log: this.log });
    mkdirSync(this.dir, { recursive: true });
    const clusterId = this.clusterId();
    const stopped = nodes.filter((n) => livePid(n.pidFile) === undefined);
    for (const node of stopped) {
      await node.portsClosed(5_000).catch(() => {});
      for (const port of [node.port, node.controllerPort]) {
        if (await portOpen(HOST, port, 500)) {
          throw new Error(
            `${this.cluster}: port ${port} of ${node.name} is taken by another process` +
              `${this.holderHint(port)}; stop it first (its fixture's down())`,
          );
        }
      }
    }
    await Promise.all(
      stopped.map(async (node) => {
        mkdirSync(node.dir, { recursive: true });
        writeFileSync(node.propertiesFile, this.serverProperties(node));
        await this.format(node, lib, clusterId);
      }),
    );
    for (const node of stopped) {
      // One console log per node across restarts (tests read its tail); one older generation past 20 MiB.
      if ((statSync(node.logFile, { throwIfNoEntry: false })?.size ?? 0) > 20 * 1024 * 1024) {
        renameSync(node.logFile, `${node.logFile}.1`);
      }
      writeFileSync(node.logFile, `\n===== ${new Date().toISOString()} starting ${node.name} =====\n`, {
        flag: 'a',
      });
      const cds = await classArchive(lib);
      const pid = spawnDetached({
        command: javaCommand(),
        args: [...this.jvm(lib, 'INFO'), ...cds.args, 'kafka.Kafka', node.propertiesFile],
        cwd: node.dir,
        logFile: node.logFile,
        pidFile: node.pidFile,
      });
      cds.spawned(pid);
    }
  }

  /** Names the kit cluster that holds a port, when it is one of ours. */
  private holderHint(port: number): string {
    try {
      for (const entry of readdirSync(this.home)) {
        if (!entry.startsWith('kafka-') || entry === this.cluster) continue;
        const dir = join(this.home, entry);
        for (const nodeDir of existsSync(dir) ? readdirSync(dir) : []) {
          const props = join(dir, nodeDir, 'server.properties');
          if (!existsSync(props) || livePid(join(dir, nodeDir, 'kafka.pid')) === undefined) continue;
          if (readFileSync(props, 'utf8').includes(`:${port}`)) return ` (kit cluster ${entry} is up)`;
        }
      }
    } catch {
      /* only a hint */
    }
    return '';
  }

  /**
   * Waits until each of `nodes` serves metadata listing every running node of the cluster, and every other running
   * node lists them too: the node has (re)joined and clients can use it.
   */
  async waitForNodes(nodes: readonly KafkaNode[]): Promise<void> {
    const started = Date.now();
    await Promise.all(
      nodes.map(async (node) => {
        const recent: string[] = [];
        let seen: number[] = [];
        const ready = async () => {
          const running = this.nodes.filter((n) => livePid(n.pidFile) !== undefined);
          const expected = running.map((n) => n.index);
          for (const peer of running) {
            if (peer !== node && !nodes.includes(peer)) {
              const ids = await brokerIdsSeenBy(peer.address, recent);
              if (!ids.includes(node.index)) return false;
            }
          }
          seen = await brokerIdsSeenBy(node.address, recent);
          return expected.every((id) => seen.includes(id));
        };
        await waitUntil(`${this.cluster} ${node.name} (${node.address})`, ready, {
          timeoutMs: this.readyTimeoutMs,
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
    this.log(`${this.cluster}: ${nodes.map((n) => n.name).join(', ')} ready in ${Date.now() - started} ms`);
  }

  /** FindCoordinator creates __consumer_offsets; waiting for it here keeps that out of the first test. */
  private async waitForGroupCoordinator(): Promise<void> {
    const { kafka, recent } = probe(this.settings.brokers);
    const admin = kafka.admin();
    try {
      await waitUntil(
        `${this.cluster} group coordinator`,
        async () => {
          await admin.connect();
          await admin.describeGroups(['lossless-kit-readiness']);
          return true;
        },
        { timeoutMs: this.readyTimeoutMs, intervalMs: 200 },
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
  private async waitForIsr(node: KafkaNode): Promise<void> {
    const recent: string[] = [];
    let lagging: string[] = [];
    await waitUntil(
      `${this.cluster} ${node.name} back in sync`,
      async () => {
        const running = this.nodes.filter((n) => livePid(n.pidFile) !== undefined);
        const views = await Promise.all(
          running.map((peer) =>
            withPinnedAdmin(peer.address, recent, async (admin) => {
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
      { timeoutMs: this.readyTimeoutMs, pidFile: node.pidFile, logFile: node.logFile, intervalMs: 200 },
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\nout of the ISR: ${lagging.slice(0, 20).join(', ')}` +
          `${recent.length ? `\nkafkajs:\n  ${recent.join('\n  ')}` : ''}`,
      );
    });
  }

  // --- Broker -----------------------------------------------------------------------------------------------------

  private pendingUp: Promise<void> | undefined;

  up(): Promise<void> {
    if (!this.pendingUp) {
      const started = Date.now();
      this.pendingUp = this.locked('up', async () => {
        await this.launch(this.nodes);
        await this.waitForNodes(this.nodes);
        await this.waitForGroupCoordinator();
        this.log(
          `${this.cluster} up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${this.settings.brokers.join(',')}`,
        );
      }).finally(() => {
        this.pendingUp = undefined;
      });
    }
    return this.pendingUp;
  }

  down(options: { wipe?: boolean } = {}): Promise<void> {
    return this.locked('down', async () => {
      await this.stopAll();
      if (options.wipe) rmSync(this.dir, { recursive: true, force: true });
      this.log(`${this.cluster} down${options.wipe ? ' (wiped)' : ''}`);
    });
  }

  /**
   * SIGTERM to every node at once, so that each controlled shutdown still finds a controller quorum (one after the
   * other, the last node waits for a quorum that is gone). A node still running once the quorum is gone can
   * only hang (its controlled shutdown never commits; the Raft leader waits 5 s to hand over): by then it has
   * closed its logs, so it gets SIGKILL after a short grace instead of the 30 s timeout.
   */
  private async stopAll(): Promise<void> {
    const majority = (count: number) => count * 2 > this.nodes.length;
    const running = () => this.nodes.filter((n) => livePid(n.pidFile) !== undefined);
    if (!majority(running().length)) {
      await Promise.all(running().map((n) => n.kill()));
      return;
    }
    let stopped = false;
    const stops = Promise.all(running().map((n) => n.stopProcess())).finally(() => {
      stopped = true;
    });
    const watchdog = (async () => {
      let quorumLostAt: number | undefined;
      while (!stopped) {
        const left = running();
        if (left.length > 0 && !majority(left.length)) {
          quorumLostAt ??= Date.now();
          if (Date.now() - quorumLostAt > 3_000) {
            await Promise.all(left.map((n) => n.kill()));
            return;
          }
        }
        await sleep(100);
      }
    })();
    await Promise.all([stops, watchdog]);
  }

  async kill(node = 0): Promise<void> {
    await this.node(node).kill();
  }

  restartNode(index = 0): Promise<void> {
    const node = this.node(index);
    return this.locked(`restart ${node.name}`, async () => {
      await node.stopProcess();
      await this.launch([node]);
      await this.waitForNodes([node]);
      if (this.nodes.length > 1) await this.waitForIsr(node);
    });
  }

  restart(node = 0): Promise<void> {
    return this.restartNode(node);
  }

  async status(): Promise<BrokerStatus> {
    const nodes = this.nodes.map((n): NodeStatus => {
      const pid = livePid(n.pidFile);
      return {
        name: n.name,
        running: pid !== undefined,
        ...(pid !== undefined ? { pid } : {}),
        ports: { kafka: n.port, controller: n.controllerPort },
      };
    });
    return { kind: 'kafka', version: this.version, cluster: this.cluster, nodes };
  }
}

/**
 * Apache Kafka (KRaft, combined broker+controller nodes) from Maven Central. `version` accepts 3.9.x and 4.x
 * (aliases "3", "3.9", "4"); default DEFAULT_KAFKA_VERSION. Ports: one node 19092 (controller 19093); three
 * nodes 19192/19194/19196 (controllers 19193/19195/19197).
 */
export function kafka(options: KafkaOptions = {}): Broker<KafkaSettings> {
  return new KafkaCluster(options);
}
