// `npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]`
// Runs each scenario in one process, alternating the library and the raw client, and prints a markdown table
// (library, raw, ratio) plus a JSON file: { adapter, broker, results: [{ scenario, library, raw, ratio, unit }] }.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { coreOverhead } from './core-overhead.js';
import { type ResultRow, table } from './stats.js';

const usage =
  'usage: npm run bench -- --adapter <memory|rabbitmq|kafka|rocketmq|all> [--json FILE] [--repetitions N]';
const { values } = parseArgs({
  options: { adapter: { type: 'string' }, json: { type: 'string' }, repetitions: { type: 'string' } },
});
const adapters = values.adapter === 'all' ? ['memory'] : [values.adapter ?? 'memory'];
const repetitions = Number(values.repetitions ?? 5);
if (!Number.isInteger(repetitions) || repetitions < 1) {
  console.error(`--repetitions must be a positive integer\n${usage}`);
  process.exit(2);
}
const log = (s: string) => console.error(s);
const reports: { adapter: string; broker: string; results: ResultRow[] }[] = [];
for (const adapter of adapters) {
  if (adapter !== 'memory') {
    console.error(`no benchmark for '${adapter}' yet\n${usage}`);
    process.exit(2);
  }
  log(`bench: ${adapter} (${repetitions} repetitions, medians)`);
  const results = await coreOverhead(repetitions, log);
  reports.push({ adapter, broker: 'in-process', results });
  console.log(`\n### ${adapter}\n\n${table(results)}\n`);
}
const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.json ?? 'reports/bench.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
console.log(`report: ${file}`);
