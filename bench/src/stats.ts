// Small statistics and formatting helpers shared by every benchmark scenario.
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const upper = s[mid];
  // No values: no median.
  if (upper === undefined) return Number.NaN;
  if (s.length % 2) return upper;
  // An even count of at least two, so s[mid - 1] exists.
  const lower = s[mid - 1] ?? upper;
  return (lower + upper) / 2;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // For 0 < p <= 100 the index lies in [0, length - 1]; p <= 0 has no sample below it.
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export interface ResultRow {
  scenario: string;
  library: number;
  raw: number;
  /** library / raw for throughput; raw / library for latency and memory (so > 1 is always better). */
  ratio: number;
  unit: string;
}

export function table(rows: readonly ResultRow[]): string {
  const head = ['scenario', 'library', 'raw', 'ratio', 'unit'];
  return markdown(
    head,
    rows.map((r) => [r.scenario, fmt(r.library), fmt(r.raw), r.ratio.toFixed(3), r.unit]),
  );
}

/** A markdown table, each column padded to its widest cell. */
export function markdown(head: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** A figure as the tables print it: whole numbers from 100 up, two decimals below. */
export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}
