// The kit's command line: `npm run brokers -- <command>` from the repository root.
import { parseArgs } from 'node:util';
import {
  BROKER_KINDS,
  type Broker,
  type BrokerKind,
  type BrokerSettings,
  type BrokerStatus,
  brokerMode,
  createBroker,
  downAll,
  fixturesOnDisk,
  kitHome,
  type PostgresFixture,
  type PostgresStatus,
  postgres,
  postgresOnDisk,
} from './index.js';

const USAGE = `Usage: npm run brokers -- <command> [options]

Commands:
  up <rabbitmq|kafka|rocketmq|postgres|all>    start (idempotent), wait until clients are accepted, print settings
  down <rabbitmq|kafka|rocketmq|postgres|all>  stop; without --nodes/--version every such fixture found on disk
  status                                       every fixture found on disk: kind, cluster, node, running, pid, ports
  kill <rabbitmq|kafka|rocketmq|postgres>      SIGKILL one node (--node, default 0; RocketMQ: broker and proxy;
                                               PostgreSQL: the postmaster and every backend)
  restart <rabbitmq|kafka|rocketmq|postgres>   restart one node (--node, as kill), wait until it accepts clients

"all" is the three message brokers; "down all" also stops the PostgreSQL fixture (it stops everything).

Options:
  --nodes 1|3       broker nodes (RocketMQ 3: one broker group, controller mode); default 1
  --version X       broker version (default: the kind's pinned version)
  --secure          the secured variant (TLS, users, ACLs) on ports of its own; single node
  --node N          node index for kill and restart
  --wipe            down: delete data and logs as well
  --json            print machine-readable JSON on stdout
  -h, --help        this text

Environment: LOSSLESS_BROKERS=local (default) | external | docker; LOSSLESS_HOME (default <repo>/.lossless);
LOSSLESS_POSTGRES_URL (an external PostgreSQL: up/down check it answers, kill/restart refuse).
Kit home: ${kitHome()}`;

class UsageError extends Error {}

