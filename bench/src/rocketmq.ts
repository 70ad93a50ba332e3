// RocketMQ 5: @lossless/rocketmq through core against raw rocketmq-client-nodejs on the kit's broker (gRPC
// proxy). Topology (a NORMAL topic with the driver's default 4 queues and its consumer group) is created for
// both sides by the library's declare(): the raw side then uses the same topic and group name, so the broker
// does the same work; only the client path differs. Raw sends carry no properties (the library adds its id,
// timestamp and headers as message properties).
import { rocketmq as rocketmqBroker } from '@lossless/brokers';
import { connect, silentLogger } from '@lossless/core';
import { consumerGroupName, deadLetterGroupName, deadLetterTopicName, rocketmq } from '@lossless/rocketmq';
import { type MessageView, Producer, SimpleConsumer } from 'rocketmq-client-nodejs';
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
import type { AdapterReport } from './rabbitmq.js';
import type { ResultRow } from './stats.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
/** The proxy caps one receive at 32 messages; invisible time as the driver's default. */
const RECEIVE_MAX = 32;
const INVISIBLE_MS = 30_000;

class Raw {
  constructor(
    private readonly endpoints: string,
    private readonly bodyBytes: number,
  ) {}

  private async producer(topic: string): Promise<Producer> {
    const p = new Producer({
      endpoints: this.endpoints,
      namespace: '',
      maxAttempts: 1,
      topic,
      logger: quiet,
    });
    await p.startup();
    return p;
  }

  private async consumer(topic: string): Promise<SimpleConsumer> {
    const c = new SimpleConsumer({
      endpoints: this.endpoints,
      namespace: '',
      consumerGroup: consumerGroupName(topic, SUBSCRIPTION),
      subscriptions: new Map([[topic, '*']]),
      awaitDuration: 5_000,
      logger: quiet,
    });
    await c.startup();
    return c;
  }

  /** `callers` concurrent synchronous sends (the client's way to pipeline: there is no batch or window API). */
  async publish(topic: string, total: number, callers: number): Promise<number> {
    const producer = await this.producer(topic);
    try {
      const body = Buffer.alloc(this.bodyBytes, 7);
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: callers }, async () => {
          while (next++ < total) await producer.send({ topic, body });
        }),
      );
      return rate(total, started);
    } finally {
      await producer.shutdown();
    }
  }

  /**
   * One receive loop keeping at most `prefetch` messages unacked (as the driver does), each acked right after
   * the handler, until `stop()` says so. `onAcked` runs once the broker answered the ack.
   */
  private async receiveLoop(
    consumer: SimpleConsumer,
    prefetch: number,
    onMessage: (view: MessageView) => void,
    onAcked: () => void,
    stop: () => boolean,
  ): Promise<void> {
    let outstanding = 0;
    let wake: (() => void) | undefined;
    while (!stop()) {
      if (outstanding >= prefetch) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const views = await consumer.receive(Math.min(RECEIVE_MAX, prefetch - outstanding), INVISIBLE_MS);
      for (const view of views) {
        outstanding++;
        void Promise.resolve()
          .then(() => onMessage(view))
          .then(() => consumer.ack(view))
          .then(onAcked)
          .finally(() => {
            outstanding--;
            wake?.();
            wake = undefined;
          });
      }
    }
  }

  async consume(topic: string, total: number, prefetch: number): Promise<number> {
    const consumer = await this.consumer(topic);
    try {
      let acked = 0;
      let done!: () => void;
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      // The clock starts at the first message on both sides: the library's subscribe() also checks the group
      // and its dead-letter topic over the admin protocol and starts its consumer, which is not consuming.
      let started = 0;
      // Counts acks, not receipts: the ack's round trip is part of consuming.
      const loop = this.receiveLoop(
        consumer,
        prefetch,
        () => {
          if (started === 0) started = performance.now();
        },
        () => {
          if (++acked === total) done();
        },
        () => acked >= total,
      );
      const failed = loop.then(() => {
        throw new Error('the receive loop ended early');
      });
      failed.catch(() => {});
      await within(Promise.race([finished, failed]), 300_000, `raw consume of ${topic}`);
      const result = rate(total, started);
      await loop.catch(() => {});
      return result;
    } finally {
      await consumer.shutdown();
    }
  }

  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    const producer = await this.producer(topic);
    const consumer = await this.consumer(topic);
    try {
      const samples: number[] = [];
      let primed = false;
      let stopped = false;
      const loop = this.receiveLoop(
        consumer,
        cfg.concurrency,
        (view) => {
          const sentAt = view.body.readDoubleLE(0);
          if (sentAt < 0) primed = true;
          else samples.push(performance.now() - sentAt);
        },
        () => {},
        () => stopped,
      );
      await producer.send({ topic, body: probe(cfg) });
      await drained(
        () => (primed ? 1 : 0),
        1,
        () => 0,
      );
      let failures = 0;
      const sent = await paced(cfg, (body) => {
        producer.send({ topic, body }).catch(() => {
          failures++;
        });
      });
      await drained(
        () => samples.length,
        sent,
        () => failures,
      );
      stopped = true;
      await loop.catch(() => {});
      return latencyOf(samples, sent);
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  }
}

function mem(m: Measured<unknown>): string {
  return `rss ${Math.round(m.peakRssMiB)} MiB, heap +${Math.round(m.peakHeapMiB)} MiB, cpu ${Math.round(m.cpuMs)} ms`;
}

