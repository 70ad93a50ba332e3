// runConformance(): registers every catalog case with vitest for one adapter, brings its broker up first, and
// writes the JSON report when the file is done. Third parties call this from their own test file.
import type { Broker } from '@lossless/brokers';
import type { Capabilities } from '@lossless/core/driver';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { ConformanceAdapter } from './adapter.js';
import { casesFor } from './catalog.js';
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
  /**
   * Time limit of every case, ms, instead of each case's own `timeoutMs` (default 120,000; the crash and fault
   * cases allow 180,000–300,000). A case over its limit fails with that reason and the next one runs.
   */
  caseTimeoutMs?: number;
  /** How long a case waits for deliveries before it counts the missing as lost, ms; overrides the adapter's. */
  deliveryTimeoutMs?: number;
}

/** Time vitest allows a case beyond its own limit, for closing the buses and links the case opened. */
const cleanupGraceMs = 30_000;

export function runConformance(options: ConformanceOptions): void {
  const { broker } = options;
  const adapter: ConformanceAdapter =
    options.deliveryTimeoutMs === undefined
      ? options.adapter
      : { ...options.adapter, deliveryTimeoutMs: options.deliveryTimeoutMs };
  describe(`conformance: ${adapter.name}`, () => {
    const results: CaseResult[] = [];
    let target: RunTarget;
    let capabilities: Capabilities;
    beforeAll(async () => {
      if (broker) await broker.up();
      target = { adapter, settings: broker?.settings, broker };
      capabilities = await capabilitiesOf(target);
    }, 900_000);
    for (const listed of casesFor(broker?.settings)) {
      if (options.only && !options.only.includes(listed.id)) continue;
      const c =
        options.caseTimeoutMs === undefined ? listed : { ...listed, timeoutMs: options.caseTimeoutMs };
      // runCase enforces the case's limit itself (and records the failure); vitest's timeout is the backstop.
      const timeout = (c.timeoutMs ?? 120_000) + cleanupGraceMs;
      it(`${c.id} ${c.title}`, { timeout }, async (t) => {
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
          ? {
              name: broker.kind,
              version: broker.version,
              cluster: broker.cluster,
              ...(broker.settings.security ? { secured: true } : {}),
            }
          : { name: adapter.name, version: 'in-process' },
        cases: results,
        summary: summarize(results),
      };
      if (options.reportFile) writeReport(options.reportFile, report);
      console.log(`\n${formatReport(report)}\n`);
    });
  });
}
