// The in-memory driver as a conformance adapter. All buses of a run share one in-process broker; a faulty link
// is a driver with its own MemoryNetwork that a case can cut. `wrap` lets the suite-strength test put a
// deliberately broken driver around every driver the adapter hands out.
import type { Driver } from '@lossless/core/driver';
import { MemoryBroker, MemoryNetwork, memoryDriver } from '@lossless/core/memory';
import type { ConformanceAdapter, FaultyLink } from '../adapter.js';

export function memoryAdapter(
  options: { name?: string; wrap?: (driver: Driver) => Driver; deliveryTimeoutMs?: number } = {},
): ConformanceAdapter {
  const broker = new MemoryBroker();
  const wrap = options.wrap ?? ((d: Driver) => d);
  return {
    name: options.name ?? 'memory',
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? 5_000,
    createDriver({ route }) {
      if (route) {
        // A route means "somewhere else": the memory broker is reachable only in-process.
        const nowhere = new MemoryBroker();
        nowhere.setReachable(false);
        return wrap(memoryDriver({ broker: nowhere }));
      }
      return wrap(memoryDriver({ broker }));
    },
    async createFaultyLink(): Promise<FaultyLink> {
      const network = new MemoryNetwork();
      return {
        driver: wrap(memoryDriver({ broker, network })),
        cut: async (mode) => network.cut(mode),
        restore: async () => network.restore(),
        close: async () => network.restore(),
      };
    },
  };
}

export const adapter: ConformanceAdapter = { ...memoryAdapter(), module: import.meta.url };
