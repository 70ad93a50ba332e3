// The run shared by the broker benchmarks: warm-up, the repetitions of confirmed publish and consume, the latency
// repetitions and the rows of the report. An adapter supplies only what differs per broker (`BrokerSides`): how
// to declare and remove a destination, the library target, the raw client's sides and their labels.
import {
  alternate,
  type BenchConfig,
  Comparison,
  fmtRate,
  freshName,
  type Latency,
  type Measured,
  measured,
  retrying,
  sideResult,
} from './harness.js';
import { type LibraryTarget, libraryConsume, libraryLatency, libraryPublish } from './library.js';
import type { ResultRow } from './stats.js';

/** A raw throughput side (msg/s) and how the report names it. */
export interface RawThroughput {
  /** The row's `scenario`: what the library side is compared with. */
  scenario: string;
  /** The CPU per message and memory rows' label. */
  label: string;
  run(topic: string, cfg: BenchConfig): Promise<number>;
}

/** A raw publish side; `line` names it in progress lines. */
export interface RawPublish extends RawThroughput {
  line: string;
}

/** What one broker's benchmark supplies; everything else is the same for every broker. */
export interface BrokerSides {
  /** The library side's driver and topology. */
  target: LibraryTarget;
  /** The kind of destination, in progress lines and latency labels (RabbitMQ: the queue type); none elsewhere. */
  variant?: string;
  /** Creates what the raw side publishes to and consumes from (the library side declares its own). */
  declare(topic: string): Promise<void>;
  /** Deletes whatever either side created for `topic`; what is absent is no error. */
  remove(topic: string): Promise<void>;
  /** The raw confirmed publish; its messages are what the raw consume drains. */
  publish: RawPublish;
  /**
   * A second raw publish pattern against the same library runs (RabbitMQ: raw with the library's shape), right
   * after the first, on a destination of its own (`side` in its fresh name), removed before consuming.
   */
  alsoPublish?: RawPublish & { side: string };
  /** Raw consume + ack/commit of what `publish` wrote. */
  consume: RawThroughput;
  /** The library's consume clock starts at its first delivery, as raw's does (a group join takes seconds). */
  fromFirstDelivery: boolean;
  /** The raw side of the latency run. */
  latency(topic: string, cfg: BenchConfig): Promise<Latency>;
  /** The latency progress lines also give received/sent. */
  latencyCounts?: boolean;
}

export interface ScenarioOptions {
  warmUp?: {
    /** Messages per warm-up side; default a tenth of the run's, at least 1,000. */
    messages?: number;
    /** Logs the warm-up publish rates (a check that the driver works before the long run). */
    log?: boolean;
    /** A failed warm-up is measured again, as a repetition is, instead of ending the run. */
    retry?: boolean;
  };
  /** Runs the latency scenario (default true). */
  latency?: boolean;
  /** Adds the peak memory rows (default true). */
  memory?: boolean;
}

/** Warm-up, publish and consume repetitions, latency repetitions; the rows in the report's order. */
export async function runScenarios(
  sides: BrokerSides,
  cfg: BenchConfig,
  options: ScenarioOptions = {},
): Promise<ResultRow[]> {
  await warmUp(sides, cfg, options.warmUp ?? {});
  const throughput = await throughputRuns(sides, cfg);
  const latency = options.latency === false ? [] : await latencyRuns(sides, cfg);
  const rows = [...throughput, ...latency].map(({ comparison }) => comparison.row());
  rows.push(...throughput.map(({ comparison, label }) => comparison.cpuRow(label, cfg.messages)));
  if (options.memory !== false) {
    // One latency comparison carries the run's memory: p50, p99 and max were measured by the same sides.
    for (const { comparison, label } of [...throughput, ...latency.slice(0, 1)]) {
      rows.push(...comparison.memoryRows(label));
    }
  }
  return rows;
}

/** A comparison and the label of its CPU and memory rows. */
interface Labelled {
  comparison: Comparison;
  label: string;
}

function named(sides: BrokerSides, what: string): string {
  return sides.variant === undefined ? what : `${sides.variant} ${what}`;
}

/** JIT and connection setup, not measured: publish and consume through both sides. */
async function warmUp(
  sides: BrokerSides,
  cfg: BenchConfig,
  how: NonNullable<ScenarioOptions['warmUp']>,
): Promise<void> {
  const warm = { ...cfg, messages: how.messages ?? Math.max(1_000, Math.floor(cfg.messages / 10)) };
  const run = async () => {
    const l = freshName('lb', 'warm-lib', 0);
    const r = freshName('lb', 'warm-raw', 0);
    try {
      await sides.declare(r);
      const library = await libraryPublish(sides.target, l, warm);
      if (how.log) cfg.log(`  warm-up: library ${fmtRate(library)}`);
      const raw = await sides.publish.run(r, warm);
      if (how.log) cfg.log(`  warm-up: raw ${fmtRate(raw)}`);
      await libraryConsume(sides.target, l, warm, sides.fromFirstDelivery);
      await sides.consume.run(r, warm);
    } finally {
      await sides.remove(l);
      await sides.remove(r);
    }
  };
  if (how.retry) await retrying(named(sides, 'warm-up'), cfg.log, run);
  else await run();
}

