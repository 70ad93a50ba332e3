// RabbitMQ fixture: our own RabbitMQ nodes from Debian's rabbitmq-server package, run as detached processes
// under the kit's home (never the system node on 5672). One node, or three joined into a cluster for quorum
// queues. Every node gets its own config, data, logs and pid files; all of them carry a marker in their
// environment so that kill() and down() find every process of a node (the Erlang VM and the helpers it starts
// in their own sessions: erl_child_setup, inet_gethost, the disk monitor) and leave none behind.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultLog, kitHome } from './home.js';
import type { Pki } from './pki.js';
import {
  exclusive,
  isAlive,
  livePid,
  portOpen,
  spawnDetached,
  stopGracefully,
  tailFile,
  waitUntil,
} from './process.js';
import { HAS_PROC, killMarked, MARKER, markedProcesses } from './rabbitmq-processes.js';
import { ensureUsers, SECURE_LAYOUT, SECURE_PLUGINS, secureConfig, tlsAmqpReady } from './rabbitmq-secure.js';
import { securePki, secureSettings } from './secure.js';
import type {
  Broker,
  BrokerNode,
  BrokerOptions,
  BrokerStatus,
  NodeStatus,
  RabbitMqSettings,
  SecureSettings,
} from './types.js';

const LIB = '/usr/lib/rabbitmq';
const SERVER = `${LIB}/bin/rabbitmq-server`;
const CTL = `${LIB}/bin/rabbitmqctl`;
const HOST = '127.0.0.1';
/** The Erlang host part of our node names; `localhost` resolves on every machine. */
const ERLANG_HOST = 'localhost';
const READY_TIMEOUT_MS = 180_000;

/** Ports and names of the two fixtures: they never collide with each other or with a system node on 5672. */
const LAYOUT = {
  1: { cluster: 'rabbitmq-n1', nodes: [{ name: 'lossless-rmq', amqp: 5682, dist: 25682 }] },
  3: {
    cluster: 'rabbitmq-n3',
    nodes: [
      { name: 'lossless-rmq-c1', amqp: 5683, dist: 25683 },
      { name: 'lossless-rmq-c2', amqp: 5684, dist: 25684 },
      { name: 'lossless-rmq-c3', amqp: 5685, dist: 25685 },
    ],
  },
} as const;

export const RABBITMQ_CLUSTERS = [LAYOUT[1].cluster, LAYOUT[3].cluster, SECURE_LAYOUT.cluster] as const;

/** The version of the installed Debian package, or undefined when RabbitMQ is not installed. */
export function installedRabbitMqVersion(): string | undefined {
  try {
    const dir = readdirSync(join(LIB, 'lib')).find((d) => d.startsWith('rabbitmq_server-'));
    return dir?.slice('rabbitmq_server-'.length);
  } catch {
    return undefined;
  }
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim() }),
    );
  });
}

async function ensureInstalled(log: (line: string) => void): Promise<void> {
  if (existsSync(SERVER)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `RabbitMQ is not installed (${SERVER} is missing) and we are not root: run ` +
        '`sudo apt-get install -y rabbitmq-server`, or set LOSSLESS_BROKERS=external or docker.',
    );
  }
  log('installing rabbitmq-server with apt-get (first run on this machine)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update'], { env, timeoutMs: 600_000 });
  if (!update.ok) throw new Error(`apt-get update failed:\n${update.output.slice(-3000)}`);
  const install = await run('apt-get', ['install', '-y', 'rabbitmq-server'], { env, timeoutMs: 900_000 });
  if (!install.ok || !existsSync(SERVER)) {
    throw new Error(`apt-get install rabbitmq-server failed:\n${install.output.slice(-3000)}`);
  }
}

/** Environment without anything a user's shell or /etc/rabbitmq could slip into our nodes. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('RABBITMQ_') || key.startsWith('ERL_') || key === 'NOTIFY_SOCKET') continue;
    env[key] = value;
  }
  return env;
}

// --- a cross-process lock so that two `up` calls (CLI and tests, parallel test files) do not race -----------

// --- the fixture ----------------------------------------------------------------------------------------------

/** What a node of the secured fixture needs besides the plain node's settings. */
interface SecureNode {
  readonly settings: SecureSettings;
  /** The kit's PKI, made on first use (any process that starts the node: up, or a restart from a test). */
  pki(): Promise<Pki>;
}

