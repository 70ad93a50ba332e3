#!/usr/bin/env node
// The conformance runner: `lossless-conformance --adapter <memory|rabbitmq|kafka|rocketmq|./module.js> …` (the
// bin of @lossless/conformance; `npm run conformance -- …` in this repository, from the TypeScript sources).
// Brings the adapter's broker up through the broker kit (or uses LOSSLESS_BROKERS=external settings), runs the
// whole catalog in vitest with progress, prints a summary table and writes the JSON report.
//
// vitest is this package's own dependency and runs with this package's own configuration (vitest.config beside
// this file), so the runner works from any project that installed the package, whatever that project's vitest
// setup. Usage errors exit with 2, a failed case (or a suite that could not start) with 1.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { builtinAdapters } from './adapters/index.js';
import { WRONG_PASSWORD } from './cases/security.js';
import { catalogIds, secureCaseIds } from './catalog.js';
import type { EntrySpec } from './entry.conformance.js';
import { type ConformanceReport, formatReport } from './report.js';

const minCaseTimeoutMs = 1_000;
const minDeliveryTimeoutMs = 100;
const maxTimeoutMs = 3_600_000;

const usage = `usage: lossless-conformance --adapter <memory|rabbitmq|kafka|rocketmq|path/to/module.js> [options]
       (in the lossless repository: npm run conformance -- --adapter … [options])
  --adapter, -a NAME|FILE      a built-in adapter, or a module that exports \`adapter\` (a ConformanceAdapter)
  --json FILE                  where the JSON report goes (default reports/conformance-<adapter>.json)
  --only ID,ID…                run only these cases (e.g. T1,P4)
  --secure                     against the kit's secured broker (TLS, users, ACLs): the security group S1–S7
                               and the core cases over TLS with authentication (with --only: those cases)
  --nodes 1|3                  broker nodes for the kit to run (default: the adapter's)
  --version V                  broker version for the kit to run (default: the adapter's)
  --case-timeout-ms N          time limit of every case, ${minCaseTimeoutMs}–${maxTimeoutMs} (default: each case's own, 120000–300000)
  --delivery-timeout-ms N      how long a case waits for deliveries, ${minDeliveryTimeoutMs}–${maxTimeoutMs} (default: the adapter's)
  --help, -h                   this text`;

