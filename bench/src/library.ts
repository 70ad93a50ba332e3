// The library side of every broker scenario, the same code for every adapter: only the driver and the topology
// differ. Each side connects its own bus (not timed), declares its fresh topic and subscription, measures, and
// closes the bus.
import { type ConnectOptions, connect, type Delivery, silentLogger, type Topology } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { type BenchConfig, type Latency, latch, latencyOf, rate, within } from './harness.js';

/** What the library side needs from an adapter. */
export interface LibraryTarget {
  /** A new, unconnected driver (one per bus). */
  driver(): Driver;
  /** The topology of one fresh topic with one subscription. */
  topology(topic: string, subscription: string): Topology;
}

export const SUBSCRIPTION = 's';

async function open(target: LibraryTarget, topic: string, options: ConnectOptions = {}) {
  const bus = await connect(target.driver(), { logger: silentLogger, ...options });
  await bus.declare(target.topology(topic, SUBSCRIPTION));
  return bus;
}

/**
 * Declares a fresh topic and its subscription through the library and closes the bus: on Kafka and RocketMQ the
 * raw side then writes to and reads from exactly the kind of topic (and group) the library's side gets.
 */
export async function libraryDeclare(target: LibraryTarget, topic: string): Promise<void> {
  const bus = await open(target, topic);
  await bus.close();
}

/** `concurrency` callers, each awaiting its publish before the next: msg/s until the last confirm. */
export async function libraryPublish(
  target: LibraryTarget,
  topic: string,
  cfg: BenchConfig,
  options: ConnectOptions = {},
): Promise<number> {
  const bus = await open(target, topic, options);
  try {
    const body = new Uint8Array(cfg.bodyBytes).fill(7);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: cfg.concurrency }, async () => {
        while (next++ < cfg.messages) await bus.publish(topic, { body });
      }),
    );
    return rate(cfg.messages, started);
  } finally {
    await bus.close();
  }
}

/**
 * A subscription with `concurrency` handlers (prefetch = concurrency) drains `cfg.messages`: msg/s. The clock
 * starts at subscribe, or with `fromFirstDelivery` at the first handler call (Kafka: a consumer group join
 * takes seconds, which is not consuming).
 */
export async function libraryConsume(
  target: LibraryTarget,
  topic: string,
  cfg: BenchConfig,
  fromFirstDelivery = false,
  options: ConnectOptions = {},
): Promise<number> {
  const bus = await open(target, topic, options);
  try {
    let count = 0;
    const { promise: finished, resolve: done } = latch();
    let started = performance.now();
    const sub = await bus.subscribe(
      topic,
      SUBSCRIPTION,
      async () => {
        if (count === 0 && fromFirstDelivery) started = performance.now();
        if (++count === cfg.messages) done();
      },
      { concurrency: cfg.concurrency },
    );
    try {
      await within(finished, 120_000 + cfg.messages, `library consume of ${topic}`);
    } catch (error) {
      throw new Error(`${(error as Error).message} (${count} of ${cfg.messages} handled)`);
    }
    const result = rate(cfg.messages, started);
    await sub.close();
    return result;
  } finally {
    await bus.close();
  }
}

/**
 * Publishes at `cfg.latencyRate` msg/s for `cfg.latencySeconds` (each publish awaited in its own promise) while
 * a subscription with `concurrency` handlers records publish → handler time (the send time travels in the body).
 */
export async function libraryLatency(
  target: LibraryTarget,
  topic: string,
  cfg: BenchConfig,
): Promise<Latency> {
  const bus = await open(target, topic);
  try {
    const samples = new LatencySamples();
    const sub = await bus.subscribe(
      topic,
      SUBSCRIPTION,
      async (d: Delivery) => {
        const b = d.body;
        samples.record(new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true));
      },
      { concurrency: cfg.concurrency },
    );
    let failures = 0;
    const latency = await pacedLatency(
      cfg,
      samples,
      (body) => bus.publish(topic, { body }),
      (body) => {
        bus.publish(topic, { body }).catch(() => failures++);
      },
      () => failures,
    );
    await sub.close();
    return latency;
  } finally {
    await bus.close();
  }
}

/** What a latency side's consumer saw: whether the probe arrived, and the publish → handler times, ms. */
export class LatencySamples {
  primed = false;
  readonly ms: number[] = [];

  /** Takes a delivery's send time (the first 8 bytes of its body; the probe's is negative). */
  record(sentAt: number): void {
    if (sentAt < 0) this.primed = true;
    else this.ms.push(performance.now() - sentAt);
  }
}

/**
 * The publishing half of every latency side, library or raw, once its consumer records into `samples`: the
 * probe is sent (awaited) and must arrive first, so consumer start-up (a Kafka group join takes seconds) is not
 * counted; then `send` at the fixed rate until every message arrived. Throws at once when `failed()` is non-zero.
 */
export async function pacedLatency(
  cfg: BenchConfig,
  samples: LatencySamples,
  sendProbe: (body: Buffer) => Promise<unknown>,
  send: (body: Buffer) => void,
  failed: () => number,
): Promise<Latency> {
  await sendProbe(probe(cfg));
  await drained(
    () => (samples.primed ? 1 : 0),
    1,
    () => 0,
  );
  const sent = await paced(cfg, send);
  await drained(() => samples.ms.length, sent, failed);
  return latencyOf(samples.ms, sent);
}

/**
 * The message sent (and awaited) before a latency run, so that consumer start-up (a Kafka group join takes
 * seconds) is not counted as latency. Its send time is negative: handlers recognise it and take no sample.
 */
function probe(cfg: BenchConfig): Buffer {
  const body = Buffer.alloc(cfg.bodyBytes, 7);
  body.writeDoubleLE(-1, 0);
  return body;
}

/**
 * Calls `send` at a fixed rate (checked every millisecond, so sends are spread evenly, not burst per tick)
 * with a fresh body whose first 8 bytes are `performance.now()` at the send. Resolves with the count sent.
 */
function paced(cfg: BenchConfig, send: (body: Buffer) => void): Promise<number> {
  const total = Math.round(cfg.latencyRate * cfg.latencySeconds);
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * cfg.latencyRate) + 1);
      while (sent < due) {
        const body = Buffer.alloc(cfg.bodyBytes, 7);
        body.writeDoubleLE(performance.now(), 0);
        send(body);
        sent++;
      }
      if (sent >= total) resolve(sent);
      else setTimeout(tick, 1);
    };
    tick();
  });
}

/** Waits (up to 60 s) until `received()` reaches `sent`; throws at once when `failed()` is non-zero. */
async function drained(received: () => number, sent: number, failed: () => number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (received() < sent) {
    if (failed() > 0) throw new Error(`${failed()} of ${sent} publishes failed`);
    if (Date.now() > deadline) throw new Error(`only ${received()} of ${sent} messages arrived within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