class RabbitNode implements BrokerNode {
  readonly name: string;
  readonly dir: string;
  readonly pidFile: string;
  readonly consoleLog: string;
  readonly home: string;

  constructor(
    readonly index: number,
    clusterDir: string,
    readonly shortName: string,
    readonly amqpPort: number,
    readonly distPort: number,
    private readonly log: (line: string) => void,
    readonly secure?: SecureNode,
  ) {
    this.name = `${shortName}@${ERLANG_HOST}`;
    this.dir = join(clusterDir, shortName);
    this.pidFile = join(this.dir, 'node.pid');
    this.consoleLog = join(this.dir, 'console.log');
    this.home = join(clusterDir, 'home');
  }

  get url(): string {
    // The secured node has no guest and no plaintext port: the users are in settings.security.
    return this.secure ? `amqps://${HOST}:${this.amqpPort}` : `amqp://guest:guest@${HOST}:${this.amqpPort}`;
  }

  private get marker(): string {
    return this.dir;
  }

  private get rabbitLog(): string {
    return join(this.dir, 'log', `${this.name}.log`);
  }

  ctlEnv(): NodeJS.ProcessEnv {
    return {
      ...cleanEnv(),
      HOME: this.home,
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      ERL_EPMD_ADDRESS: HOST,
    };
  }

  /** rabbitmqctl against this node. */
  ctl(args: string[], timeoutMs = 120_000): Promise<{ ok: boolean; output: string }> {
    return run(CTL, ['-n', this.name, ...args], { env: this.ctlEnv(), timeoutMs });
  }

