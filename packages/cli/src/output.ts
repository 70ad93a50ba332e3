// What every command prints: a plain-text table (the summary at the end of a run), progress lines on stderr
// (a bar on a terminal, a line every few seconds otherwise), and the exit codes, the same for every command.

/** Exit codes of `lossless`: documented in the README, the same for every command. */
export const EXIT = {
  /** Done, nothing wrong found. */
  ok: 0,
  /** Done, and something is wrong: a doctor finding that loses data, a redrive that left messages behind. */
  findings: 1,
  /** Bad usage: an unknown command or flag, a missing or invalid value. Nothing was done. */
  usage: 2,
  /** The broker could not be reached or refused us (UNAVAILABLE, PERMISSION_DENIED…). */
  unavailable: 3,
  /** The command failed half-way; what was done is printed (a rerun is safe). */
  failed: 4,
} as const;

/** A table: a header row, a rule, then the rows; numbers right-aligned. */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly (string | number)[])[],
): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[], numeric: readonly boolean[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  return [
    line(headers, numeric),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map((r) => line(r, numeric)),
  ].join('\n');
}

/**
 * Progress of a long run on stderr: a redrawn bar on a terminal, else a line at most every `everyMs` (so CI
 * logs stay short). `done` may exceed `total` when the total was an estimate.
 */
export class Progress {
  private last = 0;
  private readonly tty: boolean;

  constructor(
    private readonly what: string,
    private readonly total: number | undefined,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly everyMs = 2_000,
  ) {
    this.tty = stream.isTTY === true;
  }

  update(done: number, note = ''): void {
    const now = Date.now();
    if (!this.tty && now - this.last < this.everyMs) return;
    this.last = now;
    const of = this.total === undefined ? `${done}` : `${done}/${this.total}`;
    let bar = '';
    if (this.total !== undefined && this.total > 0) {
      const filled = Math.min(20, Math.round((done / this.total) * 20));
      bar = `[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] `;
    }
    const text = `${this.what}: ${bar}${of}${note ? ` ${note}` : ''}`;
    if (this.tty) this.stream.write(`\r${text}\x1b[K`);
    else this.stream.write(`${text}\n`);
  }

  /** Ends the bar's line on a terminal. */
  end(): void {
    if (this.tty) this.stream.write('\n');
  }
}
