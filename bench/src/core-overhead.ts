// What core costs over its driver: 50,000 publishes of 1 KiB from 64 concurrent callers, each awaiting its
// publish, against the in-memory driver — versus the same driver fed directly in batches of 500 prebuilt records
// (ids and timestamps made as a raw user would). Runs alternate, so noise hits both sides alike.
import { buildRecord, connect, silentLogger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { median, type ResultRow } from './stats.js';

const TOTAL = 50_000;
const CALLERS = 64;
const body = new Uint8Array(1024).fill(7);
const topology = { topics: [{ name: 'bench' }], subscriptions: [{ name: 's', topic: 'bench' }] };

async function freshDriver(): Promise<Driver> {
  const driver = memoryDriver({ broker: new MemoryBroker() });
  await driver.connect(new AbortController().signal);
  return driver;
}

async function library(): Promise<number> {
  const bus = await connect(await freshDriver(), { logger: silentLogger });
  await bus.declare(topology);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < TOTAL) await bus.publish('bench', { body });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await bus.close();
  return TOTAL / seconds;
}

async function direct(): Promise<number> {
  const bus = await connect(await freshDriver(), { logger: silentLogger });
  await bus.declare(topology);
  const driver = bus.driver;
  const started = performance.now();
  for (let sent = 0; sent < TOTAL; sent += 500) {
    const batch = Array.from({ length: Math.min(500, TOTAL - sent) }, () =>
      buildRecord('bench', { body }, Number.MAX_SAFE_INTEGER),
    );
    const outcomes = await driver.send('bench', batch);
    if (outcomes.some((o) => !o.ok)) throw new Error('the memory driver refused a message');
  }
  const seconds = (performance.now() - started) / 1000;
  await bus.close();
  return TOTAL / seconds;
}

export async function coreOverhead(repetitions: number, log: (s: string) => void): Promise<ResultRow[]> {
  const lib: number[] = [];
  const raw: number[] = [];
  await library(); // warm-up: JIT, allocations
  await direct();
  for (let i = 1; i <= repetitions; i++) {
    lib.push(await library());
    raw.push(await direct());
    log(
      `  core overhead ${i}/${repetitions}: library ${Math.round(lib.at(-1)!)} msg/s, direct ${Math.round(raw.at(-1)!)} msg/s`,
    );
  }
  const l = median(lib);
  const r = median(raw);
  return [
    {
      scenario: 'confirmed publish, 64 awaiting callers (in-memory driver)',
      library: l,
      raw: r,
      ratio: l / r,
      unit: 'msg/s',
    },
  ];
}
