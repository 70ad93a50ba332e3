// `npm test` runs `npm run conformance -- --adapter <kind> --secure` for all three brokers, as a user would: the
// kit's secured fixture (TLS, users, ACLs), the security group S1–S7 and the core cases over TLS with
// authentication. Each run must pass every case it ran, skip none of S1–S7, and — checked here again, apart from
// the runner's own check — show none of the passwords it used anywhere in its whole output or its report.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_USER, LIMITED_USER } from '@lossless/brokers';
import { describe, expect, it } from 'vitest';
import { WRONG_PASSWORD } from './cases/security.js';
import { secureCaseIds } from './catalog.js';
import type { ConformanceReport } from './report.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const passwords = [ADMIN_USER.password, LIMITED_USER.password, WRONG_PASSWORD];

/** Runs the conformance CLI from the sources; its output is shown live and kept whole. */
function conformance(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done, reject) => {
    const child = spawn(
      process.execPath,
      [join(repo, 'scripts/run-ts.mjs'), 'conformance-tests/src/cli.ts', ...args],
      { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INIT_CWD: repo } },
    );
    let output = '';
    const keep = (to: NodeJS.WriteStream) => (chunk: Buffer) => {
      output += chunk;
      to.write(chunk);
    };
    child.stdout.on('data', keep(process.stdout));
    child.stderr.on('data', keep(process.stderr));
    child.on('error', reject);
    child.on('close', (code) => done({ code, output }));
  });
}

describe('conformance --secure (TLS and authentication, the kit’s secured fixtures)', () => {
  for (const kind of ['rabbitmq', 'kafka', 'rocketmq'] as const) {
    it(`${kind}: S1–S7 and the core cases pass, and no password is printed`, {
      timeout: 1_500_000,
    }, async () => {
      const file = join(repo, `reports/conformance-${kind}-secure.json`);
      const { code, output } = await conformance(['--adapter', kind, '--secure', '--json', file]);
      const reportText = readFileSync(file, 'utf8');
      const report = JSON.parse(reportText) as ConformanceReport;
      expect(report.broker.secured, 'the report says the broker was the secured fixture').toBe(true);
      expect(
        report.cases.filter((c) => c.status === 'failed').map((c) => `${c.id}: ${c.reason}`),
        'failed cases',
      ).toEqual([]);
      expect(report.cases.map((c) => c.id).sort()).toEqual([...secureCaseIds].sort());
      const skippedSecurity = report.cases.filter((c) => c.id.startsWith('S') && c.status !== 'passed');
      expect(skippedSecurity.map((c) => `${c.id}: ${c.reason}`)).toEqual([]);
      for (const secret of passwords) {
        const lines = `${output}\n${reportText}`.split('\n').filter((line) => line.includes(secret));
        expect(lines.length, `lines showing the password ${secret.slice(0, 3)}…`).toBe(0);
      }
      expect(report.secretLeaks).toBe(0);
      expect(code).toBe(0);
    });
  }
});
