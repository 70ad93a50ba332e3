// `npm run conformance -- --adapter <memory|rabbitmq|kafka|rocketmq|./module.js> [--json out.json] [--only T1,P4]
//                          [--nodes 3] [--version X]`
// Brings the adapter's broker up through the broker kit (or uses LOSSLESS_BROKERS=external settings), runs the
// whole catalog in vitest with progress, prints a summary table and writes the JSON report.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { builtinAdapters } from './adapters/index.js';
import { type ConformanceReport, formatReport } from './report.js';

const usage = `usage: npm run conformance -- --adapter <memory|rabbitmq|kafka|rocketmq|path/to/module> [--json FILE]
       [--only ID,ID…] [--nodes 1|3] [--version V]
  A module must export \`adapter\` (a ConformanceAdapter from @lossless/conformance).`;

function fail(message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

let values: {
  adapter?: string;
  json?: string;
  only?: string;
  nodes?: string;
  version?: string;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      adapter: { type: 'string', short: 'a' },
      json: { type: 'string' },
      only: { type: 'string' },
      nodes: { type: 'string' },
      version: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.adapter) fail('--adapter is required');
const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
if (nodes !== undefined && nodes !== 1 && nodes !== 3) fail(`--nodes must be 1 or 3, got ${values.nodes}`);

let module = builtinAdapters[values.adapter];
if (!module) {
  const path = isAbsolute(values.adapter)
    ? values.adapter
    : resolve(process.env.INIT_CWD ?? process.cwd(), values.adapter);
  if (!existsSync(path)) fail(`no built-in adapter '${values.adapter}' and no module at ${path}`);
  module = pathToFileURL(path).href;
}
const root = resolve(import.meta.dirname, '../..');
const reportFile = resolve(
  process.env.INIT_CWD ?? process.cwd(),
  values.json ?? `reports/conformance-${values.adapter.replace(/[^A-Za-z0-9_-]/g, '_')}.json`,
);
const spec = {
  module,
  reportFile,
  ...(values.only ? { only: values.only.split(',').map((s) => s.trim()) } : {}),
  ...(nodes ? { nodes } : {}),
  ...(values.version ? { version: values.version } : {}),
};
console.log(`conformance: running the catalog against '${values.adapter}' (report: ${reportFile})`);
const run = spawnSync(
  process.execPath,
  [resolve(root, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'conformance', '--reporter=verbose'],
  { cwd: root, stdio: 'inherit', env: { ...process.env, LOSSLESS_CONFORMANCE: JSON.stringify(spec) } },
);
if (!existsSync(reportFile)) {
  console.error('conformance: no report was written (the suite could not start; see above)');
  process.exit(1);
}
const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ConformanceReport;
console.log(`\n${formatReport(report)}\nreport: ${reportFile}`);
process.exit(report.summary.failed === 0 && run.status === 0 ? 0 : 1);
