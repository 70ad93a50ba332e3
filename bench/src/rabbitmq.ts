// RabbitMQ: @lossless/rabbitmq through core against raw amqplib 2.x on the kit's single node, same queue.
//
// Both sides publish persistent 1 KiB messages to a durable fanout exchange bound to one durable queue whose
// arguments are exactly those the driver declares (classic: x-dead-letter-exchange; quorum: also the delivery
// limit, at-least-once dead-lettering and reject-publish), so the broker does the same work for both. Raw
// publishes carry a message id (as a careful raw user would set) but no headers and no `mandatory`.

import { randomUUID } from 'node:crypto';
import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { silentLogger, type Topology } from '@lossless/core';
import {
  deadLetterExchangeName,
  deadLetterQueueName,
  exchangeName,
  queueName,
  rabbitmq,
} from '@lossless/rabbitmq';
import { connect as amqpConnect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import {
  alternate,
  type BenchConfig,
  Comparison,
  fmtRate,
  freshName,
  type Latency,
  latencyOf,
  type Measured,
  measured,
  rate,
  retrying,
  within,
} from './harness.js';
import {
  drained,
  type LibraryTarget,
  libraryConsume,
  libraryLatency,
  libraryPublish,
  paced,
  probe,
  SUBSCRIPTION,
} from './library.js';
import type { ResultRow } from './stats.js';

export type QueueType = 'classic' | 'quorum';

export interface RabbitMqBenchOptions {
  /** Queue types to measure publish and consume on (latency runs on the first). Default ['classic']. */
  queueTypes: readonly QueueType[];
  /** Most unconfirmed publishes of the raw pipelined pattern. Default 1,000. */
  window: number;
}

export interface AdapterReport {
  adapter: string;
  broker: string;
  results: ResultRow[];
}

/** The driver's queue arguments for a subscription with default settings (maxDeliveries 10, deadLetter true). */
function queueArgs(topic: string, type: QueueType): Record<string, string | number> {
  const args: Record<string, string | number> = {
    'x-queue-type': type,
    'x-dead-letter-exchange': deadLetterExchangeName(topic, SUBSCRIPTION),
  };
  if (type === 'quorum') {
    args['x-delivery-limit'] = 10;
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  }
  return args;
}

/** Raw amqplib on one connection: declare, the publish patterns, consume, latency, delete. */
class Raw {
  constructor(
    private readonly url: string,
    private readonly bodyBytes: number,
  ) {}

  /**
   * A connection of its own per side, as the library's bus has (and a broker restarted by another process
   * between sides costs nothing). The same socket option as the driver: Nagle off.
   */
  private async session<T>(run: (model: ChannelModel) => Promise<T>): Promise<T> {
    const model = await amqpConnect(this.url, { noDelay: true });
    model.on('error', () => {}); // a lost connection fails the side's promises; without a listener it throws
    try {
      return await run(model);
    } finally {
      await model.close().catch(() => {});
    }
  }

  async declare(topic: string, type: QueueType): Promise<void> {
    return this.session(async (model) => {
      const ch = await model.createChannel();
      try {
        await ch.assertExchange(topic, 'fanout', { durable: true, autoDelete: false });
        const q = queueName(topic, SUBSCRIPTION);
        await ch.assertQueue(q, { durable: true, autoDelete: false, arguments: queueArgs(topic, type) });
        await ch.bindQueue(q, topic, '');
      } finally {
        await ch.close();
      }
    });
  }

  /** Deletes what either side declared for `topic` (library: also its dead-letter objects and settings marker). */
  async remove(topic: string): Promise<void> {
    return this.session(async (model) => {
      const queues = [queueName(topic, SUBSCRIPTION), deadLetterQueueName(topic, SUBSCRIPTION)];
      const exchanges = [
        exchangeName(topic),
        deadLetterExchangeName(topic, SUBSCRIPTION),
        // The driver's settings marker for a topic declared with defaults (rabbitmq-driver's topology.ts).
        `${topic}.lossless-spec.pd.rd.md.none`,
      ];
      for (const [kind, name] of [
        ...queues.map((q) => ['q', q] as const),
        ...exchanges.map((e) => ['e', e] as const),
      ]) {
        // A fresh channel each: a failed delete (say, a 404 on an older broker) closes its channel.
        const ch = await model.createChannel();
        ch.on('error', () => {});
        try {
          if (kind === 'q') await ch.deleteQueue(name);
          else await ch.deleteExchange(name);
          await ch.close();
        } catch {
          /* absent: nothing to delete */
        }
      }
    });
  }

  private body(): Buffer {
    return Buffer.alloc(this.bodyBytes, 7);
  }

  /** The best raw pattern: one confirm channel, up to `window` unconfirmed, refilled from the confirms. */
  async publishWindow(topic: string, total: number, window: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createConfirmChannel();
      try {
        const body = this.body();
        let sent = 0;
        let confirmed = 0;
        let draining = false;
        const started = performance.now();
        await new Promise<void>((resolve, reject) => {
          const onConfirm = (err: unknown) => {
            if (err) return reject(err);
            if (++confirmed === total) resolve();
            else if (!draining) pump();
          };
          ch.on('close', () => reject(new Error('channel closed')));
          const pump = () => {
            while (sent < total && sent - confirmed < window) {
              sent++;
              const ok = ch.publish(
                topic,
                '',
                body,
                { persistent: true, messageId: randomUUID() },
                onConfirm,
              );
              if (!ok) {
                draining = true;
                ch.once('drain', () => {
                  draining = false;
                  pump();
                });
                return;
              }
            }
          };
          pump();
        });
        return rate(total, started);
      } finally {
        await ch.close();
      }
    });
  }

  /** The library's shape with raw amqplib: `callers` callers, each awaiting its confirm before the next. */
  async publishAwaiting(topic: string, total: number, callers: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createConfirmChannel();
      try {
        const body = this.body();
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: callers }, async () => {
            while (next++ < total) await publishConfirmed(ch, topic, body);
          }),
        );
        return rate(total, started);
      } finally {
        await ch.close();
      }
    });
  }

  /** Manual ack, prefetch `prefetch`; each message is acked a microtask after it arrives (an empty handler). */
  async consume(topic: string, total: number, prefetch: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createChannel();
      try {
        await ch.prefetch(prefetch);
        let count = 0;
        let done!: () => void;
        const finished = new Promise<void>((resolve, reject) => {
          done = resolve;
          ch.on('close', () => reject(new Error('channel closed')));
        });
        finished.catch(() => {}); // observed below; a close before then must not be unhandled
        const started = performance.now();
        const ok = await ch.consume(
          queueName(topic, SUBSCRIPTION),
          (msg) => {
            if (!msg) return;
            void Promise.resolve()
              .then(() => {
                ch.ack(msg);
                if (++count === total) done();
              })
              .catch(() => {}); // a closed channel: 'close' fails the side
          },
          { noAck: false },
        );
        await within(finished, 120_000 + total, `raw consume of ${topic}`);
        const result = rate(total, started);
        await ch.cancel(ok.consumerTag);
        return result;
      } finally {
        await ch.close();
      }
    });
  }

  /** Fixed-rate publishes on a confirm channel, consumed with manual acks on a second channel. */
  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    return this.session(async (model) => {
      const pub = await model.createConfirmChannel();
      const sub = await model.createChannel();
      try {
        await sub.prefetch(cfg.concurrency);
        const samples: number[] = [];
        let primed = false;
        await sub.consume(
          queueName(topic, SUBSCRIPTION),
          (msg) => {
            if (!msg) return;
            void Promise.resolve()
              .then(() => {
                const sentAt = msg.content.readDoubleLE(0);
                if (sentAt < 0) primed = true;
                else samples.push(performance.now() - sentAt);
                sub.ack(msg);
              })
              .catch(() => {}); // a closed channel: drained() times out and the repetition is redone
          },
          { noAck: false },
        );
        await publishConfirmed(pub, topic, probe(cfg));
        await drained(
          () => (primed ? 1 : 0),
          1,
          () => 0,
        );
        let failures = 0;
        const sent = await paced(cfg, (body) => {
          try {
            pub.publish(topic, '', body, { persistent: true, messageId: randomUUID() }, (err) => {
              if (err) failures++;
            });
          } catch {
            failures++; // the channel closed (broker restarted): the repetition is measured again
          }
        });
        await drained(
          () => samples.length,
          sent,
          () => failures,
        );
        return latencyOf(samples, sent);
      } finally {
        await sub.close();
        await pub.close();
      }
    });
  }
}

