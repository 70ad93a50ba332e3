// `node bench/dist/validation.js [--iterations N] [--json FILE]`: what checking an options object costs, core's
// hand-written table (checkOptions, and the by-hand check publish() makes of its options) against two kept
// schema libraries, valibot and zod, on the same inputs, in the same process. This is the measurement behind
// "a small table rather than a schema library" in packages/core/README.md. Each contender checks the same rules
// (strict keys, integer ranges, enums) and returns a copy without undefined keys; ns per call, median of runs.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkOptions, type OptionShape } from '@lossless/core';
import * as v from 'valibot';
import { z } from 'zod';
import { median } from './stats.js';

const { values } = parseArgs({ options: { iterations: { type: 'string' }, json: { type: 'string' } } });
const iterations = Number(values.iterations ?? 300_000);
const RUNS = 7;

const SUBSCRIBE: OptionShape = {
  concurrency: { type: 'integer', min: 1, max: 10_000 },
  prefetch: { type: 'integer', min: 1, max: 65_535 },
  ordering: { type: 'enum', values: ['none', 'key'] },
  redeliveryBackoff: {
    type: 'object',
    shape: {
      initialDelayMs: { type: 'integer', min: 0, max: 2_147_483_647 },
      maxDelayMs: { type: 'integer', min: 0, max: 2_147_483_647 },
      factor: { type: 'number', min: 1, max: 1_000 },
      jitter: { type: 'enum', values: ['full', 'none'] },
    },
  },
  shutdownTimeoutMs: { type: 'integer', min: 0, max: 2_147_483_647 },
  deadLetters: { type: 'boolean' },
  onError: { type: 'function' },
};
const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const valibotSubscribe = v.strictObject({
  concurrency: v.optional(int(1, 10_000)),
  prefetch: v.optional(int(1, 65_535)),
  ordering: v.optional(v.picklist(['none', 'key'])),
  redeliveryBackoff: v.optional(
    v.strictObject({
      initialDelayMs: v.optional(int(0, 2_147_483_647)),
      maxDelayMs: v.optional(int(0, 2_147_483_647)),
      factor: v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(1_000))),
      jitter: v.optional(v.picklist(['full', 'none'])),
    }),
  ),
  shutdownTimeoutMs: v.optional(int(0, 2_147_483_647)),
  deadLetters: v.optional(v.boolean()),
  onError: v.optional(v.function()),
});
const zint = (min: number, max: number) => z.number().int().min(min).max(max);
const zodSubscribe = z.strictObject({
  concurrency: zint(1, 10_000).optional(),
  prefetch: zint(1, 65_535).optional(),
  ordering: z.enum(['none', 'key']).optional(),
  redeliveryBackoff: z
    .strictObject({
      initialDelayMs: zint(0, 2_147_483_647).optional(),
      maxDelayMs: zint(0, 2_147_483_647).optional(),
      factor: z.number().min(1).max(1_000).optional(),
      jitter: z.enum(['full', 'none']).optional(),
    })
    .optional(),
  shutdownTimeoutMs: zint(0, 2_147_483_647).optional(),
  deadLetters: z.boolean().optional(),
  onError: z.function().optional(),
});

const PUBLISH: OptionShape = { signal: { type: 'signal' } };
const valibotPublish = v.strictObject({ signal: v.optional(v.instance(AbortSignal)) });
const zodPublish = z.strictObject({ signal: z.instanceof(AbortSignal).optional() });
/** The check publish() makes by hand (packages/core/src/publisher.ts signalOf), reproduced for timing. */
function byHand(options: unknown): AbortSignal | undefined {
  if (options === null || typeof options !== 'object') throw new Error('options must be an object');
  for (const key in options) if (key !== 'signal') throw new Error(`unknown option '${key}'`);
  const signal = (options as { signal?: unknown }).signal;
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new Error('signal must be an AbortSignal');
}

const subscribeInput = {
  concurrency: 16,
  ordering: 'key',
  redeliveryBackoff: { initialDelayMs: 100, maxDelayMs: 5_000 },
  onError: () => {},
};
const publishInput = { signal: new AbortController().signal };

function time(f: () => unknown): number {
  const samples: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) f();
    samples.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  return median(samples);
}

let sink: unknown;
const rows: { input: string; contender: string; nsPerCall: number }[] = [];
const contenders: [string, string, () => unknown][] = [
  [
    'subscribe options',
    'core checkOptions',
    () => (sink = checkOptions('subscribe()', subscribeInput, SUBSCRIBE)),
  ],
  ['subscribe options', 'valibot 1.x strictObject', () => (sink = v.parse(valibotSubscribe, subscribeInput))],
  ['subscribe options', 'zod 4.x strictObject', () => (sink = zodSubscribe.parse(subscribeInput))],
  ['publish options', 'core by hand (per publish)', () => (sink = byHand(publishInput))],
  ['publish options', 'core checkOptions', () => (sink = checkOptions('publish()', publishInput, PUBLISH))],
  ['publish options', 'valibot 1.x strictObject', () => (sink = v.parse(valibotPublish, publishInput))],
  ['publish options', 'zod 4.x strictObject', () => (sink = zodPublish.parse(publishInput))],
];
for (const [input, contender, f] of contenders) {
  process.stderr.write(`validation bench: ${input} / ${contender}…\n`);
  time(f); // warm up
  rows.push({ input, contender, nsPerCall: Math.round(time(f)) });
}
void sink;
console.log('\n| input | contender | ns per call (median of 7) |\n| --- | --- | ---: |');
for (const r of rows) console.log(`| ${r.input} | ${r.contender} | ${r.nsPerCall} |`);
const report = { node: process.version, iterations, runs: RUNS, results: rows };
console.log(JSON.stringify(report));
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