export async function rocketmqBench(cfg: BenchConfig): Promise<AdapterReport | string> {
  const { log } = cfg;
  const fixture = rocketmqBroker();
  log(`rocketmq: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const { endpoints, namesrv, cluster } = fixture.settings;
  const target: LibraryTarget = {
    driver: () => rocketmq({ endpoints, namesrv, cluster, logger: silentLogger }),
    topology: (topic, subscription) => ({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic }],
    }),
  };
  const raw = new Raw(endpoints, cfg.bodyBytes);
  const declare = async (topic: string) => {
    const bus = await connect(target.driver(), { logger: silentLogger });
    await bus.declare(target.topology(topic, SUBSCRIPTION));
    await bus.close();
  };
  const remove = async (topic: string) => {
    const a = fixture.admin;
    for (const t of [topic, deadLetterTopicName(topic, SUBSCRIPTION)]) await a.deleteTopic(t).catch(() => {});
    for (const g of [consumerGroupName(topic, SUBSCRIPTION), deadLetterGroupName(topic, SUBSCRIPTION)]) {
      await a.deleteGroup(g).catch(() => {});
    }
  };
  const results: ResultRow[] = [];
  {
    // Warm-up, and a check that the driver works before the long run.
    const warm = { ...cfg, messages: Math.max(500, Math.floor(cfg.messages / 20)) };
    const l = freshName('lb', 'warm-lib', 0);
    const r = freshName('lb', 'warm-raw', 0);
    await declare(r);
    log(`  warm-up: library ${fmtRate(await libraryPublish(target, l, warm))}`);
    log(`  warm-up: raw ${fmtRate(await raw.publish(r, warm.messages, cfg.concurrency))}`);
    await libraryConsume(target, l, warm, true);
    await raw.consume(r, warm.messages, cfg.concurrency);
    await remove(l);
    await remove(r);
  }
  const pub = new Comparison(
    `confirmed publish: library ${cfg.concurrency} awaiting callers vs raw ${cfg.concurrency} concurrent sync sends`,
    'msg/s',
    true,
  );
  const cons = new Comparison(
    `consume + ack: concurrency ${cfg.concurrency} vs receive loop, ${cfg.concurrency} unacked (from 1st message)`,
    'msg/s',
    true,
  );
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    const tag = `${rep}/${cfg.repetitions}`;
    // A repetition counts only when all its sides completed; a failed one is measured again.
    await retrying(`repetition ${tag}`, log, async () => {
      const l = freshName('lb', 'lib', rep);
      const r = freshName('lb', 'raw', rep);
      const got: Record<string, Measured<number>> = {};
      const side = async (key: string, label: string, run: () => Promise<number>) => {
        const m = await measured(run);
        got[key] = m;
        log(`  ${tag} ${label}: ${fmtRate(m.value)} (${mem(m)})`);
      };
      try {
        await declare(r);
        await alternate(
          rep,
          () => side('pubLib', 'publish library', () => libraryPublish(target, l, cfg)),
          () => side('pubRaw', 'publish raw', () => raw.publish(r, cfg.messages, cfg.concurrency)),
        );
        await alternate(
          rep,
          () => side('consLib', 'consume library', () => libraryConsume(target, l, cfg, true)),
          () => side('consRaw', 'consume raw', () => raw.consume(r, cfg.messages, cfg.concurrency)),
        );
      } finally {
        await remove(l);
        await remove(r);
      }
      pub.library.push(got.pubLib!);
      pub.raw.push(got.pubRaw!);
      cons.library.push(got.consLib!);
      cons.raw.push(got.consRaw!);
    });
  }
  const label = `${cfg.latencyRate} msg/s for ${cfg.latencySeconds} s`;
  const p50 = new Comparison(`latency p50, publish → handler, ${label}`, 'ms', false);
  const p99 = new Comparison(`latency p99, publish → handler, ${label}`, 'ms', false);
  const max = new Comparison(`latency max, publish → handler, ${label}`, 'ms', false);
  const push = (side: 'library' | 'raw', m: Measured<Latency>) => {
    p50[side].push({ ...m, value: m.value.p50 });
    p99[side].push({ ...m, value: m.value.p99 });
    max[side].push({ ...m, value: m.value.max });
  };
  const describe = (m: Measured<Latency>) =>
    `p50 ${m.value.p50.toFixed(2)} ms, p99 ${m.value.p99.toFixed(2)} ms, max ${m.value.max.toFixed(1)} ms (${mem(m)})`;
  for (let rep = 1; rep <= cfg.repetitions; rep++) {
    await retrying(`latency ${rep}/${cfg.repetitions}`, log, async () => {
      const l = freshName('lb', 'lat-lib', rep);
      const r = freshName('lb', 'lat-raw', rep);
      let lib: Measured<Latency> | undefined;
      let rawM: Measured<Latency> | undefined;
      try {
        await declare(r);
        await alternate(
          rep,
          async () => {
            lib = await measured(() => libraryLatency(target, l, cfg));
            log(`  latency ${rep}/${cfg.repetitions} library: ${describe(lib)}`);
          },
          async () => {
            rawM = await measured(() => raw.latency(r, cfg));
            log(`  latency ${rep}/${cfg.repetitions} raw: ${describe(rawM)}`);
          },
        );
      } finally {
        await remove(l);
        await remove(r);
      }
      push('library', lib!);
      push('raw', rawM!);
    });
  }
  results.push(
    pub.row(),
    cons.row(),
    p50.row(),
    p99.row(),
    max.row(),
    pub.cpuRow('confirmed publish', cfg.messages),
    cons.cpuRow('consume + ack', cfg.messages),
    ...pub.memoryRows('confirmed publish'),
    ...cons.memoryRows('consume + ack'),
    ...p50.memoryRows('latency run'),
  );
  return {
    adapter: 'rocketmq',
    broker: `RocketMQ ${fixture.version} (${fixture.cluster}, proxy ${endpoints}), rocketmq-client-nodejs 1.0.8, NORMAL topic with 4 queues`,
    results,
  };
}