async function throughputRuns(sides: BrokerSides, cfg: BenchConfig): Promise<Labelled[]> {
  const { publish, alsoPublish, consume, target } = sides;
  const labelled = (raw: RawThroughput) => ({
    comparison: new Comparison(raw.scenario, 'msg/s', true),
    label: raw.label,
  });
  const pub = labelled(publish);
  const alsoPub = alsoPublish && labelled(alsoPublish);
  const cons = labelled(consume);
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    const tag = named(sides, `${rep}/${cfg.repetitions}`);
    // A repetition counts only when all its sides completed (a broker restarted by another process fails it).
    await retrying(`repetition ${tag}`, cfg.log, async () => {
      const l = freshName('lb', 'lib', rep);
      const r = freshName('lb', 'raw', rep);
      const also = alsoPublish && { raw: alsoPublish, topic: freshName('lb', alsoPublish.side, rep) };
      const side = async (line: string, run: () => Promise<number>) => {
        const m = await measured(run);
        cfg.log(`  ${tag} ${line}: ${fmtRate(m.value)} (${mem(m)})`);
        return m;
      };
      let pubLib: Measured<number> | undefined;
      let pubRaw: Measured<number> | undefined;
      let alsoRaw: Measured<number> | undefined;
      let consLib: Measured<number> | undefined;
      let consRaw: Measured<number> | undefined;
      try {
        await sides.declare(r);
        if (also) await sides.declare(also.topic);
        await alternate(
          rep,
          async () => {
            pubLib = await side('publish library', () => libraryPublish(target, l, cfg));
          },
          async () => {
            pubRaw = await side(publish.line, () => publish.run(r, cfg));
            if (also) alsoRaw = await side(also.raw.line, () => also.raw.run(also.topic, cfg));
          },
        );
        // Its messages are never consumed.
        if (also) await sides.remove(also.topic);
        await alternate(
          rep,
          async () => {
            consLib = await side('consume library', () =>
              libraryConsume(target, l, cfg, sides.fromFirstDelivery),
            );
          },
          async () => {
            consRaw = await side('consume raw', () => consume.run(r, cfg));
          },
        );
      } finally {
        await sides.remove(l);
        await sides.remove(r);
        if (also) await sides.remove(also.topic);
      }
      const published = sideResult(pubLib, 'publish library');
      const publishedRaw = sideResult(pubRaw, publish.line);
      const alsoPublished = also && sideResult(alsoRaw, also.raw.line);
      const consumed = sideResult(consLib, 'consume library');
      const consumedRaw = sideResult(consRaw, 'consume raw');
      pub.comparison.library.push(published);
      pub.comparison.raw.push(publishedRaw);
      if (alsoPub && alsoPublished) {
        alsoPub.comparison.library.push(published);
        alsoPub.comparison.raw.push(alsoPublished);
      }
      cons.comparison.library.push(consumed);
      cons.comparison.raw.push(consumedRaw);
    });
  }
  return alsoPub ? [pub, alsoPub, cons] : [pub, cons];
}

/** p50, p99 and max, in that order, from the same runs. */
async function latencyRuns(sides: BrokerSides, cfg: BenchConfig): Promise<Labelled[]> {
  const variant = sides.variant === undefined ? '' : ` (${sides.variant})`;
  const label = `${cfg.latencyRate} msg/s for ${cfg.latencySeconds} s${variant}`;
  const p50 = new Comparison(`latency p50, publish → handler, ${label}`, 'ms', false);
  const p99 = new Comparison(`latency p99, publish → handler, ${label}`, 'ms', false);
  const max = new Comparison(`latency max, publish → handler, ${label}`, 'ms', false);
  const push = (side: 'library' | 'raw', m: Measured<Latency>) => {
    p50[side].push({ ...m, value: m.value.p50 });
    p99[side].push({ ...m, value: m.value.p99 });
    max[side].push({ ...m, value: m.value.max });
  };
  const describe = (m: Measured<Latency>) => {
    const { p50, p99, max, received, sent } = m.value;
    const counts = sides.latencyCounts ? `, ${received}/${sent}` : '';
    return `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(1)} ms${counts} (${mem(m)})`;
  };
  const reps = cfg.repetitions;
  for (let rep = 1; rep <= reps; rep++) {
    await retrying(`latency ${rep}/${reps}`, cfg.log, async () => {
      const l = freshName('lb', 'lat-lib', rep);
      const r = freshName('lb', 'lat-raw', rep);
      let lib: Measured<Latency> | undefined;
      let raw: Measured<Latency> | undefined;
      try {
        await sides.declare(r);
        await alternate(
          rep,
          async () => {
            lib = await measured(() => libraryLatency(sides.target, l, cfg));
            cfg.log(`  latency ${rep}/${reps} library: ${describe(lib)}`);
          },
          async () => {
            raw = await measured(() => sides.latency(r, cfg));
            cfg.log(`  latency ${rep}/${reps} raw: ${describe(raw)}`);
          },
        );
      } finally {
        await sides.remove(l);
        await sides.remove(r);
      }
      push('library', sideResult(lib, 'latency library'));
      push('raw', sideResult(raw, 'latency raw'));
    });
  }
  return [p50, p99, max].map((comparison) => ({ comparison, label: `latency run${variant}` }));
}

function mem(m: Measured<unknown>): string {
  return `rss ${Math.round(m.peakRssMiB)} MiB, heap +${Math.round(m.peakHeapMiB)} MiB, cpu ${Math.round(m.cpuMs)} ms`;
}
