// Third-party certification from an adapter author's own package: packs this repository's packages with
// `npm pack`, installs the tarballs into a fresh package outside the repository (as a registry install would,
// third-party dependencies from the npm registry), writes a memory-backed adapter module there and runs the
// `lossless-conformance` bin on it. Proves that the published suite resolves everything from its own
// dependencies (vitest, its vitest config, @lossless/core/memory from the author's package), writes the report,
// and applies --case-timeout-ms and --delivery-timeout-ms. Needs no broker; needs the npm registry.
import { type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { casesFor } from './catalog.js';
import type { ConformanceReport } from './report.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
/** What the package installs: @lossless/conformance and what it needs that is not on the npm registry. */
const packages = [
  '@lossless/core',
  '@lossless/conformance',
  '@lossless/brokers',
  '@lossless/rocketmq-admin', // the broker kit's RocketMQ admin
  '@lossless/outbox-lmdb',
];
/**
 * The cases the in-memory broker cannot run (it lives in the test process): the list README.md and
 * conformance-tests/README.md give for the memory adapter. A new case that the memory driver skips goes here too.
 */
// The broker lives in the test process (no crash cases) and replicates nothing (no node-fault cases).
const memorySkips = ['T8', 'P4', 'R1', 'F1', 'F2', 'F7', 'N1', 'N2', 'N3', 'N4'];

/**
 * The environment of a command run for the author's package: without the npm_* variables and INIT_CWD of an
 * enclosing `npm test`, which would point npm (and the runner's relative paths) back into this repository.
 */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'LOSSLESS_CONFORMANCE',
  ),
);

interface Ran {
  code: number | null;
  stdout: string;
  /** stdout and stderr as they came. */
  output: string;
  ms: number;
}

function run(command: string, args: string[], options: SpawnOptions & { cwd: string }): Promise<Ran> {
  const started = Date.now();
  return new Promise((done, reject) => {
    const child = spawn(command, args, { env: cleanEnv, ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let stdout = '';
    child.stdout?.on('data', (b: Buffer) => {
      output += b;
      stdout += b;
    });
    child.stderr?.on('data', (b: Buffer) => {
      output += b;
    });
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, output, ms: Date.now() - started }));
  });
}