  private writeConfig(pki: Pki | undefined): void {
    mkdirSync(join(this.dir, 'log'), { recursive: true });
    mkdirSync(join(this.dir, 'mnesia'), { recursive: true });
    // An empty env file keeps /etc/rabbitmq/rabbitmq-env.conf (the system node's name) out of our nodes.
    writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '# generated by the lossless broker kit\n');
    writeFileSync(join(this.dir, 'enabled_plugins'), this.secure ? SECURE_PLUGINS : '[].\n');
    writeFileSync(
      join(this.dir, 'rabbitmq.conf'),
      [
        '# generated by the lossless broker kit',
        ...(pki ? secureConfig(HOST, this.amqpPort, pki) : [`listeners.tcp.1 = ${HOST}:${this.amqpPort}`]),
        'loopback_users.guest = true',
        // A test node, not the machine's only service: bound memory and keep the disk alarm for real shortage.
        'vm_memory_high_watermark.absolute = 1GiB',
        'disk_free_limit.absolute = 100MB',
        // A frozen (SIGSTOPped) peer is declared down after 7.5-12.5 s instead of 45-75 s: the node cases
        // freeze a node for 20 s, longer than this failure detector. A killed peer is seen at once either way.
        'net_ticktime = 10',
        // After a freeze or a partition heals, the side that lost restarts and rejoins the other (autoheal). The
        // default, ignore, leaves Mnesia partitioned for good; pause_minority did not help after a freeze either
        // (the frozen node never saw itself in a minority): declarations made on it then stayed on it alone.
        'cluster_partition_handling = autoheal',
        'log.file.level = info',
        'log.console = false',
        '',
      ].join('\n'),
    );
  }

  private serverEnv(): NodeJS.ProcessEnv {
    return {
      ...this.ctlEnv(),
      [MARKER]: this.marker,
      RABBITMQ_NODENAME: this.name,
      // The node port variables would add a plaintext listener next to the config file's (none on the secured
      // node, whose TLS listener is in rabbitmq.conf).
      ...(this.secure ? {} : { RABBITMQ_NODE_IP_ADDRESS: HOST, RABBITMQ_NODE_PORT: String(this.amqpPort) }),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(this.dir, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'beam.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    };
  }

  /** The pid of the node's Erlang VM, if it runs. */
  async beamPid(): Promise<number | undefined> {
    if (!HAS_PROC) return livePid(this.pidFile); // not Linux: the wrapper's pid is the best we know
    const procs = await markedProcesses(this.marker);
    return procs.find((p) => p.comm.startsWith('beam'))?.pid;
  }

  async isRunning(): Promise<boolean> {
    return (await this.beamPid()) !== undefined;
  }

  /** Spawns the node if no process of it runs; does not wait. */
  async spawn(): Promise<boolean> {
    if (await this.isRunning()) return false;
    await killMarked(this.marker); // helpers a crashed VM left behind
    this.writeConfig(this.secure ? await this.secure.pki() : undefined);
    rmSync(join(this.dir, 'beam.pid'), { force: true });
    this.log(`starting RabbitMQ node ${this.name} (amqp ${this.amqpPort})`);
    writeFileSync(this.consoleLog, `--- ${new Date().toISOString()} start\n`, { flag: 'a' });
    spawnDetached({
      command: SERVER,
      args: [],
      env: this.serverEnv(),
      cwd: this.dir,
      logFile: this.consoleLog,
      pidFile: this.pidFile,
    });
    return true;
  }

  /** Waits until the node has booted and its AMQP port accepts connections. */
  async waitReady(timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    try {
      await waitUntil(`RabbitMQ node ${this.name}`, () => portOpen(HOST, this.amqpPort), {
        timeoutMs,
        pidFile: this.pidFile,
        logFile: this.consoleLog,
      });
      // The listener opens late in the boot; await_startup confirms the rabbit application is running.
      await waitUntil(
        `RabbitMQ node ${this.name} (await_startup)`,
        async () => (await this.ctl(['await_startup', '--timeout', '60'], 90_000)).ok,
        { timeoutMs, pidFile: this.pidFile, logFile: this.consoleLog, intervalMs: 500 },
      );
      const secure = this.secure;
      if (secure) {
        // An open port is not a working TLS listener: the kit's client must complete the handshake and hear AMQP.
        await waitUntil(
          `RabbitMQ node ${this.name} (AMQP over TLS)`,
          () => tlsAmqpReady(HOST, this.amqpPort, secure.settings),
          { timeoutMs, pidFile: this.pidFile, logFile: this.consoleLog, intervalMs: 250 },
        );
      }
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\n--- ${this.rabbitLog}\n${await tailFile(this.rabbitLog, 40)}`,
      );
    }
  }

  async start(): Promise<void> {
    await this.spawn();
    await this.waitReady();
  }

  async stop(): Promise<void> {
    if ((await markedProcesses(this.marker)).length === 0) {
      rmSync(this.pidFile, { force: true });
      return;
    }
    this.log(`stopping RabbitMQ node ${this.name}`);
    if (livePid(this.pidFile) !== undefined) {
      // SIGTERM to the wrapper's group reaches the VM, which shuts down cleanly (init:stop).
      await stopGracefully(this.pidFile, 60_000);
    } else {
      const beam = await this.beamPid();
      if (beam !== undefined) process.kill(beam, 'SIGTERM');
      const deadline = Date.now() + 60_000;
      while ((await this.isRunning()) && Date.now() < deadline) await sleep(100);
    }
    // Helpers in their own sessions exit on their own once the VM is gone; give them a moment, then force.
    const deadline = Date.now() + 5_000;
    while ((await markedProcesses(this.marker)).length > 0 && Date.now() < deadline) await sleep(50);
    await killMarked(this.marker);
    rmSync(join(this.dir, 'beam.pid'), { force: true });
  }

  async kill(): Promise<void> {
    // SIGKILL everything of this node at once: the wrapper, the VM and its helpers.
    const pid = livePid(this.pidFile);
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* group gone */
      }
    }
    await killMarked(this.marker);
    if (pid !== undefined) {
      const deadline = Date.now() + 10_000;
      while (isAlive(pid) && Date.now() < deadline) await sleep(20);
    }
    rmSync(this.pidFile, { force: true });
    rmSync(join(this.dir, 'beam.pid'), { force: true });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async logTail(lines = 50): Promise<string> {
    const rabbit = await tailFile(this.rabbitLog, lines);
    return rabbit || tailFile(this.consoleLog, lines);
  }

  async status(): Promise<NodeStatus> {
    const pid = await this.beamPid();
    return {
      name: this.name,
      running: pid !== undefined,
      ...(pid !== undefined ? { pid } : {}),
      ports: { amqp: this.amqpPort, dist: this.distPort },
    };
  }
}

/** In-flight and finished `up()` calls per cluster directory, shared by every fixture object of a process. */
const upInFlight = new Map<string, Promise<void>>();

class RabbitMqBroker implements Broker<RabbitMqSettings> {
  readonly kind = 'rabbitmq' as const;
  readonly cluster: string;
  readonly nodes: readonly RabbitNode[];
  readonly settings: RabbitMqSettings;
  readonly dir: string;
  private readonly log: (line: string) => void;
  private readonly secure: SecureNode | undefined;

  constructor(private readonly options: BrokerOptions = {}) {
    const count = options.nodes ?? 1;
    if (count !== 1 && count !== 3) throw new Error(`rabbitmq: nodes must be 1 or 3, not ${String(count)}`);
    if (options.secure && count !== 1)
      throw new Error('rabbitmq: the secured fixture has one node (no nodes: 3)');
    const layout = options.secure ? SECURE_LAYOUT : LAYOUT[count];
    let pki: Promise<Pki> | undefined;
    const secure = options.secure
      ? { settings: secureSettings(options.home), pki: () => (pki ??= securePki(options.home)) }
      : undefined;
    this.log = options.log ?? (process.stderr.isTTY || process.env.CI ? defaultLog : () => {});
    this.cluster = layout.cluster;
    this.dir = join(kitHome(options.home), this.cluster);
    this.nodes = layout.nodes.map(
      ({ name, amqp, dist }, i) => new RabbitNode(i, this.dir, name, amqp, dist, this.log, secure),
    );
    this.settings = {
      kind: 'rabbitmq',
      urls: this.nodes.map((n) => n.url),
      ...(secure ? { security: secure.settings } : {}),
    };
    this.secure = secure;
  }

  get version(): string {
    return installedRabbitMqVersion() ?? 'debian';
  }

  private node(index = 0): RabbitNode {
    const node = this.nodes[index];
    if (!node) throw new Error(`${this.cluster}: no node ${index} (it has ${this.nodes.length})`);
    return node;
  }

  up(): Promise<void> {
    let pending = upInFlight.get(this.dir);
    if (!pending) {
      pending = this.doUp().finally(() => upInFlight.delete(this.dir));
      upInFlight.set(this.dir, pending);
    }
    return pending;
  }

  private async doUp(): Promise<void> {
    await ensureInstalled(this.log);
    const installed = installedRabbitMqVersion();
    if (this.options.version && installed && this.options.version !== installed) {
      throw new Error(
        `rabbitmq: version ${this.options.version} was asked for, but the local fixture runs Debian's ` +
          `rabbitmq-server ${installed}; use LOSSLESS_BROKERS=docker for other versions`,
      );
    }
    mkdirSync(this.dir, { recursive: true });
    await exclusive(join(this.dir, '.up.lock'), `${this.cluster} up`, async () => {
      this.writeCookie();
      const started = Date.now();
      // All nodes start together: after a full stop, a clustered node waits for its peers.
      const spawned = await Promise.all(this.nodes.map((n) => n.spawn()));
      await Promise.all(this.nodes.map((n) => n.waitReady()));
      if (this.nodes.length > 1) await this.formCluster();
      if (this.secure) await ensureUsers((args) => this.node(0).ctl(args), this.secure.settings);
      if (spawned.some(Boolean)) {
        this.log(`${this.cluster} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    });
  }

  private writeCookie(): void {
    // Written before any node starts: three nodes booting at once would otherwise each create their own.
    const home = join(this.dir, 'home');
    const cookie = join(home, '.erlang.cookie');
    if (existsSync(cookie)) return;
    mkdirSync(home, { recursive: true });
    const value = `LOSSLESS${Array.from({ length: 24 }, () => String.fromCharCode(65 + Math.floor(Math.random() * 26))).join('')}`;
    writeFileSync(cookie, value, { mode: 0o400 });
  }

  private async formCluster(): Promise<void> {
    const stamp = join(this.dir, 'clustered');
    if (existsSync(stamp)) return;
    const first = this.node(0);
    for (const node of this.nodes.slice(1)) {
      this.log(`joining ${node.name} to ${first.name}`);
      for (const args of [['stop_app'], ['reset'], ['join_cluster', first.name], ['start_app']]) {
        const result = await node.ctl(args);
        if (!result.ok) {
          throw new Error(`rabbitmqctl -n ${node.name} ${args.join(' ')} failed:\n${result.output}`);
        }
      }
      await node.waitReady();
    }
    const status = await first.ctl(['cluster_status', '--formatter', 'json']);
    for (const node of this.nodes) {
      if (!status.output.includes(node.name)) {
        throw new Error(`${this.cluster}: ${node.name} is not in the cluster:\n${status.output}`);
      }
    }
    writeFileSync(stamp, new Date().toISOString());
  }

  async down(options: { wipe?: boolean } = {}): Promise<void> {
    await upInFlight.get(this.dir)?.catch(() => {}); // never race a start in flight in this process
    await Promise.all(this.nodes.map((n) => n.stop()));
    if (options.wipe) {
      this.log(`wiping ${this.dir}`);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  /**
   * rabbitmqctl against one node of this fixture (its own node name, cookie and env), e.g. to add users and
   * permissions in a test. Resolves with the exit status and output; never throws for a failed command.
   */
  ctl(args: readonly string[], node = 0, timeoutMs = 60_000): Promise<{ ok: boolean; output: string }> {
    return this.node(node).ctl([...args], timeoutMs);
  }

  kill(node = 0): Promise<void> {
    return this.node(node).kill();
  }

  restart(node = 0): Promise<void> {
    return this.node(node).restart();
  }

  /** SIGSTOP the node's Erlang VM: its sockets stay open, it answers nothing, its peers see it only by ticks. */
  async freeze(node: number): Promise<void> {
    await this.signalVm(node, 'SIGSTOP');
  }

  async thaw(node: number): Promise<void> {
    await this.signalVm(node, 'SIGCONT');
  }

  private async signalVm(node: number, signal: 'SIGSTOP' | 'SIGCONT'): Promise<void> {
    const pid = await this.node(node).beamPid();
    if (pid === undefined) throw new Error(`${signal}: node ${node} of ${this.cluster} is not running`);
    process.kill(pid, signal);
  }

  /** Index of the node leading the quorum queue `queue` now, as a running node reports it (within 60 s). */
  async leaderOf(queue: string): Promise<number> {
    let leader = -1;
    await waitUntil(
      `${this.cluster}: a leader of queue ${queue}`,
      async () => {
        const live = await Promise.all(this.nodes.map((n) => n.isRunning()));
        const asked = live.indexOf(true);
        if (asked < 0) return false;
        const r = await this.node(asked).ctl(
          ['list_queues', 'name', 'leader', '--formatter', 'json'],
          30_000,
        );
        if (!r.ok) return false;
        const start = r.output.indexOf('[');
        const rows = JSON.parse(start < 0 ? '[]' : r.output.slice(start)) as {
          name: string;
          leader?: string;
        }[];
        const name = rows.find((q) => q.name === queue)?.leader;
        leader = this.nodes.findIndex((n) => n.name === name);
        return leader >= 0 && live[leader] === true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    return leader;
  }

  async status(): Promise<BrokerStatus> {
    return {
      kind: 'rabbitmq',
      version: this.version,
      cluster: this.cluster,
      nodes: await Promise.all(this.nodes.map((n) => n.status())),
    };
  }
}

/**
 * RabbitMQ from Debian's package: one node on 5682, or (`nodes: 3`) a cluster on 5683-5685, or (`secure: true`)
 * one node with only a TLS listener on 5686 (client certificate required), users and permissions (see
 * rabbitmq-secure.ts).
 */
export function rabbitmq(
  options: BrokerOptions = {},
): Broker<RabbitMqSettings> & Pick<RabbitMqBroker, 'ctl'> {
  return new RabbitMqBroker(options);
}