function log(line: string): void {
  process.stderr.write(`[brokers] ${line}\n`);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        nodes: { type: 'string' },
        version: { type: 'string' },
        node: { type: 'string' },
        wipe: { type: 'boolean', default: false },
        secure: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

type Parsed = ReturnType<typeof parse>;

function kindsOf(target: string | undefined, allowAll: boolean): BrokerKind[] {
  if (target === undefined)
    throw new UsageError(`which broker? (${BROKER_KINDS.join(', ')}${allowAll ? ', all' : ''})`);
  if (allowAll && target === 'all') return [...BROKER_KINDS];
  if ((BROKER_KINDS as readonly string[]).includes(target)) return [target as BrokerKind];
  throw new UsageError(
    `unknown broker "${target}" (use ${BROKER_KINDS.join(', ')}${allowAll ? ', or all' : ''})`,
  );
}

function nodesOf(value: string | undefined): 1 | 3 | undefined {
  if (value === undefined) return undefined;
  if (value === '1' || value === '3') return Number(value) as 1 | 3;
  throw new UsageError(`--nodes must be 1 or 3, not "${value}"`);
}

function brokerFor(kind: BrokerKind, values: Parsed['values'], forAll: boolean): Broker {
  const nodes = nodesOf(values.nodes);
  if (values.secure && nodes === 3) throw new UsageError('--secure runs a single node (no --nodes 3)');
  const options = {
    log,
    ...(values.secure ? { secure: true } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
    ...(values.version !== undefined && !forAll ? { version: values.version } : {}),
  };
  return createBroker(kind, options);
}

function describeSettings(settings: BrokerSettings): string {
  return [describeAddresses(settings), ...describeSecurity(settings)].join('\n');
}

/** The secured part: where the CA is, who the users are (their passwords are in the --json output only). */
function describeSecurity(settings: BrokerSettings): string[] {
  const s = settings.security;
  if (s === undefined) return [];
  return [
    `  ca        ${s.caFile}   (servername ${s.servername})`,
    `  client    ${s.clientCertFile} / ${s.clientKeyFile}`,
    `  users     ${s.admin.username} (all rights), ${s.limited.username} (only names beginning "${s.limitedPrefix}")`,
    ...('mechanism' in s ? [`  sasl      ${s.mechanism}`] : []),
  ];
}

function describeAddresses(settings: BrokerSettings): string {
  switch (settings.kind) {
    case 'rabbitmq':
      return settings.urls.map((u) => `  url       ${u}`).join('\n');
    case 'kafka':
      return `  brokers   ${settings.brokers.join(',')}`;
    case 'rocketmq':
      return [
        `  endpoints ${settings.endpoints}   (gRPC proxy, rocketmq-client-nodejs)`,
        `  namesrv   ${settings.namesrv}`,
        `  cluster   ${settings.cluster}`,
        `  broker    ${settings.broker}`,
      ].join('\n');
  }
}

// --- PostgreSQL: not a message broker (no nodes, no --secure), so it has commands of its own ---------------

function postgresFor(values: Parsed['values']): PostgresFixture {
  if (values.nodes !== undefined || values.secure || values.node !== undefined) {
    throw new UsageError('postgres runs one server: no --nodes, --node or --secure');
  }
  return postgres({ log, ...(values.version !== undefined ? { version: values.version } : {}) });
}

async function postgresCommand(parsed: Parsed, command: 'up' | 'down' | 'kill' | 'restart'): Promise<void> {
  const values = parsed.values;
  const started = Date.now();
  if (command === 'down') {
    const local = values.version === undefined && !process.env.LOSSLESS_POSTGRES_URL;
    const fixtures = local ? postgresOnDisk() : [postgresFor(values)];
    for (const pg of fixtures) {
      await pg.down(values.wipe ? { wipe: true } : {});
      process.stdout.write(`${pg.cluster} is down${values.wipe ? ' (wiped)' : ''}\n`);
    }
    return;
  }
  const pg = postgresFor(values);
  if (command === 'up') log(`up ${pg.cluster}…`);
  await (command === 'up' ? pg.up() : command === 'kill' ? pg.kill() : pg.restart());
  const ms = Date.now() - started;
  if (command !== 'up') {
    process.stdout.write(`${pg.cluster}: ${command === 'kill' ? 'killed' : 'restarted'}\n`);
  } else if (values.json) {
    const out = { postgres: { ...pg.settings, cluster: pg.cluster, startedInMs: ms } };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(
      `${pg.cluster} is up (${(ms / 1000).toFixed(1)} s)\n  url       ${pg.settings.url}\n`,
    );
  }
}

/** A PostgreSQL fixture as a row of the status table (one node: the postmaster). */
function postgresRow(s: PostgresStatus): Omit<BrokerStatus, 'kind'> & { kind: BrokerKind | 'postgres' } {
  const node = { name: 'postmaster', running: s.running, ports: { postgres: s.port } };
  return { ...s, nodes: [{ ...node, ...(s.pid === undefined ? {} : { pid: s.pid }) }] };
}

async function up(parsed: Parsed): Promise<void> {
  const target = parsed.positionals[1];
  const kinds = kindsOf(target, true);
  const out: Record<string, BrokerSettings & { cluster: string; startedInMs: number }> = {};
  for (const kind of kinds) {
    const broker = brokerFor(kind, parsed.values, target === 'all');
    log(`up ${broker.cluster} (${brokerMode()} mode)…`);
    const started = Date.now();
    await broker.up();
    const ms = Date.now() - started;
    out[kind] = { ...broker.settings, cluster: broker.cluster, startedInMs: ms };
    if (!parsed.values.json) {
      process.stdout.write(
        `${broker.cluster} is up (${(ms / 1000).toFixed(1)} s)\n${describeSettings(broker.settings)}\n`,
      );
    }
  }
  if (parsed.values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

async function down(parsed: Parsed): Promise<void> {
  const target = parsed.positionals[1];
  const kinds = kindsOf(target, true);
  const wipe = parsed.values.wipe ? { wipe: true } : {};
  const mode = brokerMode();
  if (target === 'all' && mode === 'local' && parsed.values.nodes === undefined) {
    await downAll({ ...wipe, log });
    process.stdout.write('every local fixture is down\n');
    return;
  }
  for (const kind of kinds) {
    const specific =
      parsed.values.nodes !== undefined || parsed.values.version !== undefined || parsed.values.secure;
    const brokers =
      mode === 'local' && !specific
        ? fixturesOnDisk()
            .filter((f) => f.kind === kind)
            .map((f) => f.broker)
        : [brokerFor(kind, parsed.values, target === 'all')];
    for (const broker of brokers) {
      await broker.down(wipe);
      process.stdout.write(`${broker.cluster} is down${parsed.values.wipe ? ' (wiped)' : ''}\n`);
    }
  }
}

async function nodeCommand(parsed: Parsed, action: 'kill' | 'restart'): Promise<void> {
  const kind = kindsOf(parsed.positionals[1], false)[0];
  if (kind === undefined) throw new UsageError('which broker? (kill and restart take one)');
  // Without --node the fixture's default: node 0 (RocketMQ: the broker and the proxy in front of it).
  const index = parsed.values.node === undefined ? undefined : Number(parsed.values.node);
  if (index !== undefined && (!Number.isInteger(index) || index < 0))
    throw new UsageError(`--node must be a node index, not "${parsed.values.node}"`);
  const broker = brokerFor(kind, parsed.values, false);
  if (index !== undefined && index >= broker.nodes.length) {
    throw new UsageError(
      `${broker.cluster} has ${broker.nodes.length} node(s); --node ${index} does not exist`,
    );
  }
  await (action === 'kill' ? broker.kill(index) : broker.restart(index));
  const named = (i: number) => `node ${i} (${broker.nodes[i]?.name ?? '?'})`;
  const what =
    index !== undefined
      ? named(index)
      : broker.kind === 'rocketmq'
        ? broker.nodes.length > 3
          ? 'the master broker of the group'
          : 'broker and proxy (nodes 0 and 2)'
        : named(0);
  process.stdout.write(`${broker.cluster} ${what}: ${action === 'kill' ? 'killed' : 'restarted'}\n`);
}

async function status(parsed: Parsed): Promise<void> {
  const mode = brokerMode();
  const statuses: ReturnType<typeof postgresRow>[] = [];
  if (process.env.LOSSLESS_POSTGRES_URL) statuses.push(postgresRow(await postgres().status()));
  else for (const pg of postgresOnDisk()) statuses.push(postgresRow(await pg.status()));
  if (mode === 'local') {
    for (const f of fixturesOnDisk()) statuses.push(await f.broker.status());
  } else if (mode === 'external') {
    for (const kind of BROKER_KINDS) {
      try {
        statuses.push(await createBroker(kind).status());
      } catch {
        /* not configured for this kind */
      }
    }
  } else {
    log('docker fixtures live in the process that started them; status lists nothing here');
  }
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(statuses, null, 2)}\n`);
    return;
  }
  if (statuses.length === 0) {
    process.stdout.write(`no fixtures found under ${kitHome()}\n`);
    return;
  }
  const header = ['KIND', 'CLUSTER', 'NODE', 'RUNNING', 'PID', 'PORTS'];
  const rows = [header];
  for (const s of statuses) {
    for (const n of s.nodes) {
      const ports = Object.entries(n.ports)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      rows.push([
        s.kind,
        s.cluster,
        n.name,
        n.running ? 'yes' : 'no',
        n.pid === undefined ? '-' : String(n.pid),
        ports,
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}\n`,
    );
}

async function main(argv: string[]): Promise<number> {
  const parsed = parse(argv);
  const command = parsed.positionals[0];
  if (parsed.values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  if (parsed.positionals[1] === 'postgres' && ['up', 'down', 'kill', 'restart'].includes(command)) {
    await postgresCommand(parsed, command as 'up' | 'down' | 'kill' | 'restart');
    return 0;
  }
  switch (command) {
    case 'up':
      await up(parsed);
      return 0;
    case 'down':
      await down(parsed);
      return 0;
    case 'status':
      await status(parsed);
      return 0;
    case 'kill':
    case 'restart':
      await nodeCommand(parsed, command);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