async function mustRun(command: string, args: string[], cwd: string): Promise<Ran> {
  const r = await run(command, args, { cwd });
  if (r.code !== 0)
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited with ${r.code}:\n${r.output}`);
  return r;
}

const readReport = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as ConformanceReport;

// The author's adapter: the in-memory driver, imported from the @lossless/core the author installed, with the
// optional hooks the repository's own memory adapter offers (a faulty link, send faults for P13).
const memoryAdapter = `import { ErrorCode, LosslessError } from '@lossless/core';
import { MemoryBroker, MemoryNetwork, memoryDriver } from '@lossless/core/memory';

const broker = new MemoryBroker();

/** @type {import('@lossless/conformance').ConformanceAdapter} */
export const adapter = {
  name: 'my-memory',
  module: import.meta.url,
  deliveryTimeoutMs: 5_000,
  createDriver({ route }) {
    if (!route) return memoryDriver({ broker });
    const nowhere = new MemoryBroker(); // a route means "somewhere else": nothing answers there
    nowhere.setReachable(false);
    return memoryDriver({ broker: nowhere });
  },
  async createFaultyLink() {
    const network = new MemoryNetwork();
    return {
      driver: memoryDriver({ broker, network }),
      cut: async (mode) => network.cut(mode),
      restore: async () => network.restore(),
      close: async () => network.restore(),
    };
  },
  sendFaults: {
    refuse(pick) {
      const onSend = (topic, record) => {
        const refusal = pick(topic, record.id);
        if (!refusal) return 'confirm';
        return new LosslessError(ErrorCode.NACKED, \`refused \${record.id} on '\${topic}' (injected)\`, {
          broker: 'memory',
          topic,
          messageId: record.id,
          retriable: refusal.retriable,
        });
      };
      broker.faults.onSend = onSend;
      return () => {
        if (broker.faults.onSend === onSend) delete broker.faults.onSend;
      };
    },
  },
};
`;

// A broken adapter built with the package's wrap-driver helpers: no delivery ever reaches core. With its own
// delivery timeout of a minute, only the runner's options decide how long a case waits.
const droppingAdapter = `import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { mapDeliveries } from '@lossless/conformance';

const broker = new MemoryBroker();

export const adapter = {
  name: 'drops-deliveries',
  deliveryTimeoutMs: 60_000,
  createDriver: () => mapDeliveries(memoryDriver({ broker }), () => {}),
};
`;

describe('certifying an adapter from its own package (packed @lossless/conformance)', () => {
  let work: string;
  let app: string;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    timings.build = (
      await mustRun(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b'], repo)
    ).ms;
    work = mkdtempSync(join(tmpdir(), 'lossless-certify-'));
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    const pack = await mustRun(
      'npm',
      ['pack', '--json', '--pack-destination', tarballs, ...packages.flatMap((p) => ['-w', p])],
      repo,
    );
    timings.pack = pack.ms;
    const packed = (JSON.parse(pack.stdout) as { filename: string }[]).map((p) => join(tarballs, p.filename));
    expect(packed).toHaveLength(packages.length);

    app = join(work, 'my-adapter');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'my-adapter', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`,
    );
    writeFileSync(join(app, 'my-adapter.js'), memoryAdapter);
    writeFileSync(join(app, 'dropping-adapter.js'), droppingAdapter);
    timings.install = (
      await mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...packed], app)
    ).ms;
  }, 240_000);

  afterAll(() => {
    console.log(`certify timings (ms): ${JSON.stringify(timings)}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('npx lossless-conformance certifies a memory-backed adapter and writes the report', {
    timeout: 120_000,
  }, async () => {
    const r = await run(
      'npx',
      ['lossless-conformance', '--adapter', './my-adapter.js', '--json', 'report.json'],
      {
        cwd: app,
      },
    );
    timings.certify = r.ms;
    const file = join(app, 'report.json');
    expect(existsSync(file), r.output).toBe(true);
    const report = readReport(file);
    expect(report.adapter).toBe('my-memory');
    expect(
      report.cases.filter((c) => c.status === 'failed').map((c) => `${c.id}: ${c.reason}`),
      r.output,
    ).toEqual([]);
    expect(report.summary).toEqual({
      // The security group applies only to a broker that requires TLS and authentication: not run here.
      passed: casesFor(undefined).length - memorySkips.length,
      failed: 0,
      skipped: memorySkips.length,
    });
    expect(report.cases.filter((c) => c.status === 'skipped').map((c) => c.id)).toEqual(memorySkips);
    expect(r.code, r.output).toBe(0);
  });

  it('--delivery-timeout-ms overrides the adapter’s delivery timeout', { timeout: 60_000 }, async () => {
    const r = await run(
      'npx',
      [
        'lossless-conformance',
        ...['--adapter', './dropping-adapter.js', '--json', 'dropping.json', '--only', 'T2'],
        ...['--delivery-timeout-ms', '1000', '--case-timeout-ms', '30000'],
      ],
      { cwd: app },
    );
    expect(r.code, r.output).toBe(1);
    const [t2] = readReport(join(app, 'dropping.json')).cases;
    expect(t2, r.output).toMatchObject({ id: 'T2', status: 'failed', lost: 200 });
    // Waited about the 1 s given, not the adapter's 60 s (nor the case's 30 s limit).
    expect(t2!.durationMs).toBeLessThan(10_000);
  });

  it('--case-timeout-ms limits every case', { timeout: 60_000 }, async () => {
    const r = await run(
      'npx',
      [
        'lossless-conformance',
        ...[
          '--adapter',
          './dropping-adapter.js',
          '--json',
          'slow.json',
          '--only',
          'T2',
          '--case-timeout-ms',
          '1500',
        ],
      ],
      { cwd: app },
    );
    expect(r.code, r.output).toBe(1);
    const [t2] = readReport(join(app, 'slow.json')).cases;
    expect(t2, r.output).toMatchObject({ id: 'T2', status: 'failed' });
    expect(t2!.reason).toContain('within 1500 ms');
    expect(t2!.durationMs).toBeLessThan(10_000);
  });

  it('rejects unknown flags and bad values with the usage and exit code 2', { timeout: 60_000 }, async () => {
    const bad = [
      ['--adapter', './my-adapter.js', '--bogus'],
      ['--adapter', './my-adapter.js', '--case-timeout-ms', '1.5'],
      ['--adapter', './my-adapter.js', '--delivery-timeout-ms', '0'],
      ['--adapter', './my-adapter.js', '--only', 'T1,X9'],
      ['--adapter', './missing.js'],
      [],
    ];
    for (const args of bad) {
      const r = await run('npx', ['lossless-conformance', ...args], { cwd: app });
      expect(r.code, `${args.join(' ')}\n${r.output}`).toBe(2);
      expect(r.output).toContain('usage: lossless-conformance');
    }
  });
});
