// The broker kit: real RabbitMQ, Kafka and RocketMQ brokers for tests that kill, restart and partition them,
// and a PostgreSQL server (postgres.ts) to kill under a transactional outbox or inbox.
//
// LOSSLESS_BROKERS picks where brokers come from:
//   local (default) — processes on this machine, started by the kit (rabbitmq.ts, kafka.ts, rocketmq.ts);
//   external        — brokers you already run (LOSSLESS_RABBITMQ_URL, LOSSLESS_KAFKA_BROKERS,
//                     LOSSLESS_ROCKETMQ_ENDPOINTS, LOSSLESS_ROCKETMQ_NAMESRV): up/down only check they answer,
//                     kill/restart throw because fault controls need brokers the kit owns;
//   docker          — the same fixtures as containers through `testcontainers` (not a dependency of the kit).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { kitHome } from './home.js';
import { type KafkaOptions, kafka } from './kafka.js';
import { type PostgresFixture, postgres } from './postgres.js';
import { livePid, portOpen, stopGracefully, waitUntil } from './process.js';
import { rabbitmq } from './rabbitmq.js';
import { type RocketMqOptions, rocketmq } from './rocketmq.js';
import type {
  Broker,
  BrokerKind,
  BrokerNode,
  BrokerOptions,
  BrokerSettings,
  BrokerStatus,
  KafkaSettings,
  RabbitMqSettings,
  RocketMqSettings,
} from './types.js';

export {
  createFaultProxy,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
} from './fault-proxy.js';
export { kitHome } from './home.js';
export {
  DEFAULT_KAFKA_VERSION,
  KAFKA_3_VERSION,
  KAFKA_4_VERSION,
  type KafkaOptions,
  kafka,
} from './kafka.js';
export { type CertFiles, type Pki, type PkiOptions, throwawayPki } from './pki.js';
export {
  POSTGRES_PORT,
  type PostgresFixture,
  type PostgresOptions,
  type PostgresSettings,
  type PostgresStatus,
  postgres,
} from './postgres.js';
export { installedRabbitMqVersion, rabbitmq } from './rabbitmq.js';
export {
  type CreateGroupOptions,
  type CreateTopicOptions,
  DEFAULT_ROCKETMQ_VERSION,
  ROCKETMQ_PORTS,
  type RocketMqAdmin,
  type RocketMqBroker,
  type RocketMqMessageType,
  type RocketMqOptions,
  rocketmq,
} from './rocketmq.js';
export {
  ADMIN_USER,
  LIMITED_PREFIX,
  LIMITED_USER,
  SERVERNAME,
  securePki,
  secureSettings,
} from './secure.js';
export type {
  Broker,
  BrokerKind,
  BrokerNode,
  BrokerOptions,
  BrokerSettings,
  BrokerStatus,
  KafkaSettings,
  KitUser,
  NodeStatus,
  RabbitMqSettings,
  RocketMqSettings,
  SecureSettings,
} from './types.js';

export const BROKER_KINDS: readonly BrokerKind[] = ['rabbitmq', 'kafka', 'rocketmq'];

export type BrokerMode = 'local' | 'external' | 'docker';

/** The mode from LOSSLESS_BROKERS (default `local`). */
export function brokerMode(env: NodeJS.ProcessEnv = process.env): BrokerMode {
  const mode = (env.LOSSLESS_BROKERS ?? 'local').trim() || 'local';
  if (mode === 'local' || mode === 'external' || mode === 'docker') return mode;
  throw new Error(`LOSSLESS_BROKERS must be local, external or docker, not "${mode}"`);
}

export type CreateBrokerOptions = BrokerOptions & { mode?: BrokerMode };

/** A fixture of the given kind in the mode of `options.mode` or LOSSLESS_BROKERS. */
export function createBroker(kind: 'rabbitmq', options?: CreateBrokerOptions): Broker<RabbitMqSettings>;
export function createBroker(
  kind: 'kafka',
  options?: CreateBrokerOptions & KafkaOptions,
): Broker<KafkaSettings>;
export function createBroker(
  kind: 'rocketmq',
  options?: CreateBrokerOptions & RocketMqOptions,
): Broker<RocketMqSettings>;
export function createBroker(kind: BrokerKind, options?: CreateBrokerOptions): Broker;
export function createBroker(kind: BrokerKind, options: CreateBrokerOptions = {}): Broker {
  const { mode = brokerMode(), ...rest } = options;
  if (!BROKER_KINDS.includes(kind)) {
    throw new Error(`unknown broker kind "${String(kind)}" (use ${BROKER_KINDS.join(', ')})`);
  }
  if (mode === 'external') return externalBroker(kind);
  if (mode === 'docker') return dockerBroker(kind, rest);
  switch (kind) {
    case 'rabbitmq':
      return rabbitmq(rest);
    case 'kafka':
      return kafka(rest);
    case 'rocketmq':
      return rocketmq(rest);
  }
}

