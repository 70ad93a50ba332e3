// Suite strength: the whole catalog against each deliberately broken driver. Every mutant must be caught —
// at least one case fails — and the cases the conformance README names for it must be among those that fail.
// All mutants run at once (each on its own in-memory broker): the catalog mostly waits, so the run takes about
// as long as the correct driver's run plus the slowest mutant's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { memoryAdapter } from '../adapters/memory.js';
import type { CaseResult } from '../report.js';
import { runCases } from '../run-cases.js';
import { type Mutant, mutants } from './mutants.js';

const runs = new Map<string, CaseResult[]>();

function run(mutant: Mutant | undefined) {
  const adapter = memoryAdapter({
    name: mutant ? `evil:${mutant.name}` : 'memory',
    ...(mutant ? { wrap: mutant.wrap } : {}),
    deliveryTimeoutMs: 2_000,
  });
  return runCases({ adapter, settings: undefined, broker: undefined });
}

describe('suite strength: every mutant is caught', () => {
  beforeAll(async () => {
    // The correct driver first and alone: under the load of every mutant at once its timing cases (T5) would
    // fail for want of CPU, not for a bug. A mutant only has to fail, so load cannot hide one.
    runs.set('correct', await run(undefined));
    const all = await Promise.all(mutants.map((m) => run(m)));
    mutants.forEach((m, i) => {
      runs.set(m.name, all[i]!);
    });
    const failedIds = (name: string) =>
      (runs.get(name) ?? []).filter((r) => r.status === 'failed').map((r) => r.id);
    mkdirSync('reports', { recursive: true });
    writeFileSync(
      'reports/evil.json',
      `${JSON.stringify(
        {
          mutants: mutants.map((m) => ({
            name: m.name,
            bug: m.bug,
            documented: m.caughtBy,
            caughtBy: failedIds(m.name),
            slowest: [...(runs.get(m.name) ?? [])]
              .sort((a, b) => b.durationMs - a.durationMs)
              .slice(0, 3)
              .map((r) => `${r.id} ${r.durationMs} ms`),
          })),
        },
        null,
        2,
      )}\n`,
    );
  }, 600_000);

  it.each(mutants.map((m) => [m.name, m] as const))('%s', (_name, mutant) => {
    const results = runs.get(mutant.name)!;
    const failed = results.filter((r) => r.status === 'failed').map((r) => r.id);
    expect(failed.length, `${mutant.name} (${mutant.bug}) passed every case`).toBeGreaterThan(0);
    for (const id of mutant.caughtBy) expect(failed, `${mutant.name} should fail ${id}`).toContain(id);
    // Liveness: a case waiting for an event that never comes fails within its own bound, saying what it
    // waited for — it never runs into the runner's global timeout (and overlaps the cases after it).
    const hung = results
      .filter((r) => r.reason?.includes('did not finish within'))
      .map((r) => `${r.id} (${r.durationMs} ms)`);
    expect(hung, `${mutant.name}: cases that ran into the global timeout`).toEqual([]);
  });

  it('the correct memory driver fails nothing (so failures above are the mutants’ doing)', () => {
    const results = runs.get('correct')!;
    expect(results.filter((r) => r.status === 'failed').map((r) => `${r.id}: ${r.reason}`)).toEqual([]);
  });
});
