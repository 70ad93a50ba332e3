// Apache Kafka in KRaft mode (combined broker+controller nodes), run from Maven Central jars as plain `java`
// processes: no Docker, no tarball. One node for the basic cases, three for replication. Every node's state
// (server.properties, data, console log, pid file) lives under <home>/kafka-<version>-n<nodes>/node-<i>/, so a
// cluster started by the CLI can be killed, restarted or stopped from a test in another process.
//
// This file is the fixture: the node and cluster lifecycle (launch, stop, kill, restart, status) and the public
// factory. The jars come from kafka-dist.ts, the node's files from kafka-config.ts, the JVM and its class archive
// from kafka-jvm.ts, readiness from kafka-probe.ts; the secured variant (`secure: true`: SASL_SSL, SCRAM users,
// ACLs) from kafka-secure.ts, in <home>/kafka-<version>-secure/ on ports 19292/19293.
//
// Readiness is never "the port is open": a node is ready when a kafkajs admin connected to it sees every
// expected broker in its metadata (describeCluster), and `up()` also waits until the group coordinator
// answers (which creates __consumer_offsets), so the first consumer of a test does not pay for that.
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
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultLog, kitHome } from './home.js';
import { HOST, randomClusterId, serverProperties } from './kafka-config.js';
import { kafkaJars, resolveVersion } from './kafka-dist.js';
import { classArchive, javaCommand, jvmArgs, runJava } from './kafka-jvm.js';
import {
  type ProbedCluster,
  waitForGroupCoordinator,
  waitForIsr,
  waitForNodes,
  withKitAdmin,
} from './kafka-probe.js';
import {
  ensureLimitedAcls,
  hidePasswords,
  type KitClientSecurity,
  kitClientSecurity,
  SECURE_PORTS,
  scramFormatArgs,
  secureClusterName,
  secureProperties,
  writeKeystore,
} from './kafka-secure.js';
import {
  exclusive,
  killHard,
  livePid,
  portOpen,
  signalPid,
  spawnDetached,
  stopGracefully,
  tailFile,
  waitUntil,
} from './process.js';
import { securePki, secureSettings } from './secure.js';
import type { Broker, BrokerNode, BrokerOptions, BrokerStatus, KafkaSettings, NodeStatus } from './types.js';

