// The measuring harness shared by every broker benchmark: peak memory sampling around one side of a scenario,
// fresh names, alternation of library and raw sides, and the rows of the report.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median, percentile, type ResultRow } from './stats.js';

/** The benchmark's knobs, from the CLI. */
export interface BenchConfig {
  repetitions: number;
  /** Messages per throughput run (confirmed publish, consume). Default 50,000. */
  messages: number;
  /** Concurrent awaiting callers (library publish) and consumer concurrency / prefetch. Default 64. */
  concurrency: number;
  /** Body size, bytes. Default 1,024. */
  bodyBytes: number;
  /** Latency scenario: publish rate (msg/s) and duration (s). Default 1,000 msg/s for 30 s. */
  latencyRate: number;
  latencySeconds: number;
  /** Progress lines (stderr). */
  log: (line: string) => void;
  /** The CLI options the user gave (`repetitions`, `messages`, …): a scenario with defaults of its own keeps them. */
  given?: ReadonlySet<string>;
}

/** What one side of one scenario measured: its figure plus the process's peak memory while it ran. */
export interface Measured<T> {
  value: T;
  /** Highest resident set size seen while the side ran, MiB. */
  peakRssMiB: number;
  /** Highest heapUsed seen while the side ran, minus heapUsed after a full GC just before it, MiB. */
  peakHeapMiB: number;
  /** CPU time (user + system) of the whole process while the side ran, ms (includes connect and close). */
  cpuMs: number;
}

let gcFn: (() => void) | undefined;
/** A full GC (V8's gc exposed at run time), so each side starts from the same heap. */
export function fullGc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

const MiB = 1024 * 1024;

/** Runs one side with a full GC first and memory sampled every 20 ms (and at the end). */
export async function measured<T>(run: () => Promise<T>): Promise<Measured<T>> {
  fullGc();
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > peakRss) peakRss = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  };
  const timer = setInterval(sample, 20);
  const cpu = process.cpuUsage();
  try {
    const value = await run();
    sample();
    const used = process.cpuUsage(cpu);
    return {
      value,
      peakRssMiB: peakRss / MiB,
      peakHeapMiB: (peakHeap - base.heapUsed) / MiB,
      cpuMs: (used.user + used.system) / 1000,
    };
  } finally {
    clearInterval(timer);
  }
}

/** A name no earlier run used: letters, digits and '-' only (valid on every broker). */
export function freshName(prefix: string, side: string, rep: number): string {
  const stamp = Date.now().toString(36);
  const rand = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, '0');
  return `${prefix}-${stamp}${rand}-${side}-${rep}`;
}

/** Latency figures of one side, ms. */
export interface Latency {
  p50: number;
  p99: number;
  max: number;
  received: number;
  sent: number;
}

export function latencyOf(samples: number[], sent: number): Latency {
  samples.sort((a, b) => a - b);
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples.at(-1) ?? Number.NaN,
    received: samples.length,
    sent,
  };
}

/** Collects the repetitions of one library-vs-raw comparison and turns them into rows. */
export class Comparison {
  readonly library: Measured<number>[] = [];
  readonly raw: Measured<number>[] = [];

  constructor(
    readonly scenario: string,
    readonly unit: string,
    /** true: more is better (throughput) → ratio library/raw; false: less is better → raw/library. */
    readonly higherIsBetter: boolean,
  ) {}

  row(): ResultRow {
    return makeRow(
      this.scenario,
      median(this.library.map((m) => m.value)),
      median(this.raw.map((m) => m.value)),
      this.unit,
      this.higherIsBetter,
    );
  }

  /** CPU time of the process per message, µs (less is better → raw/library). */
  cpuRow(label: string, messages: number): ResultRow {
    return makeRow(
      `CPU per message, ${label}`,
      median(this.library.map((m) => (m.cpuMs * 1000) / messages)),
      median(this.raw.map((m) => (m.cpuMs * 1000) / messages)),
      'µs',
      false,
    );
  }

  /** Peak RSS and heap growth rows (medians over repetitions; less is better → raw/library). */
  memoryRows(label = this.scenario): ResultRow[] {
    return [
      makeRow(
        `peak RSS, ${label}`,
        median(this.library.map((m) => m.peakRssMiB)),
        median(this.raw.map((m) => m.peakRssMiB)),
        'MiB',
        false,
      ),
      makeRow(
        `peak heap growth, ${label}`,
        median(this.library.map((m) => m.peakHeapMiB)),
        median(this.raw.map((m) => m.peakHeapMiB)),
        'MiB',
        false,
      ),
    ];
  }
}

export function makeRow(
  scenario: string,
  library: number,
  raw: number,
  unit: string,
  higherIsBetter: boolean,
): ResultRow {
  return { scenario, library, raw, ratio: higherIsBetter ? library / raw : raw / library, unit };
}

/** Runs `a` then `b` on odd repetitions and `b` then `a` on even ones, so drift and noise hit both sides. */
export async function alternate(rep: number, a: () => Promise<void>, b: () => Promise<void>): Promise<void> {
  if (rep % 2 === 1) {
    await a();
    await b();
  } else {
    await b();
    await a();
  }
}

/** What one side of alternate() stored: both sides ran once alternate() resolves, so a gap is a bench bug. */
export function sideResult<T>(value: T | undefined, side: string): T {
  if (value === undefined) {
    throw new Error(`bench: the ${side} side finished without storing its measurement`);
  }
  return value;
}

/** The amqp:// URL of a RabbitMQ fixture's first node, the one every benchmark drives. */
export function firstUrl(settings: { readonly urls: readonly string[] }): string {
  const [url] = settings.urls;
  if (url === undefined) throw new Error('bench: the RabbitMQ fixture reports no node URL');
  return url;
}

export function rate(count: number, startedMs: number): number {
  return count / ((performance.now() - startedMs) / 1000);
}

export function fmtRate(n: number): string {
  return `${Math.round(n).toLocaleString('en-US')} msg/s`;
}

/** A promise and the functions that settle it (Promise.withResolvers, which Node 20 lacks). */
export function latch(): { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with a clear message if `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fn` up to `attempts` times: other processes on this machine restart shared brokers, which fails a side;
 * the repetition is then measured again rather than the whole run lost.
 */
export async function retrying<T>(
  what: string,
  log: (line: string) => void,
  fn: () => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= attempts) throw error;
      log(
        `  ${what} failed (${(error as Error).message}); measuring it again in 10 s (attempt ${i + 1}/${attempts})`,
      );
      // A ref'd timer: with every connection closed, nothing else keeps the process alive meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    }
  }
}
