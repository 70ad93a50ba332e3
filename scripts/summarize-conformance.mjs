// One table over several conformance reports (one row per broker fixture: passed, failed, skipped, lost,
// duplicates, time), the notes of the cases that made any, and the same as JSON in the first argument's file.
//   node scripts/summarize-conformance.mjs <out.json> <report.json>...
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [out, ...files] = process.argv.slice(2);
if (!out || files.length === 0) {
  console.error('usage: summarize-conformance.mjs <out.json> <report.json>...');
  process.exit(2);
}
const rows = [];
let failed = 0;
for (const file of files) {
  if (!existsSync(file)) {
    rows.push({ fixture: file, missing: true });
    failed++;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const sum = (key) => r.cases.reduce((n, c) => n + (c[key] ?? 0), 0);
  rows.push({
    fixture: `${r.adapter} on ${r.broker.name} ${r.broker.version} (${r.broker.cluster ?? '?'})`,
    passed: r.summary.passed,
    failed: r.summary.failed,
    skipped: r.summary.skipped,
    skippedIds: r.cases.filter((c) => c.status === 'skipped').map((c) => c.id),
    failedIds: r.cases.filter((c) => c.status === 'failed').map((c) => c.id),
    lost: sum('lost'),
    phantom: sum('phantom'),
    duplicates: sum('duplicates'),
    seconds: Math.round(r.cases.reduce((n, c) => n + c.durationMs, 0) / 1000),
    notes: Object.fromEntries(r.cases.filter((c) => c.note).map((c) => [c.id, c.note])),
  });
  if (r.summary.failed > 0) failed++;
}
const head = ['fixture', 'passed', 'failed', 'skipped', 'lost', 'phantom', 'dup', 'time'];
const table = rows.map((r) =>
  r.missing
    ? [r.fixture, 'no report', '', '', '', '', '', '']
    : [
        r.fixture,
        String(r.passed),
        `${r.failed}${r.failedIds.length ? ` (${r.failedIds.join(' ')})` : ''}`,
        `${r.skipped}${r.skippedIds.length ? ` (${r.skippedIds.join(' ')})` : ''}`,
        String(r.lost),
        String(r.phantom),
        String(r.duplicates),
        `${r.seconds} s`,
      ],
);
const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
const line = (cells) =>
  cells
    .map((c, i) => c.padEnd(widths[i]))
    .join('  ')
    .trimEnd();
console.log(`\n${line(head)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${table.map(line).join('\n')}`);
for (const r of rows) {
  for (const [id, note] of Object.entries(r.notes ?? {})) console.log(`  ${r.fixture} ${id}: ${note}`);
}
const json = { fixtures: rows, failed };
writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
console.log(`\n${JSON.stringify({ fixtures: rows.length, failed })}`);
process.exit(failed > 0 ? 1 : 0);