function publishConfirmed(ch: ConfirmChannel, topic: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(topic, '', body, { persistent: true, messageId: randomUUID() }, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

function mem(m: Measured<unknown>): string {
  return `rss ${Math.round(m.peakRssMiB)} MiB, heap +${Math.round(m.peakHeapMiB)} MiB, cpu ${Math.round(m.cpuMs)} ms`;
}

export async function rabbitmqBench(cfg: BenchConfig, options: RabbitMqBenchOptions): Promise<AdapterReport> {
  const { log } = cfg;
  const fixture = rabbitmqBroker();
  log(`rabbitmq: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const url = fixture.settings.urls[0]!;
  const raw = new Raw(url, cfg.bodyBytes);
  const results: ResultRow[] = [];
  for (const type of options.queueTypes) {
    const target: LibraryTarget = {
      driver: () => rabbitmq({ url, logger: silentLogger }),
      topology: (topic: string, subscription: string): Topology => ({
        topics: [{ name: topic }],
        subscriptions: [{ name: subscription, topic, queueType: type }],
      }),
    };
    // Warm-up (JIT, connection setup), not measured: a tenth of the messages through both sides.
    await retrying(`${type} warm-up`, log, async () => {
      const warm = { ...cfg, messages: Math.max(1_000, Math.floor(cfg.messages / 10)) };
      const l = freshName('lb', 'warm-lib', 0);
      const r = freshName('lb', 'warm-raw', 0);
      try {
        await raw.declare(r, type);
        await libraryPublish(target, l, warm);
        await raw.publishWindow(r, warm.messages, options.window);
        await libraryConsume(target, l, warm);
        await raw.consume(r, warm.messages, cfg.concurrency);
      } finally {
        await raw.remove(l);
        await raw.remove(r);
      }
    });
    const pub = new Comparison(
      `confirmed publish (${type}): library ${cfg.concurrency} awaiting callers vs raw window ${options.window}`,
      'msg/s',
      true,
    );
    const pubSame = new Comparison(
      `confirmed publish (${type}): library vs raw, both ${cfg.concurrency} awaiting callers`,
      'msg/s',
      true,
    );
    const cons = new Comparison(
      `consume + ack (${type}): concurrency ${cfg.concurrency} vs prefetch ${cfg.concurrency}`,
      'msg/s',
      true,
    );
    for (let rep = 1; rep <= cfg.repetitions; rep++) {
      const tag = `${type} ${rep}/${cfg.repetitions}`;
      // A repetition counts only when all its sides completed (a broker restarted by another process fails it).
      await retrying(`repetition ${tag}`, log, async () => {
        const l = freshName('lb', 'lib', rep);
        const r = freshName('lb', 'raw', rep);
        const r64 = freshName('lb', 'raw64', rep);
        const got: Record<string, Measured<number>> = {};
        try {
          await raw.declare(r, type);
          await raw.declare(r64, type);
          const side = async (key: string, label: string, run: () => Promise<number>) => {
            const m = await measured(run);
            got[key] = m;
            log(`  ${tag} ${label}: ${fmtRate(m.value)} (${mem(m)})`);
          };
          await alternate(
            rep,
            () => side('pubLib', 'publish library', () => libraryPublish(target, l, cfg)),
            async () => {
              await side('pubWin', 'publish raw window', () =>
                raw.publishWindow(r, cfg.messages, options.window),
              );
              await side('pubAwait', 'publish raw awaiting', () =>
                raw.publishAwaiting(r64, cfg.messages, cfg.concurrency),
              );
            },
          );
          await raw.remove(r64);
          await alternate(
            rep,
            () => side('consLib', 'consume library', () => libraryConsume(target, l, cfg)),
            () => side('consRaw', 'consume raw', () => raw.consume(r, cfg.messages, cfg.concurrency)),
          );
        } finally {
          await raw.remove(l);
          await raw.remove(r);
          await raw.remove(r64);
        }
        pub.library.push(got.pubLib!);
        pubSame.library.push(got.pubLib!);
        pub.raw.push(got.pubWin!);
        pubSame.raw.push(got.pubAwait!);
        cons.library.push(got.consLib!);
        cons.raw.push(got.consRaw!);
      });
    }
    results.push(pub.row(), pubSame.row(), cons.row());
    if (type === options.queueTypes[0]) {
      const lat = await latencyScenario(cfg, target, raw, type);
      results.push(...lat.map((c) => c.row()));
      results.push(
        pub.cpuRow(`confirmed publish (${type}, raw window)`, cfg.messages),
        pubSame.cpuRow(`confirmed publish (${type}, raw awaiting)`, cfg.messages),
        cons.cpuRow(`consume + ack (${type})`, cfg.messages),
        ...pub.memoryRows(`confirmed publish (${type}, raw window)`),
        ...pubSame.memoryRows(`confirmed publish (${type}, raw awaiting)`),
        ...cons.memoryRows(`consume + ack (${type})`),
        ...lat[0]!.memoryRows(`latency run (${type})`),
      );
    } else {
      results.push(
        pub.cpuRow(`confirmed publish (${type}, raw window)`, cfg.messages),
        pubSame.cpuRow(`confirmed publish (${type}, raw awaiting)`, cfg.messages),
        cons.cpuRow(`consume + ack (${type})`, cfg.messages),
      );
    }
  }
  return {
    adapter: 'rabbitmq',
    broker: `RabbitMQ ${fixture.version} single node (${fixture.cluster}, 127.0.0.1), amqplib 2.3.1, durable ${options.queueTypes.join(' and ')} queue(s)`,
    results,
  };
}

async function latencyScenario(
  cfg: BenchConfig,
  target: LibraryTarget,
  raw: Raw,
  type: QueueType,
): Promise<Comparison[]> {
  const label = `${cfg.latencyRate} msg/s for ${cfg.latencySeconds} s (${type})`;
  const p50 = new Comparison(`latency p50, publish → handler, ${label}`, 'ms', false);
  const p99 = new Comparison(`latency p99, publish → handler, ${label}`, 'ms', false);
  const max = new Comparison(`latency max, publish → handler, ${label}`, 'ms', false);
  const push = (side: 'library' | 'raw', m: Measured<Latency>) => {
    p50[side].push({ ...m, value: m.value.p50 });
    p99[side].push({ ...m, value: m.value.p99 });
    max[side].push({ ...m, value: m.value.max });
  };
  const reps = cfg.repetitions;
  for (let rep = 1; rep <= reps; rep++) {
    await retrying(`latency ${rep}/${reps}`, cfg.log, async () => {
      const l = freshName('lb', 'lat-lib', rep);
      const r = freshName('lb', 'lat-raw', rep);
      let lib: Measured<Latency> | undefined;
      let rawM: Measured<Latency> | undefined;
      try {
        await raw.declare(r, type);
        await alternate(
          rep,
          async () => {
            lib = await measured(() => libraryLatency(target, l, cfg));
            cfg.log(`  latency ${rep}/${reps} library: ${describeLatency(lib)}`);
          },
          async () => {
            rawM = await measured(() => raw.latency(r, cfg));
            cfg.log(`  latency ${rep}/${reps} raw: ${describeLatency(rawM)}`);
          },
        );
      } finally {
        await raw.remove(l);
        await raw.remove(r);
      }
      push('library', lib!);
      push('raw', rawM!);
    });
  }
  return [p50, p99, max];
}

function describeLatency(m: Measured<Latency>): string {
  return (
    `p50 ${m.value.p50.toFixed(2)} ms, p99 ${m.value.p99.toFixed(2)} ms, max ${m.value.max.toFixed(1)} ms, ` +
    `${m.value.received}/${m.value.sent} (${mem(m)})`
  );
}
