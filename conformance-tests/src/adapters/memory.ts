// The in-memory driver as a conformance adapter. All buses of a run share one in-process broker; a "faulty link"
// wraps a driver so that a case can make its sends hang (blackhole) or fail (reset) and its health drop.
import { ErrorCode, LosslessError } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import type { ConformanceAdapter, FaultyLink } from '../adapter.js';

export function memoryAdapter(broker = new MemoryBroker()): ConformanceAdapter {
  return {
    name: 'memory',
    deliveryTimeoutMs: 5_000,
    createDriver({ route }) {
      if (route) {
        // A route means "somewhere else": the memory broker is reachable only in-process.
        const nowhere = new MemoryBroker();
        nowhere.setReachable(false);
        return memoryDriver({ broker: nowhere });
      }
      return memoryDriver({ broker });
    },
    async createFaultyLink(): Promise<FaultyLink> {
      const inner = memoryDriver({ broker });
      let cut: 'blackhole' | 'reset' | undefined;
      const since = { at: Date.now() };
      // Like bytes held by a TCP proxy: sends made during a blackhole reach the broker when it is restored.
      let held: (() => void)[] = [];
      const driver: Driver = {
        name: inner.name,
        capabilities: inner.capabilities,
        connect: (s) => inner.connect(s),
        declare: (t) => inner.declare(t),
        subscribe: (o, s) => inner.subscribe(o, s),
        classify: (e) => inner.classify(e),
        close: () => inner.close(),
        send(topic, records) {
          if (cut === 'blackhole') {
            return new Promise((resolve, reject) => {
              held.push(() => inner.send(topic, records).then(resolve, reject));
            });
          }
          if (cut === 'reset') {
            return Promise.reject(
              new LosslessError(ErrorCode.UNAVAILABLE, 'connection reset', { broker: 'memory' }),
            );
          }
          return inner.send(topic, records);
        },
        health() {
          const h = inner.health();
          if (!cut || h.state === 'closed') return h;
          return { state: 'disconnected', reason: `link ${cut}`, since: since.at };
        },
      };
      return {
        driver,
        async cut(mode) {
          cut = mode;
          since.at = Date.now();
        },
        async restore() {
          cut = undefined;
          since.at = Date.now();
          const release = held;
          held = [];
          for (const send of release) send();
        },
        async close() {
          cut = undefined;
          const release = held;
          held = [];
          for (const send of release) send();
        },
      };
    },
  };
}

export const adapter = memoryAdapter();