export { DEFAULT_KAFKA_VERSION, KAFKA_3_VERSION, KAFKA_4_VERSION } from './kafka-dist.js';

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
  /** The secured variant's settings (its users and PKI paths); undefined on a plain fixture. */
  private readonly security: KafkaSettings['security'];
  /** How the kit's own clients log in to the secured node, once its PKI exists (see launch). */
  private client: KitClientSecurity | undefined;

  constructor(private readonly options: KafkaOptions) {
    this.version = resolveVersion(options.version);
    const count = options.nodes ?? 1;
    if (count !== 1 && count !== 3) throw new Error(`kafka: nodes must be 1 or 3, not ${String(count)}`);
    if (options.secure && count !== 1) throw new Error('kafka: the secured fixture runs a single node');
    this.home = kitHome(options.home);
    this.security = options.secure ? { ...secureSettings(this.home), mechanism: 'scram-sha-512' } : undefined;
    this.cluster = options.secure ? secureClusterName(this.version) : `kafka-${this.version}-n${count}`;
    this.dir = join(this.home, this.cluster);
    this.lockFile = join(this.home, `${this.cluster}.lock`);
    this.log = options.log ?? (process.stderr.isTTY || process.env.CI ? defaultLog : () => {});
    this.readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
    const base = options.basePort ?? (options.secure ? SECURE_PORTS.client : count === 1 ? 19092 : 19192);
    this.nodes = Array.from(
      { length: count },
      (_, i) => new KafkaNode(this, i, base + 2 * i, base + 2 * i + 1),
    );
    this.settings = {
      kind: 'kafka',
      brokers: this.nodes.map((n) => n.address),
      ...(this.security ? { security: this.security } : {}),
    };
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

  // --- launch -----------------------------------------------------------------------------------------------------

  private jvm(lib: string, level: 'INFO' | 'WARN'): string[] {
    return jvmArgs({ version: this.version, dir: this.dir, lib, level, heap: this.options.heap });
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
    const security = this.security;
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
        // The secured node's SCRAM users exist from its first start (bootstrap metadata).
        ...(security ? scramFormatArgs(security) : []),
      ],
      node.dir,
      120_000,
    ).catch((error: Error) => {
      // The failed command line carries the users' passwords.
      const message = security ? hidePasswords(error.message, security) : error.message;
      throw new Error(`${this.cluster}: formatting ${node.name} failed: ${message}`);
    });
  }

  /** Starts the given nodes that are not running (resolving jars and formatting storage on first use). */
  async launch(nodes: readonly KafkaNode[]): Promise<void> {
    const lib = await kafkaJars(this.version, { home: this.home, log: this.log });
    mkdirSync(this.dir, { recursive: true });
    const pki = this.security ? await securePki(this.home) : undefined;
    if (this.security) this.client = kitClientSecurity(this.security);
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
        const overrides = {
          ...(pki && this.security
            ? secureProperties({
                port: node.port,
                controllerPort: node.controllerPort,
                keystore: writeKeystore(node.dir, pki),
                ca: pki.ca,
                admin: this.security.admin,
              })
            : {}),
          ...this.options.serverProperties,
        };
        writeFileSync(node.propertiesFile, serverProperties(node, this.nodes, this.version, overrides), {
          mode: 0o600, // the secured node's JAAS line holds the admin password
        });
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

  /** Waits until `nodes` have (re)joined and clients can use them (see waitForNodes in kafka-probe.ts). */
  async waitForNodes(nodes: readonly KafkaNode[]): Promise<void> {
    const started = Date.now();
    await waitForNodes(this.probed, nodes);
    this.log(`${this.cluster}: ${nodes.map((n) => n.name).join(', ')} ready in ${Date.now() - started} ms`);
  }

  private get probed(): ProbedCluster {
    return {
      cluster: this.cluster,
      nodes: this.nodes,
      readyTimeoutMs: this.readyTimeoutMs,
      client: this.client,
    };
  }

  // --- Broker -----------------------------------------------------------------------------------------------------

  private pendingUp: Promise<void> | undefined;

  up(): Promise<void> {
    if (!this.pendingUp) {
      const started = Date.now();
      this.pendingUp = this.locked('up', async () => {
        await this.launch(this.nodes);
        await this.waitForNodes(this.nodes);
        await waitForGroupCoordinator(this.probed, this.settings.brokers);
        const security = this.security;
        if (security) {
          await withKitAdmin(this.probed, this.settings.brokers, (admin) =>
            ensureLimitedAcls(admin, security),
          );
        }
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
      if (this.nodes.length > 1) await waitForIsr(this.probed, node);
    });
  }

  restart(node = 0): Promise<void> {
    return this.restartNode(node);
  }

  /** SIGSTOP the node's JVM: its sockets stay open, it answers nothing, the controller fences it after 4 s. */
  async freeze(node: number): Promise<void> {
    signalPid(this.node(node).pidFile, 'SIGSTOP');
  }

  async thaw(node: number): Promise<void> {
    signalPid(this.node(node).pidFile, 'SIGCONT');
  }

  /** Index (= node.id) of the leader of the topic's partition 0, as the running nodes report it (within 60 s). */
  async leaderOf(topic: string): Promise<number> {
    let leader = -1;
    await waitUntil(
      `${this.cluster}: a leader of ${topic}-0`,
      async () => {
        const live = this.nodes.filter((n) => livePid(n.pidFile) !== undefined);
        if (live.length === 0) return false;
        const { topics } = await withKitAdmin(
          this.probed,
          live.map((n) => n.address),
          (admin) => admin.fetchTopicMetadata({ topics: [topic] }),
        ).catch(() => ({ topics: [] as { partitions: { partitionId: number; leader: number }[] }[] }));
        leader = topics[0]?.partitions.find((p) => p.partitionId === 0)?.leader ?? -1;
        return live.some((n) => n.index === leader);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    return leader;
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
 * nodes 19192/19194/19196 (controllers 19193/19195/19197); the secured node (`secure: true`, cluster
 * kafka-<version>-secure) SASL_SSL 19292 (controller, PLAINTEXT on loopback, 19293).
 */
export function kafka(options: KafkaOptions = {}): Broker<KafkaSettings> {
  return new KafkaCluster(options);
}
