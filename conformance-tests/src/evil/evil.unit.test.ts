// Suite strength: the whole catalog against each deliberately broken driver. Every mutant must be caught —
// at least one case fails — and the cases the conformance README names for it must be among those that fail.
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../adapters/memory.js';
import { runCases } from '../run-cases.js';
import { mutants } from './mutants.js';

const caught: Record<string, string[]> = {};

describe('suite strength: every mutant is caught', () => {
  it.concurrent.each(mutants.map((m) => [m.name, m] as const))(
    '%s',
    { timeout: 300_000 },
    async (_name, mutant) => {
      const adapter = memoryAdapter({
        name: `evil:${mutant.name}`,
        wrap: mutant.wrap,
        deliveryTimeoutMs: 2_000,
      });
      const results = await runCases({ adapter, settings: undefined, broker: undefined });
      const failed = results.filter((r) => r.status === 'failed').map((r) => r.id);
      caught[mutant.name] = failed;
      expect(failed.length, `${mutant.name} (${mutant.bug}) passed every case`).toBeGreaterThan(0);
      for (const id of mutant.caughtBy) expect(failed, `${mutant.name} should fail ${id}`).toContain(id);
    },
  );

  it('the correct memory driver fails nothing (so failures above are the mutants’ doing)', {
    timeout: 300_000,
  }, async () => {
    const results = await runCases({
      adapter: memoryAdapter({ deliveryTimeoutMs: 2_000 }),
      settings: undefined,
      broker: undefined,
    });
    expect(results.filter((r) => r.status === 'failed').map((r) => `${r.id}: ${r.reason}`)).toEqual([]);
    mkdirSync('reports', { recursive: true });
    writeFileSync(
      'reports/evil.json',
      `${JSON.stringify({ mutants: mutants.map((m) => ({ name: m.name, bug: m.bug, documented: m.caughtBy, caughtBy: caught[m.name] })) }, null, 2)}\n`,
    );
  });
});
