// A consumer or producer in its own process, so that a case can SIGKILL it (R1, R5, F7). The parent passes the
// adapter module and the broker settings in LOSSLESS_CONFORMANCE_WORKER; the worker reports what it did over IPC.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BrokerSettings } from '@lossless/brokers';
import {
  connect,
  type Delivery,
  type OutgoingMessage,
  type Subscription,
  silentLogger,
} from '@lossless/core';
import { lmdbOutbox } from '@lossless/outbox-lmdb';
import type { ConformanceAdapter } from './adapter.js';
import { driverRequest } from './context.js';

/** An outgoing message with every field set, as its type says. */
export type CompleteMessage = Required<Pick<OutgoingMessage, 'id' | 'key' | 'timestamp' | 'headers'>> & {
  body: string;
};

/**
 * The message the outbox producer publishes as number `i` (F7): every field set, so that the consumer can check
 * that a replay from the outbox carries the same key, timestamp and headers.
 */
export function outboxMessage(idPrefix: string, i: number): CompleteMessage {
  return {
    id: `${idPrefix}-${i}`,
    key: `customer-ü-${i % 13}`,
    timestamp: Date.UTC(2025, 0, 1) + i,
    headers: { type: 'OrderPlaced', seq: String(i), ünï: '✓ 世界', empty: '' },
    body: `order ${idPrefix}-${i}`,
  };
}

/**
 * A handler that takes `hold` deliveries at once, then finishes the last `finish` of them one by one from the
 * newest back (each ack lands before the one of an older delivery), and never finishes the older rest (R5).
 * `acked` reads how many acks the subscription completed; `onFinished` gets the finished ids once all are acked.
 */
export function outOfOrderHandler(options: {
  hold: number;
  finish: number;
  acked: () => number;
  onReceived?: (id: string) => void;
  onFinished: (ids: string[]) => void;
}) {
  const order: string[] = [];
  const gates: (() => void)[] = [];
  const finishInReverse = async () => {
    const finished: string[] = [];
    for (let i = options.hold - 1; i >= options.hold - options.finish; i--) {
      const before = options.acked();
      // Called once the hold-th delivery arrived: every delivery below it has its gate and its id.
      const gate = gates[i];
      const id = order[i];
      if (gate === undefined || id === undefined) {
        throw new Error(`out-of-order handler: delivery ${i + 1} of ${options.hold} never arrived`);
      }
      gate();
      finished.push(id);
      while (options.acked() <= before) await new Promise((r) => setTimeout(r, 5));
    }
    options.onFinished(finished);
  };
  return async (d: Delivery) => {
    const i = order.length;
    order.push(d.id);
    options.onReceived?.(d.id);
    const gate = new Promise<void>((r) => {
      gates[i] = r;
    });
    if (order.length === options.hold) void finishInReverse();
    if (i < options.hold - options.finish) await new Promise(() => {}); // held until the consumer dies
    await gate;
  };
}

export type WorkerSpec = {
  adapterModule: string;
  settings: BrokerSettings | undefined;
  topic: string;
} & (
  | {
      role: 'hold-consumer';
      subscription: string;
      /** Deliveries the consumer takes and never settles. */
      hold: number;
    }
  | {
      /** Takes `hold` deliveries, acks the newest `finish` newest-first, holds the rest until killed (R5). */
      role: 'out-of-order-consumer';
      subscription: string;
      hold: number;
      finish: number;
    }
  | {
      /** Publishes `count` messages through a durable outbox ('accepted' mode) and never stops by itself. */
      role: 'outbox-producer';
      outboxPath: string;
      count: number;
      idPrefix: string;
    }
  | {
      /** Opens the same outbox, lets the bus re-send what it holds, reports 'flushed' when it is empty. */
      role: 'outbox-replayer';
      outboxPath: string;
    }
);

export type WorkerEvent =
  | { type: 'ready' }
  | { type: 'received'; id: string }
  | { type: 'finished'; ids: string[] }
  | { type: 'accepted'; id: string; outboxSize: number }
  | { type: 'flushed'; replayed: number }
  | { type: 'error'; message: string };

/** Starts a worker process; `onEvent` sees what it reports. */
export function startWorker(spec: WorkerSpec, onEvent: (e: WorkerEvent) => void) {
  const child = fork(fileURLToPath(import.meta.url), [], {
    // From this repository's sources, the child needs tsx and the source condition; installed from a registry
    // (compiled JavaScript, no tsx), it runs as it is.
    execArgv: import.meta.url.endsWith('.ts') ? ['--conditions=@lossless/source', '--import', 'tsx'] : [],
    env: { ...process.env, LOSSLESS_CONFORMANCE_WORKER: JSON.stringify(spec) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child.on('message', (m) => onEvent(m as WorkerEvent));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    /** SIGKILL: no goodbye to the broker beyond what the kernel does for a dead process's sockets. */
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function main(spec: WorkerSpec): Promise<void> {
  const send = (e: WorkerEvent) => process.send?.(e);
  const mod = (await import(spec.adapterModule)) as { adapter: ConformanceAdapter };
  const driver = await mod.adapter.createDriver(driverRequest(spec.settings));
  if (spec.role === 'hold-consumer') {
    const bus = await connect(driver, { logger: silentLogger });
    await bus.subscribe(
      spec.topic,
      spec.subscription,
      async (d) => {
        send({ type: 'received', id: d.id });
        await new Promise(() => {}); // held until the process dies
      },
      { concurrency: spec.hold, prefetch: spec.hold },
    );
    send({ type: 'ready' });
    return;
  }
  if (spec.role === 'out-of-order-consumer') {
    const bus = await connect(driver, { logger: silentLogger });
    let sub: Subscription | undefined;
    const handler = outOfOrderHandler({
      hold: spec.hold,
      finish: spec.finish,
      acked: () => sub?.stats.acked ?? 0,
      onReceived: (id) => send({ type: 'received', id }),
      onFinished: (ids) => send({ type: 'finished', ids }),
    });
    sub = await bus.subscribe(spec.topic, spec.subscription, handler, {
      concurrency: spec.hold,
      prefetch: spec.hold,
    });
    send({ type: 'ready' });
    return;
  }
  const store = lmdbOutbox({ path: spec.outboxPath });
  const bus = await connect(driver, { logger: silentLogger, outbox: { store, resolveOn: 'accepted' } });
  if (spec.role === 'outbox-replayer') {
    const replayed = bus.outboxSize;
    await bus.flush();
    send({ type: 'flushed', replayed });
    await bus.close();
    process.exit(0);
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < spec.count) {
        const message = outboxMessage(spec.idPrefix, next++);
        await bus.publish(spec.topic, message);
        send({ type: 'accepted', id: message.id, outboxSize: bus.outboxSize });
      }
    }),
  );
  send({ type: 'ready' }); // keeps sending in the background until killed
}

const raw = process.env.LOSSLESS_CONFORMANCE_WORKER;
if (raw && process.send) {
  main(JSON.parse(raw) as WorkerSpec).catch((error: unknown) => {
    process.send?.({ type: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exitCode = 1;
  });
}
