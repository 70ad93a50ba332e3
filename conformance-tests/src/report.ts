// The conformance report: one entry per catalog id, a summary, a JSON file for machines and a table for people.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type CaseStatus = 'passed' | 'failed' | 'skipped';

export interface CaseResult {
  id: string;
  title: string;
  status: CaseStatus;
  /** Why it was skipped (a capability) or how it failed. */
  reason?: string;
  lost?: number;
  phantom?: number;
  duplicates?: number;
  /** What the case observed beyond the counts: how a node fault played out (N1–N4). */
  note?: string;
  durationMs: number;
}

export interface ConformanceReport {
  adapter: string;
  /** `secured` when the broker required TLS and authentication (the kit's secured fixture, `--secure`). */
  broker: { name: string; version: string; cluster?: string; secured?: boolean };
  cases: CaseResult[];
  summary: { passed: number; failed: number; skipped: number };
  /** `--secure` runs: lines of the run's whole output (and this report) that showed a password; must be 0. */
  secretLeaks?: number;
}

export function summarize(cases: CaseResult[]): ConformanceReport['summary'] {
  return {
    passed: cases.filter((c) => c.status === 'passed').length,
    failed: cases.filter((c) => c.status === 'failed').length,
    skipped: cases.filter((c) => c.status === 'skipped').length,
  };
}

export function writeReport(file: string, report: ConformanceReport): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}

/** A fixed-width table: id, status, lost/phantom/dup, time, reason. */
export function formatReport(report: ConformanceReport): string {
  const rows = report.cases.map((c) => [
    c.id,
    c.status === 'passed' ? 'pass' : c.status === 'failed' ? 'FAIL' : 'skip',
    c.lost === undefined ? '' : String(c.lost),
    c.phantom === undefined ? '' : String(c.phantom),
    c.duplicates === undefined ? '' : String(c.duplicates),
    `${(c.durationMs / 1000).toFixed(1)}s`,
    (c.reason ?? c.title).replace(/\s+/g, ' ').slice(0, 100),
  ]);
  const head = ['case', 'status', 'lost', 'phantom', 'dup', 'time', 'title / reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const s = report.summary;
  const notes = report.cases.filter((c) => c.note).map((c) => `  ${c.id}: ${c.note}`);
  return [
    `conformance: ${report.adapter} on ${report.broker.name} ${report.broker.version}${report.broker.cluster ? ` (${report.broker.cluster})` : ''}${report.broker.secured ? ' (secured: TLS and authentication)' : ''}`,
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...(notes.length > 0 ? ['', 'notes:', ...notes] : []),
    '',
    `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped (of ${report.cases.length} cases)` +
      (report.secretLeaks === undefined ? '' : `; passwords in the output: ${report.secretLeaks}`),
  ].join('\n');
}