/** The packages the built-in adapters need beyond @lossless/core (optional peers of @lossless/conformance). */
const builtinPackages: Record<string, string> = {
  rabbitmq: '@lossless/rabbitmq',
  kafka: '@lossless/kafka',
  rocketmq: '@lossless/rocketmq',
};

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
  'case-timeout-ms'?: string;
  'delivery-timeout-ms'?: string;
  secure?: boolean;
  help?: boolean;
};
try {
  ({ values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: {
      adapter: { type: 'string', short: 'a' },
      json: { type: 'string' },
      only: { type: 'string' },
      nodes: { type: 'string' },
      version: { type: 'string' },
      'case-timeout-ms': { type: 'string' },
      'delivery-timeout-ms': { type: 'string' },
      secure: { type: 'boolean' },
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

/** A whole number of milliseconds within [min, max], or undefined when the option is absent. */
function milliseconds(option: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(`${option} must be a whole number of milliseconds from ${min} to ${max}, got '${raw}'`);
  }
  return n;
}

if (!values.adapter) fail('--adapter is required');
for (const option of ['json', 'version'] as const) {
  if (values[option] !== undefined && values[option].trim() === '') fail(`--${option} must not be empty`);
}
const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
if (nodes !== undefined && nodes !== 1 && nodes !== 3) fail(`--nodes must be 1 or 3, got '${values.nodes}'`);
if (values.secure && nodes === 3) fail('--secure runs against a single secured node (no --nodes 3)');
const only =
  values.only?.split(',').map((s) => s.trim().toUpperCase()) ??
  (values.secure ? [...secureCaseIds] : undefined);
if (only) {
  const unknown = only.filter((id) => !catalogIds.includes(id));
  if (unknown.length > 0 || only.length === 0) {
    fail(`--only: unknown case id(s) ${unknown.join(', ') || "''"} (the catalog: ${catalogIds.join(' ')})`);
  }
}
const caseTimeoutMs = milliseconds(
  '--case-timeout-ms',
  values['case-timeout-ms'],
  minCaseTimeoutMs,
  maxTimeoutMs,
);
const deliveryTimeoutMs = milliseconds(
  '--delivery-timeout-ms',
  values['delivery-timeout-ms'],
  minDeliveryTimeoutMs,
  maxTimeoutMs,
);
if (caseTimeoutMs !== undefined && deliveryTimeoutMs !== undefined && deliveryTimeoutMs >= caseTimeoutMs) {
  fail(
    `--delivery-timeout-ms (${deliveryTimeoutMs}) must be below --case-timeout-ms (${caseTimeoutMs}): ` +
      'a case that waits for deliveries as long as it may run reports a timeout instead of what was lost',
  );
}

// This file runs as cli.ts (from the sources, through tsx) or as cli.js (compiled): its siblings share its suffix.
const here = fileURLToPath(import.meta.url);
const suffix = extname(here);
const require = createRequire(import.meta.url);
const cwd = process.env.INIT_CWD ?? process.cwd(); // npm and npx set INIT_CWD to where they were invoked

let module: string;
const builtin = Object.hasOwn(builtinAdapters, values.adapter) ? builtinAdapters[values.adapter] : undefined;
if (builtin) {
  const needs = builtinPackages[values.adapter];
  if (needs) {
    try {
      require.resolve(`${needs}/package.json`);
    } catch {
      console.error(
        `conformance: the built-in '${values.adapter}' adapter needs ${needs}: npm install ${needs}`,
      );
      process.exit(2);
    }
  }
  module = builtin.replace(/\.ts$/, suffix);
} else {
  const path = isAbsolute(values.adapter) ? values.adapter : resolve(cwd, values.adapter);
  if (!existsSync(path)) fail(`no built-in adapter '${values.adapter}' and no module at ${path}`);
  // The compiled suite imports the module with plain Node (so do the child processes of R1 and F7).
  if (suffix === '.js' && /\.[cm]?tsx?$/.test(path)) fail(`${path}: compile the adapter to JavaScript first`);
  module = pathToFileURL(path).href;
}

const reportFile = resolve(
  cwd,
  values.json ??
    `reports/conformance-${values.adapter.replace(/[^A-Za-z0-9_-]/g, '_')}${values.secure ? '-secure' : ''}.json`,
);
const spec: EntrySpec = {
  module,
  reportFile,
  ...(only ? { only } : {}),
  ...(nodes ? { nodes: nodes as 1 | 3 } : {}),
  ...(values.version ? { version: values.version } : {}),
  ...(caseTimeoutMs !== undefined ? { caseTimeoutMs } : {}),
  ...(deliveryTimeoutMs !== undefined ? { deliveryTimeoutMs } : {}),
  ...(values.secure ? { secure: true } : {}),
};

// vitest from this package's dependencies (its bin, as `npx vitest` would run it), not the calling project's.
const vitestPackage = require.resolve('vitest/package.json');
const vitestBin = (JSON.parse(readFileSync(vitestPackage, 'utf8')) as { bin: Record<string, string> }).bin
  .vitest;
if (!vitestBin) throw new Error(`${vitestPackage} names no vitest bin`);
const config = join(dirname(here), `vitest.config${suffix}`);

// A report left by an earlier run must not pass for this run's.
rmSync(reportFile, { force: true });
console.log(`conformance: running the catalog against '${values.adapter}' (report: ${reportFile})`);
// The child's output goes through this process (a live copy on ours), so a --secure run can check the whole of it
// for the passwords it used.
const output: Buffer[] = [];
const run = await new Promise<{ status: number | null; error?: Error }>((done) => {
  const child = spawn(
    process.execPath,
    [
      join(dirname(vitestPackage), vitestBin),
      'run',
      '--config',
      config,
      // A compiled config is plain JavaScript: import it as it is, without bundling it into a temporary file
      // beside the installed package.
      ...(suffix === '.js' ? ['--configLoader', 'native'] : []),
      '--reporter=verbose',
    ],
    {
      // The caller's directory: an adapter may read files relative to it, and outside this repository the broker
      // kit keeps its brokers under <cwd>/.lossless (LOSSLESS_HOME overrides).
      cwd,
      stdio: ['inherit', 'pipe', 'pipe'],
      env: { ...process.env, LOSSLESS_CONFORMANCE: JSON.stringify(spec) },
    },
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    output.push(chunk);
    process.stdout.write(chunk);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.push(chunk);
    process.stderr.write(chunk);
  });
  child.on('error', (error) => done({ status: null, error }));
  child.on('close', (status) => done({ status }));
});
if (run.error) {
  console.error(`conformance: could not start vitest (${run.error.message})`);
  process.exit(1);
}
if (!existsSync(reportFile)) {
  console.error('conformance: no report was written (the suite could not start; see above)');
  process.exit(1);
}
const reportText = readFileSync(reportFile, 'utf8');
const report = JSON.parse(reportText) as ConformanceReport;
if (values.secure) {
  // The passwords a secured run used (the kit's users and the suite's wrong one) must appear nowhere: not in a
  // case's error, not in a driver's log line, not in the report.
  const whole = `${Buffer.concat(output).toString('utf8')}\n${reportText}`;
  const { ADMIN_USER, LIMITED_USER } = await import('@lossless/brokers');
  const leaks = secretsIn(whole, [ADMIN_USER.password, LIMITED_USER.password, WRONG_PASSWORD]);
  report.secretLeaks = leaks.length;
  writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
  for (const leak of leaks) console.error(`conformance: SECRET IN THE OUTPUT: ${leak}`);
}
console.log(`\n${formatReport(report)}\nreport: ${reportFile}`);
const clean = (report.secretLeaks ?? 0) === 0;
process.exit(report.summary.failed === 0 && run.status === 0 && clean ? 0 : 1);

/** For each line of `text` holding one of `secrets`: where, and which (by its first characters only). */
function secretsIn(text: string, secrets: readonly string[]): string[] {
  const found: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const s of secrets)
      if (line.includes(s)) found.push(`line ${i + 1} shows the password ${s.slice(0, 3)}…`);
  });
  return found;
}
