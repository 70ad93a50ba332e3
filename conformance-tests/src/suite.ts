// runConformance(): registers every catalog case with vitest for one adapter, brings its broker up first, and
// writes the JSON report when the file is done. Third parties call this from their own test file.
import type { Broker } from '@lossless/brokers';
import type { Capabilities } from '@lossless/core/driver';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { ConformanceAdapter } from './adapter.js';
import { catalog } from './catalog.js';
import { type CaseResult, type ConformanceReport, formatReport, summarize, writeReport } from './report.js';
import { capabilitiesOf, type RunTarget, runCase } from './run-cases.js';

export interface ConformanceOptions {
  adapter: ConformanceAdapter;
  /** The broker fixture (from @lossless/brokers) the adapter talks to; brought up before the first case. */
  broker?: Broker;
  /** Where the JSON report goes. */
  reportFile?: string;
  /** Run only these case ids. */
  only?: readonly string[];
}

export function runConformance(options: ConformanceOptions): void {
  const { adapter, broker } = options;
  describe(`conformance: ${adapter.name}`, () => {
    const results: CaseResult[] = [];
    let target: RunTarget;
    let capabilities: Capabilities;
    beforeAll(async () => {
      if (broker) await broker.up();
      target = { adapter, settings: broker?.settings, broker };
      capabilities = await capabilitiesOf(target);
    }, 900_000);
    for (const c of catalog) {
      if (options.only && !options.only.includes(c.id)) continue;
      it(`${c.id} ${c.title}`, { timeout: c.timeoutMs ?? 120_000 }, async (t) => {
        const r = await runCase(c, target, capabilities);
        results.push(r);
        if (r.status === 'skipped') t.skip(r.reason);
        if (r.status === 'failed') throw new Error(r.reason);
      });
    }
    afterAll(() => {
      const report: ConformanceReport = {
        adapter: adapter.name,
        broker: broker
          ? { name: broker.kind, version: broker.version }
          : { name: adapter.name, version: 'in-process' },
        cases: results,
        summary: summarize(results),
      };
      if (options.reportFile) writeReport(options.reportFile, report);
      console.log(`\n${formatReport(report)}\n`);
    });
  });
}
