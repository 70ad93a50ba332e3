// What core costs over its driver: 50,000 publishes of 1 KiB from 64 concurrent callers, each awaiting its
// publish, against the in-memory driver — versus the same driver fed directly in batches of 500 prebuilt records
// (ids and timestamps made as a raw user would).
//
// A third contender shows the floor: the same 64 awaiting callers through the least a promise-per-publish API
// can do (build the record, one promise per publish, everything queued in a turn handed to the driver as one
// batch) — no validation of the topic, no pending store, no deadlines, no re-sends, no receipts' attempts.
// The gap between floor and direct is what awaiting each message costs on this runtime; the gap between core
// and floor is what core's guarantees cost.
//
// Runs alternate and the heap is collected before each, so one run's garbage (each run's broker keeps its
// 50 MB of messages) is not collected during the next.

import { buildRecord, connect, type MessageRecord, silentLogger } from '@lossless/core';
import type { Driver, SendOutcome } from '@lossless/core/driver';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { fullGc } from './harness.js';
import { median, type ResultRow } from './stats.js';

const TOTAL = 50_000;
const CALLERS = 64;
const body = new Uint8Array(1024).fill(7);
const topology = { topics: [{ name: 'bench' }], subscriptions: [{ name: 's', topic: 'bench' }] };

async function freshBus() {
  const driver = memoryDriver({ broker: new MemoryBroker() });
  await driver.connect(new AbortController().signal);
  const bus = await connect(driver, { logger: silentLogger });
  await bus.declare(topology);
  return bus;
}

/** 64 callers, each awaiting one publish at a time, until TOTAL are done; msg/s. */
async function awaitingCallers(publish: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < TOTAL) await publish();
    }),
  );
  return TOTAL / ((performance.now() - started) / 1000);
}

async function library(): Promise<number> {
  const bus = await freshBus();
  const rate = await awaitingCallers(() => bus.publish('bench', { body }));
  await bus.close();
  return rate;
}

async function floor(): Promise<number> {
  const bus = await freshBus();
  const driver: Driver = bus.driver;
  let records: MessageRecord[] = [];
  let resolvers: ((id: string) => void)[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = records;
    const waiting = resolvers;
    records = [];
    resolvers = [];
    driver.send('bench', batch).then((outcomes: SendOutcome[]) => {
      // records and resolvers are pushed in lockstep: batch[i] and waiting[i] belong to the same caller.
      for (let i = 0; i < waiting.length; i++) {
        const outcome = outcomes[i];
        const record = batch[i];
        const resolve = waiting[i];
        if (outcome === undefined || record === undefined || resolve === undefined) {
          throw new Error(
            `core overhead: the memory driver returned ${outcomes.length} outcomes for ${batch.length} records`,
          );
        }
        if (outcome.ok) resolve(record.id);
      }
    });
  };
  const rate = await awaitingCallers(() => {
    const promise = new Promise<string>((resolve) => resolvers.push(resolve));
    records.push(buildRecord('bench', { body }, Number.MAX_SAFE_INTEGER));
    if (!scheduled) {
      scheduled = true;
      Promise.resolve().then(flush);
    }
    return promise;
  });
  await bus.close();
  return rate;
}

async function direct(): Promise<number> {
  const bus = await freshBus();
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

async function measured(run: () => Promise<number>): Promise<number> {
  fullGc();
  return run();
}

export async function coreOverhead(repetitions: number, log: (s: string) => void): Promise<ResultRow[]> {
  // Cheap runs (~0.1 s each), so three times the usual repetitions: the median settles.
  const reps = repetitions * 3;
  const lib: number[] = [];
  const flo: number[] = [];
  const raw: number[] = [];
  for (let i = 0; i < 2; i++) {
    // warm-up: JIT, allocations
    await measured(library);
    await measured(floor);
    await measured(direct);
  }
  for (let i = 1; i <= reps; i++) {
    const libRate = await measured(library);
    const floorRate = await measured(floor);
    const directRate = await measured(direct);
    lib.push(libRate);
    flo.push(floorRate);
    raw.push(directRate);
    log(
      `  core overhead ${i}/${reps}: library ${Math.round(libRate)} msg/s, floor ${Math.round(floorRate)} msg/s, ` +
        `direct ${Math.round(directRate)} msg/s`,
    );
  }
  const l = median(lib);
  const f = median(flo);
  const r = median(raw);
  return [
    {
      scenario: 'confirmed publish, 64 awaiting callers (in-memory driver)',
      library: l,
      raw: r,
      ratio: l / r,
      unit: 'msg/s',
    },
    {
      scenario: 'floor: a bare promise per awaited publish, no core (in-memory driver)',
      library: f,
      raw: r,
      ratio: f / r,
      unit: 'msg/s',
    },
  ];
}
