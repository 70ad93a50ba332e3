// Runs catalog cases against one adapter, outside any test framework: the vitest registration (suite.ts), the
// CLI and the suite-strength test (evil drivers) all go through here, so a case means the same everywhere.
import type { BrokerSettings } from '@lossless/brokers';
import type { Capabilities } from '@lossless/core/driver';
import type { BrokerControl, ConformanceAdapter } from './adapter.js';
import type { ConformanceCase } from './cases/case.js';
import { casesFor } from './catalog.js';
import { CaseContext, CaseSkipped, ConformanceFailure, driverRequest } from './context.js';
import type { CaseResult } from './report.js';

export interface RunTarget {
  adapter: ConformanceAdapter;
  settings: BrokerSettings | undefined;
  broker: BrokerControl | undefined;
}

/** The capabilities the adapter declares (from a driver that is created and never connected). */
export async function capabilitiesOf(target: RunTarget): Promise<Capabilities> {
  const driver = await target.adapter.createDriver(driverRequest(target.settings));
  return driver.capabilities;
}

/** Runs one case and turns its outcome into a result; never throws. */
export async function runCase(
  c: ConformanceCase,
  target: RunTarget,
  capabilities: Capabilities,
): Promise<CaseResult> {
  const ctx = new CaseContext(c.id, target.adapter, capabilities, target.settings, target.broker);
  const started = Date.now();
  let result: CaseResult;
  let timer: NodeJS.Timeout | undefined;
  try {
    const limit = c.timeoutMs ?? 120_000;
    await Promise.race([
      c.run(ctx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ConformanceFailure(`the case did not finish within ${limit} ms (something waited forever)`),
            ),
          limit,
        );
      }),
    ]);
    result = { id: c.id, title: c.title, status: 'passed', durationMs: 0, ...ctx.figures };
    if (ctx.noted) result.note = ctx.noted;
  } catch (error) {
    if (error instanceof CaseSkipped) {
      result = { id: c.id, title: c.title, status: 'skipped', reason: error.message, durationMs: 0 };
    } else {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      result = { id: c.id, title: c.title, status: 'failed', reason, durationMs: 0, ...ctx.figures };
      if (ctx.noted) result.note = ctx.noted;
    }
  } finally {
    clearTimeout(timer);
    await ctx.cleanup();
  }
  result.durationMs = Date.now() - started;
  return result;
}

/** Runs the cases (all by default) one after another. */
export async function runCases(
  target: RunTarget,
  options: { only?: readonly string[]; onResult?: (r: CaseResult) => void } = {},
): Promise<CaseResult[]> {
  const capabilities = await capabilitiesOf(target);
  const results: CaseResult[] = [];
  for (const c of casesFor(target.settings)) {
    if (options.only && !options.only.includes(c.id)) continue;
    const r = await runCase(c, target, capabilities);
    options.onResult?.(r);
    results.push(r);
  }
  return results;
}
