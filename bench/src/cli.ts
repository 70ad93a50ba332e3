// `npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]
//                   [--latency-seconds S] [--latency-rate R] [--messages N] [--concurrency N]
//                   [--rabbitmq-queues classic|quorum|both] [--window N] [--secure [--with-plain]]
//                   [--scenario outbox|telemetry|postgres|curves|failover|platformatic]`
// Brings the brokers up through the kit and runs each scenario in one process, alternating the library and the
// raw client, and prints a markdown table per adapter (library, raw, ratio) plus a JSON file:
// { adapter, broker, secure, results: [{ scenario, library, raw, ratio, unit }] } (an array of those for `all`).
// Ratios: library/raw for throughput, raw/library for latency and memory — so > 1 always favours the library.
// `--secure`: the kit's secured fixtures, both sides over the same TLS and login (`secure: true`, `security`);
// `--with-plain` first runs the plain fixture in the same process and adds each side's TLS cost (`plain`,
// `tlsCost`). Passwords never reach a printed line or the JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { coreOverhead } from './core-overhead.js';
import { curvesBench } from './curves.js';
import { failoverBench } from './failover.js';
import type { BenchConfig } from './harness.js';
import { kafkaBench } from './kafka.js';
import { outboxBench } from './outbox.js';
import { platformaticBench } from './platformatic.js';
import { postgresBench } from './postgres.js';
import { type AdapterReport, type QueueType, rabbitmqBench } from './rabbitmq.js';
import { rocketmqBench } from './rocketmq.js';
import { scrub, tlsCost, tlsCostTable } from './secure.js';
import { table } from './stats.js';
import { telemetryBench } from './telemetry.js';

const usage =
  'usage: npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]\n' +
  '         [--latency-seconds S] [--latency-rate R] [--messages N] [--rabbitmq-queues classic|quorum|both]\n' +
  '         [--window N] [--concurrency N] [--scenario outbox|telemetry|postgres|curves|failover|platformatic]\n' +
  '         [--secure [--with-plain]] [--help]';
const fail = (message: string): never => {
  console.error(`${message}\n${usage}`);
  process.exit(2);
};
const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  adapter: { type: 'string' },
  json: { type: 'string' },
  repetitions: { type: 'string' },
  'latency-seconds': { type: 'string' },
  'latency-rate': { type: 'string' },
  messages: { type: 'string' },
  'rabbitmq-queues': { type: 'string' },
  window: { type: 'string' },
  concurrency: { type: 'string' },
  scenario: { type: 'string' },
  secure: { type: 'boolean' },
  'with-plain': { type: 'boolean' },
} as const;
const parsed = (() => {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
})();
if (parsed.values.help) {
  console.log(usage);
  process.exit(0);
}
const { values } = parsed;
const ADAPTERS = ['memory', 'rabbitmq', 'kafka', 'rocketmq'] as const;
type Adapter = (typeof ADAPTERS)[number];
const chosen = values.adapter ?? 'memory';
if (chosen !== 'all' && !(ADAPTERS as readonly string[]).includes(chosen))
  fail(`unknown adapter '${chosen}'`);