// --- fixtures found on disk ---------------------------------------------------------------------------------

/** A fixture directory under the kit home, with the local fixture that owns it (when the name is known). */
export interface FixtureOnDisk {
  kind: BrokerKind;
  cluster: string;
  dir: string;
  broker: Broker;
}

/**
 * Every local fixture that left state under the kit home: rabbitmq-n1|n3, kafka-<v>-n1|n3, rocketmq-<v>[-n3], and the
 * secured variants rabbitmq-secure, kafka-<v>-secure, rocketmq-<v>-secure.
 */
export function fixturesOnDisk(home?: string): FixtureOnDisk[] {
  const root = kitHome(home);
  if (!existsSync(root)) return [];
  const found: FixtureOnDisk[] = [];
  const opts = home === undefined ? {} : { home };
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!statSync(dir).isDirectory()) continue;
    const rabbit = name.match(/^rabbitmq-n([13])$/);
    const kafkaDir = name.match(/^kafka-(.+)-n([13])$/);
    const rocket = name.match(/^rocketmq-(\d[^-]*?)(-n3)?$/);
    const secure = name.match(/^(rabbitmq|kafka|rocketmq)(?:-(\d[^-]*))?-secure$/);
    if (secure) {
      const kind = captured(secure, 1, 'the kind of a secured fixture directory') as BrokerKind;
      const version = secure[2] === undefined ? {} : { version: secure[2] };
      found.push({
        kind,
        cluster: name,
        dir,
        broker: createBroker(kind, { ...opts, ...version, secure: true, mode: 'local' }),
      });
    } else if (rabbit) {
      const broker = rabbitmq({ ...opts, nodes: Number(rabbit[1]) as 1 | 3 });
      found.push({ kind: 'rabbitmq', cluster: name, dir, broker });
    } else if (kafkaDir) {
      const broker = kafka({
        ...opts,
        version: captured(kafkaDir, 1, 'the Kafka version of a kafka-<version>-n<nodes> directory'),
        nodes: Number(kafkaDir[2]) as 1 | 3,
      });
      found.push({ kind: 'kafka', cluster: name, dir, broker });
    } else if (rocket) {
      found.push({
        kind: 'rocketmq',
        cluster: name,
        dir,
        broker: rocketmq({
          ...opts,
          version: captured(rocket, 1, 'the RocketMQ version of a rocketmq-<version>[-n3] directory'),
          ...(rocket[2] ? { nodes: 3 as const } : {}),
        }),
      });
    }
  }
  return found;
}

/** Every local PostgreSQL fixture under the kit home: postgres-<major> and postgres-<major>-p<port>. */
export function postgresOnDisk(home?: string): PostgresFixture[] {
  const root = kitHome(home);
  if (!existsSync(root)) return [];
  const found: PostgresFixture[] = [];
  for (const name of readdirSync(root).sort()) {
    const m = name.match(/^postgres-(\d+)(?:-p(\d+))?$/);
    if (!m || !statSync(join(root, name)).isDirectory()) continue;
    const version = captured(m, 1, 'the major of a postgres-<major> directory');
    found.push(
      postgres({
        version,
        mode: 'local',
        ...(home === undefined ? {} : { home }),
        ...(m[2] ? { port: Number(m[2]) } : {}),
      }),
    );
  }
  return found;
}

/** Group `n` of a regex match, or an Error naming what the group should have held. */
function captured(match: RegExpMatchArray, n: number, what: string): string {
  const value = match[n];
  if (value === undefined) throw new Error(`expected ${what}, but "${match[0]}" did not capture it`);
  return value;
}

/** Every pid file below dir whose process is alive. */
export function livePidFiles(dir: string): { file: string; pid: number }[] {
  const out: { file: string; pid: number }[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4) return;
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p, depth + 1);
      else if (entry.name.endsWith('.pid')) {
        const pid = livePid(p);
        if (pid !== undefined) out.push({ file: p, pid });
      }
    }
  };
  if (existsSync(dir)) walk(dir, 0);
  return out;
}

/**
 * Stops every local fixture found on disk (both single nodes and clusters, and the PostgreSQL fixture), then any
 * process a pid file under the kit home still names, so nothing of ours keeps running.
 */
