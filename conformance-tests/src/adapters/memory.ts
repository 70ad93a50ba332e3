// The in-memory driver as a conformance adapter. All buses of a run share one in-process broker; a faulty link
// is a driver with its own MemoryNetwork that a case can cut; `sendFaults` makes the broker refuse chosen records
// (MemoryBroker.faults.onSend). `wrap` lets the suite-strength test put a deliberately broken driver around every
// driver the adapter hands out.
import { ErrorCode, LosslessError } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { MemoryBroker, MemoryNetwork, memoryDriver } from '@lossless/core/memory';
import type { ConformanceAdapter, FaultyLink } from '../adapter.js';
import type { SendFaults } from '../context.js';

export function memoryAdapter(
  options: { name?: string; wrap?: (driver: Driver) => Driver; deliveryTimeoutMs?: number } = {},
): ConformanceAdapter & { sendFaults: SendFaults } {
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
    sendFaults: {
      refuse(pick) {
        const onSend: NonNullable<MemoryBroker['faults']['onSend']> = (topic, record) => {
          const refusal = pick(topic, record.id);
          if (!refusal) return 'confirm';
          return new LosslessError(
            ErrorCode.NACKED,
            `the broker refused message ${record.id} on '${topic}' (a fault the conformance suite injected)`,
            { broker: 'memory', topic, messageId: record.id, retriable: refusal.retriable },
          );
        };
        broker.faults.onSend = onSend;
        return () => {
          if (broker.faults.onSend === onSend) delete broker.faults.onSend;
        };
      },
    },
  };
}

export const adapter: ConformanceAdapter = { ...memoryAdapter(), module: import.meta.url };