const secure = values.secure === true;
const withPlain = values['with-plain'] === true;
if (withPlain && !secure) fail('--with-plain goes with --secure (it adds the plain run for reference)');
if (secure && chosen === 'memory') fail('--secure needs a broker: the memory adapter has none');
if (secure && values.scenario !== undefined) fail('--secure runs the broker scenarios, not --scenario');
// The in-process adapter has nothing to secure: `all --secure` runs the brokers only.
const adapters: Adapter[] = (chosen === 'all' ? [...ADAPTERS] : [chosen as Adapter]).filter(
  (a) => !secure || a !== 'memory',
);

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  const n = Number(raw ?? fallback);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer`);
  return n;
}
/**
 * Repetitions alternate which side goes first, and right after the publishes the position alone moves the rate
 * (RabbitMQ classic queues: up to 2x between the first and the second to drain, in either direction; gone after a
 * 15 s pause — bench/README.md, "Consume order"). An odd count lets one side go first more often and its median
 * carries that, so it is made even.
 */
function balanced(n: number): number {
  if (n === 1 || n % 2 === 0) return n;
  log(`bench: --repetitions ${n} raised to ${n + 1} so each side goes first as often as the other`);
  return n + 1;
}
const queues = values['rabbitmq-queues'] ?? 'classic';
if (!['classic', 'quorum', 'both'].includes(queues))
  fail('--rabbitmq-queues must be classic, quorum or both');
const queueTypes: QueueType[] = queues === 'both' ? ['classic', 'quorum'] : [queues as QueueType];

// Every line goes through scrub(): a secured fixture's passwords never reach the terminal, even inside an error.
const log = (s: string) => console.error(scrub(s));
const print = (s: string) => console.log(scrub(s));
// Other processes restart the shared brokers: a stray rejection from a dying connection is logged, and the side
// it belonged to fails on its own (and is measured again) instead of the whole run.
process.on('unhandledRejection', (error) => log(`bench: unhandled rejection: ${String(error)}`));
// A run that fails for good ends here rather than in Node's own report, so its error text is scrubbed too.
process.on('uncaughtException', (error) => {
  log(`bench: ${error.stack ?? String(error)}`);
  process.exit(1);
});
const cfg: BenchConfig = {
  repetitions: balanced(positiveInt('repetitions', values.repetitions, 6)),
  messages: positiveInt('messages', values.messages, 50_000),
  concurrency: positiveInt('concurrency', values.concurrency, 64),
  bodyBytes: 1024,
  latencyRate: positiveInt('latency-rate', values['latency-rate'], 1_000),
  latencySeconds: positiveInt('latency-seconds', values['latency-seconds'], 30),
  log,
  given: new Set(Object.keys(values)),
};
/**
 * RocketMQ on this machine stores ~1,000 msg/s and hands out ~350 msg/s through the gRPC proxy (either client):
 * 50,000 messages would take minutes per side and 1,000 msg/s would only measure a growing backlog. Unless
 * given explicitly, it runs 5,000 messages, latency at 200 msg/s, and 4 repetitions.
 */
const rocketmqCfg: BenchConfig = {
  ...cfg,
  repetitions: values.repetitions === undefined ? 4 : cfg.repetitions,
  messages: values.messages === undefined ? 5_000 : cfg.messages,
  latencyRate: values['latency-rate'] === undefined ? 200 : cfg.latencyRate,
};
const window = positiveInt('window', values.window, 1_000);

const SCENARIOS = {
  outbox: outboxBench,
  telemetry: telemetryBench,
  postgres: postgresBench,
  curves: curvesBench,
  failover: failoverBench,
  platformatic: platformaticBench,
} as const;
if (values.scenario !== undefined && !Object.hasOwn(SCENARIOS, values.scenario))
  fail(`unknown scenario '${values.scenario}'`);
if (values.scenario !== undefined) {
  // The cost of the lmdb outbox, of OpenTelemetry, or of the PostgreSQL outbox: its own table, its own JSON.
  const report = await SCENARIOS[values.scenario as keyof typeof SCENARIOS](cfg, values.adapter);
  console.log(`\n### ${report.adapter}\n\n${table(report.results)}\n`);
  const out = resolve(
    process.env.INIT_CWD ?? process.cwd(),
    values.json ?? `reports/bench-${values.scenario}.json`,
  );
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${out}`);
  process.exit(0);
}

/** One adapter's run on its plain fixture, or (`over`) on its secured one; a string says why it cannot run. */
async function measure(adapter: Adapter, over: boolean): Promise<AdapterReport | string> {
  const kind = over ? 'secured (TLS + login)' : 'plain';
  log(
    `bench: ${adapter}, ${kind} (${(adapter === 'rocketmq' ? rocketmqCfg : cfg).repetitions} repetitions, medians)`,
  );
  switch (adapter) {
    case 'memory':
      return { adapter, broker: 'in-process', results: await coreOverhead(cfg.repetitions, log) };
    case 'rabbitmq':
      return rabbitmqBench(cfg, { queueTypes, window, secure: over });
    case 'kafka':
      return kafkaBench(cfg, { secure: over });
    case 'rocketmq':
      return rocketmqBench(rocketmqCfg, { secure: over });
  }
}

const reports: AdapterReport[] = [];
const skipped: string[] = [];
for (const adapter of adapters) {
  // `--with-plain`: the plain fixture first, then the secured one, in this process: the secured table's ratios
  // say what the library costs over TLS, and the TLS cost rows what TLS costs each side against its plain run.
  const plain = withPlain ? await measure(adapter, false) : undefined;
  let report = typeof plain === 'string' ? plain : await measure(adapter, secure);
  if (typeof report !== 'string' && plain !== undefined && typeof plain !== 'string') {
    report = { ...report, plain, tlsCost: tlsCost(plain.results, report.results) };
  }
  if (typeof report === 'string') {
    // An adapter that cannot be measured yet says why; `all` goes on with the others.
    log(`bench: ${adapter} skipped: ${report}`);
    skipped.push(`${adapter}: ${report}`);
    if (chosen !== 'all') process.exit(2);
    continue;
  }
  reports.push(report);
}

for (const r of reports) {
  const title = r.secure ? `${r.adapter} — SECURED: TLS + authentication, both sides` : r.adapter;
  if (r.plain) {
    print(
      `\n### ${r.plain.adapter} — plain, same run (reference) — ${r.plain.broker}\n\n${table(r.plain.results)}\n`,
    );
  }
  print(`\n### ${title} — ${r.broker}\n\n${table(r.results)}\n`);
  if (r.tlsCost) {
    print(`\n### ${r.adapter} — cost of TLS: secured vs plain, same run\n\n${tlsCostTable(r.tlsCost)}\n`);
  }
}
if (skipped.length > 0) print(`skipped:\n${skipped.map((s) => `- ${s}`).join('\n')}\n`);
print(
  'ratio: library/raw for msg/s, raw/library for ms and MiB — above 1 favours the library, below 1 the raw client.',
);
if (withPlain) {
  print(
    'kept: secured/plain for msg/s, plain/secured for ms, µs and MiB — the share of its plain figure a side keeps ' +
      'over TLS (1: TLS costs nothing; 0.80: 80 % of the plain throughput, or 1.25× the latency, CPU or memory).',
  );
}
const defaultJson = secure ? 'reports/bench-secure.json' : 'reports/bench.json';
const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.json ?? defaultJson);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${scrub(JSON.stringify(chosen === 'all' ? reports : reports[0], null, 2))}\n`);
print(`report: ${file}`);