export async function downAll(
  options: { wipe?: boolean; home?: string; log?: (line: string) => void } = {},
): Promise<void> {
  const fixtures = fixturesOnDisk(options.home);
  const errors: string[] = [];
  for (const f of fixtures) {
    options.log?.(`down ${f.cluster}`);
    try {
      await f.broker.down(options.wipe ? { wipe: true } : {});
    } catch (error) {
      errors.push(`${f.cluster}: ${(error as Error).message}`);
    }
  }
  // PostgreSQL before the pid-file sweep: a SIGKILL of the postmaster's group would leave its backends behind.
  for (const pg of postgresOnDisk(options.home)) {
    options.log?.(`down ${pg.cluster}`);
    try {
      await pg.down(options.wipe ? { wipe: true } : {});
    } catch (error) {
      errors.push(`${pg.cluster}: ${(error as Error).message}`);
    }
  }
  const root = kitHome(options.home);
  for (const { file, pid } of livePidFiles(root)) {
    options.log?.(`stopping leftover pid ${pid} (${relative(root, file)})`);
    await stopGracefully(file, 30_000);
  }
  if (errors.length > 0) throw new Error(`down all:\n${errors.join('\n')}`);
}

// --- external mode --------------------------------------------------------------------------------------------

function hostPort(address: string, defaultPort: number): { host: string; port: number } {
  const m = address.trim().match(/^\[?([^\]]+?)\]?(?::(\d+))?$/);
  if (!m) throw new Error(`not a host:port address: "${address}"`);
  return {
    host: captured(m, 1, `the host of address "${address}"`),
    port: m[2] ? Number(m[2]) : defaultPort,
  };
}

function requireEnv(name: string, kind: BrokerKind): string {
  const value = process.env[name]?.trim();
  if (!value) throw new Error(`LOSSLESS_BROKERS=external needs ${name} for ${kind}`);
  return value;
}

function externalBroker(kind: BrokerKind): Broker {
  let settings: BrokerSettings;
  let addresses: { host: string; port: number }[];
  if (kind === 'rabbitmq') {
    const urls = requireEnv('LOSSLESS_RABBITMQ_URL', kind)
      .split(',')
      .map((u) => u.trim())
      .filter(Boolean);
    settings = { kind, urls };
    addresses = urls.map((u) => {
      const url = new URL(u);
      return {
        host: url.hostname,
        port: url.port ? Number(url.port) : url.protocol === 'amqps:' ? 5671 : 5672,
      };
    });
  } else if (kind === 'kafka') {
    const brokers = requireEnv('LOSSLESS_KAFKA_BROKERS', kind)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    settings = { kind, brokers };
    addresses = brokers.map((b) => hostPort(b, 9092));
  } else {
    const endpoints = requireEnv('LOSSLESS_ROCKETMQ_ENDPOINTS', kind);
    const namesrv = requireEnv('LOSSLESS_ROCKETMQ_NAMESRV', kind);
    settings = {
      kind,
      endpoints,
      namesrv,
      cluster: process.env.LOSSLESS_ROCKETMQ_CLUSTER ?? 'DefaultCluster',
      broker: process.env.LOSSLESS_ROCKETMQ_BROKER ?? '',
    };
    addresses = [hostPort(endpoints, 8081), hostPort(namesrv, 9876)];
  }
  const noFaults = (what: string) =>
    Promise.reject(
      new Error(
        `${kind}: ${what} needs brokers the kit runs itself; LOSSLESS_BROKERS=external only connects to yours ` +
          '(use LOSSLESS_BROKERS=local for the fault cases)',
      ),
    );
  const reachable = async () => {
    const results = await Promise.all(addresses.map((a) => portOpen(a.host, a.port, 3_000)));
    const down = addresses.filter((_, i) => !results[i]).map((a) => `${a.host}:${a.port}`);
    if (down.length > 0) throw new Error(`${kind} (external): nothing answers at ${down.join(', ')}`);
  };
  const nodes: BrokerNode[] = addresses.map((a) => ({
    name: `${a.host}:${a.port}`,
    start: reachable,
    stop: async () => {},
    kill: () => noFaults('kill()'),
    restart: () => noFaults('restart()'),
    isRunning: () => portOpen(a.host, a.port, 3_000),
    logTail: async () => '(external broker: no logs)',
  }));
  return {
    kind,
    version: 'external',
    cluster: `${kind}-external`,
    nodes,
    settings,
    up: reachable,
    down: reachable,
    kill: () => noFaults('kill()'),
    restart: () => noFaults('restart()'),
    status: async (): Promise<BrokerStatus> => ({
      kind,
      version: 'external',
      cluster: `${kind}-external`,
      nodes: await Promise.all(
        addresses.map(async (a) => ({
          name: `${a.host}:${a.port}`,
          running: await portOpen(a.host, a.port, 3_000),
          ports: { [kind]: a.port },
        })),
      ),
    }),
  };
}

// --- docker mode (testcontainers, loaded on demand) ---------------------------------------------------------

