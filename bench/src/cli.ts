// `npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]
//                   [--latency-seconds S] [--latency-rate R] [--messages N] [--concurrency N]
//                   [--rabbitmq-queues classic|quorum|both] [--window N]`
// Brings the brokers up through the kit and runs each scenario in one process, alternating the library and the
// raw client, and prints a markdown table per adapter (library, raw, ratio) plus a JSON file:
// { adapter, broker, results: [{ scenario, library, raw, ratio, unit }] } (an array of those for `all`).
// Ratios: library/raw for throughput, raw/library for latency and memory — so > 1 always favours the library.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { coreOverhead } from './core-overhead.js';
import type { BenchConfig } from './harness.js';
import { kafkaBench } from './kafka.js';
import { outboxBench } from './outbox.js';
import { type AdapterReport, type QueueType, rabbitmqBench } from './rabbitmq.js';
import { rocketmqBench } from './rocketmq.js';
import { table } from './stats.js';

const usage =
  'usage: npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]\n' +
  '         [--latency-seconds S] [--latency-rate R] [--messages N] [--rabbitmq-queues classic|quorum|both]\n' +
  '         [--window N] [--concurrency N] [--scenario outbox] [--help]';
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
const adapters: Adapter[] = chosen === 'all' ? [...ADAPTERS] : [chosen as Adapter];

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

const log = (s: string) => console.error(s);
// Other processes restart the shared brokers: a stray rejection from a dying connection is logged, and the side
// it belonged to fails on its own (and is measured again) instead of the whole run.
process.on('unhandledRejection', (error) => log(`bench: unhandled rejection: ${String(error)}`));
const cfg: BenchConfig = {
  repetitions: balanced(positiveInt('repetitions', values.repetitions, 6)),
  messages: positiveInt('messages', values.messages, 50_000),
  concurrency: positiveInt('concurrency', values.concurrency, 64),
  bodyBytes: 1024,
  latencyRate: positiveInt('latency-rate', values['latency-rate'], 1_000),
  latencySeconds: positiveInt('latency-seconds', values['latency-seconds'], 30),
  log,
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

if (values.scenario !== undefined && values.scenario !== 'outbox')
  fail(`unknown scenario '${values.scenario}'`);
if (values.scenario === 'outbox') {
  // The cost of the durable outbox on RabbitMQ: its own table, its own JSON.
  const report = await outboxBench(cfg);
  console.log(`\n### ${report.adapter}\n\n${table(report.results)}\n`);
  const out = resolve(process.env.INIT_CWD ?? process.cwd(), values.json ?? 'reports/bench-outbox.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`report: ${out}`);
  process.exit(0);
}

const reports: AdapterReport[] = [];
const skipped: string[] = [];
for (const adapter of adapters) {
  log(`bench: ${adapter} (${(adapter === 'rocketmq' ? rocketmqCfg : cfg).repetitions} repetitions, medians)`);
  let report: AdapterReport | string;
  switch (adapter) {
    case 'memory':
      report = {
        adapter,
        broker: 'in-process',
        results: await coreOverhead(cfg.repetitions, log),
      };
      break;
    case 'rabbitmq':
      report = await rabbitmqBench(cfg, { queueTypes, window });
      break;
    case 'kafka':
      report = await kafkaBench(cfg);
      break;
    case 'rocketmq':
      report = await rocketmqBench(rocketmqCfg);
      break;
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
  console.log(`\n### ${r.adapter} — ${r.broker}\n\n${table(r.results)}\n`);
}
if (skipped.length > 0) console.log(`skipped:\n${skipped.map((s) => `- ${s}`).join('\n')}\n`);
console.log(
  'ratio: library/raw for msg/s, raw/library for ms and MiB — above 1 favours the library, below 1 the raw client.',
);
const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.json ?? 'reports/bench.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(chosen === 'all' ? reports : reports[0], null, 2)}\n`);
console.log(`report: ${file}`);
