// The hostile-input property against the in-memory driver (core's logic alone, no broker).
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { expect, it } from 'vitest';
import { runHostile } from './hostile-run.js';

it('survives generated junk on every public call: typed errors only, nothing lost, nothing leaked', async () => {
  const broker = new MemoryBroker();
  const summary = await runHostile(
    {
      name: 'memory',
      driver: () => memoryDriver({ broker }),
      factory: (junk) => memoryDriver(junk as never),
      factoryInputs: [{ brokr: broker }, { maxMessageBytes: -1 }, { broker: {} }, { network: 'cut' }, {}],
      secret: 'S3cr3t-#-lossless',
      settleBoundMs: 5_000,
      deliveryBoundMs: 5_000,
    },
    { runs: Number(process.env.LOSSLESS_HOSTILE_RUNS ?? 150) },
  );
  console.log(`hostile input (memory): ${JSON.stringify(summary)}`);
  expect(summary.unhandled).toBe(0);
  expect(summary.secretLeaks).toBe(0);
  expect(summary.lost).toBe(0);
  expect(summary.confirmed).toBeGreaterThan(0);
}, 120_000);