/** Pinned images of docker mode. */
export const DOCKER_IMAGES = { rabbitmq: 'rabbitmq:3.13.7', kafka: 'apache/kafka:3.9.1' } as const;

interface StartedContainer {
  getId(): string;
  stop(options?: { timeout?: number }): Promise<unknown>;
}
interface ContainerBuilder {
  withExposedPorts(...ports: { container: number; host: number }[]): ContainerBuilder;
  withEnvironment(env: Record<string, string>): ContainerBuilder;
  start(): Promise<StartedContainer>;
}
interface Testcontainers {
  GenericContainer: new (image: string) => ContainerBuilder;
}

async function loadTestcontainers(): Promise<Testcontainers> {
  const name = 'testcontainers'; // a variable: not a dependency, nothing for the compiler to resolve
  try {
    return (await import(name)) as Testcontainers;
  } catch (error) {
    throw new Error(
      'LOSSLESS_BROKERS=docker needs the testcontainers package and a Docker engine: ' +
        `npm install --no-save testcontainers (${(error as Error).message})`,
    );
  }
}

function docker(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('docker', args, { timeout: 120_000 }, (error, _stdout, stderr) =>
      error ? reject(new Error(`docker ${args.join(' ')}: ${stderr || error.message}`)) : resolve(),
    ),
  );
}

/**
 * One broker in a container with fixed host ports (the local fixtures' ports). kill() is `docker kill`
 * (SIGKILL), restart() `docker start` of the same container, so data survives as it does locally. Containers
 * live as long as the process that started them (testcontainers' reaper removes them).
 */
function dockerBroker(kind: BrokerKind, options: BrokerOptions): Broker {
  if ((options.nodes ?? 1) !== 1) throw new Error(`${kind}: docker mode runs single nodes only (nodes: 1)`);
  const host = '127.0.0.1';
  let image: string;
  let port: number;
  let spec: (b: ContainerBuilder) => ContainerBuilder;
  let settings: BrokerSettings;
  if (kind === 'rabbitmq') {
    image = options.version ? `rabbitmq:${options.version}` : DOCKER_IMAGES.rabbitmq;
    port = 5682;
    settings = { kind, urls: [`amqp://guest:guest@${host}:${port}`] };
    // The official image lets guest log in from outside the container (loopback_users.guest = false).
    spec = (b) =>
      b
        .withExposedPorts({ container: 5672, host: port })
        .withEnvironment({ RABBITMQ_DEFAULT_USER: 'guest', RABBITMQ_DEFAULT_PASS: 'guest' });
  } else if (kind === 'kafka') {
    image = options.version ? `apache/kafka:${options.version}` : DOCKER_IMAGES.kafka;
    port = 19092;
    settings = { kind, brokers: [`${host}:${port}`] };
    spec = (b) =>
      b.withExposedPorts({ container: 9092, host: port }).withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${port}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE: 'false',
      });
  } else {
    throw new Error(
      'rocketmq: docker mode is not implemented (name server, broker and proxy); use LOSSLESS_BROKERS=local',
    );
  }
  const cluster = `${kind}-docker`;
  let container: StartedContainer | undefined;
  let starting: Promise<void> | undefined;
  const ready = () =>
    waitUntil(`${kind} container`, () => portOpen(host, port), { timeoutMs: 180_000, intervalMs: 500 });
  const requireContainer = () => {
    if (!container) throw new Error(`${kind}: docker fixture is not up in this process`);
    return container;
  };
  const kill = async () => {
    await docker(['kill', requireContainer().getId()]);
  };
  const restart = async () => {
    const id = requireContainer().getId();
    await docker(['stop', '-t', '30', id]).catch(() => {});
    await docker(['start', id]);
    await ready();
  };
  const node: BrokerNode = {
    name: `${kind}-docker-0`,
    start: async () => {
      await docker(['start', requireContainer().getId()]);
      await ready();
    },
    stop: async () => docker(['stop', '-t', '30', requireContainer().getId()]),
    kill,
    restart,
    isRunning: () => portOpen(host, port),
    logTail: async () => '(docker: see `docker logs`)',
  };
  return {
    kind,
    version: image.split(':')[1] ?? image,
    cluster,
    nodes: [node],
    settings,
    up() {
      starting ??= (async () => {
        const tc = await loadTestcontainers();
        container = await spec(new tc.GenericContainer(image)).start();
        await ready();
      })();
      return starting;
    },
    async down() {
      await container?.stop({ timeout: 30 });
      container = undefined;
      starting = undefined;
    },
    kill: async () => kill(),
    restart: async () => restart(),
    status: async () => {
      const running = container !== undefined && (await portOpen(host, port));
      return {
        kind,
        version: image,
        cluster,
        nodes: [{ name: node.name, running, ports: { [kind]: port } }],
      };
    },
  };
}
