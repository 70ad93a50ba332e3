// RocketMQ 5: @lossless/rocketmq through core against raw rocketmq-client-nodejs on the kit's broker (gRPC
// proxy). Topology (a NORMAL topic with the driver's default 4 queues and its consumer group) is created for
// both sides by the library's declare(): the raw side then uses the same topic and group name, so the broker
// does the same work; only the client path differs. Raw sends carry no properties (the library adds its id,
// timestamp and headers as message properties).
import { rocketmq as rocketmqBroker } from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import { consumerGroupName, deadLetterGroupName, deadLetterTopicName, rocketmq } from '@lossless/rocketmq';
import { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';
import { type BenchConfig, type Latency, latch, rate, within } from './harness.js';
import { LatencySamples, type LibraryTarget, libraryDeclare, pacedLatency, SUBSCRIPTION } from './library.js';
import type { AdapterReport } from './rabbitmq.js';
import { receiveLoop } from './rocketmq-receive.js';
import { runScenarios } from './runner.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

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

  async consume(topic: string, total: number, prefetch: number): Promise<number> {
    const consumer = await this.consumer(topic);
    try {
      let acked = 0;
      const { promise: finished, resolve: done } = latch();
      // The clock starts at the first message on both sides: the library's subscribe() also checks the group
      // and its dead-letter topic over the admin protocol and starts its consumer, which is not consuming.
      let started = 0;
      // Counts acks, not receipts: the ack's round trip is part of consuming.
      const loop = receiveLoop(
        consumer,
        prefetch,
        () => {
          if (started === 0) started = performance.now();
        },
        {
          onAcked: () => {
            if (++acked !== total) return;
            done();
            loop.stop();
          },
        },
      );
      const failed = loop.finished.then(() => {
        throw new Error('the receive loop ended early');
      });
      failed.catch(() => {});
      await within(Promise.race([finished, failed]), 300_000, `raw consume of ${topic}`);
      const result = rate(total, started);
      await loop.finished.catch(() => {});
      return result;
    } finally {
      await consumer.shutdown();
    }
  }

  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    const producer = await this.producer(topic);
    const consumer = await this.consumer(topic);
    try {
      const samples = new LatencySamples();
      const loop = receiveLoop(consumer, cfg.concurrency, (view) =>
        samples.record(view.body.readDoubleLE(0)),
      );
      let failures = 0;
      const latency = await pacedLatency(
        cfg,
        samples,
        (body) => producer.send({ topic, body }),
        (body) => {
          producer.send({ topic, body }).catch(() => {
            failures++;
          });
        },
        () => failures,
      );
      loop.stop();
      await loop.finished.catch(() => {});
      return latency;
    } finally {
      await consumer.shutdown();
      await producer.shutdown();
    }
  }
}

export async function rocketmqBench(
  cfg: BenchConfig,
  options: { secure?: boolean } = {},
): Promise<AdapterReport | string> {
  if (options.secure) {
    // The raw client can enable TLS (`sslEnabled`) but takes no CA: grpc-js trusts the kit's CA only through
    // GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, read when grpc-js loads; and the driver has no tls/auth options yet.
    return 'no secured run yet: rocketmq-client-nodejs 1.0.8 takes no CA (see bench/README.md, "Secured runs")';
  }
  const fixture = rocketmqBroker();
  cfg.log(`rocketmq: bringing up ${fixture.cluster} through the broker kit…`);
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
  const remove = async (topic: string) => {
    const a = fixture.admin;
    for (const t of [topic, deadLetterTopicName(topic, SUBSCRIPTION)]) await a.deleteTopic(t).catch(() => {});
    for (const g of [consumerGroupName(topic, SUBSCRIPTION), deadLetterGroupName(topic, SUBSCRIPTION)]) {
      await a.deleteGroup(g).catch(() => {});
    }
  };
  const results = await runScenarios(
    {
      target,
      declare: (topic) => libraryDeclare(target, topic),
      remove,
      publish: {
        scenario: `confirmed publish: library ${cfg.concurrency} awaiting callers vs raw ${cfg.concurrency} concurrent sync sends`,
        label: 'confirmed publish',
        line: 'publish raw',
        run: (topic, c) => raw.publish(topic, c.messages, c.concurrency),
      },
      consume: {
        scenario: `consume + ack: concurrency ${cfg.concurrency} vs receive loop, ${cfg.concurrency} unacked (from 1st message)`,
        label: 'consume + ack',
        run: (topic, c) => raw.consume(topic, c.messages, c.concurrency),
      },
      fromFirstDelivery: true,
      latency: (topic, c) => raw.latency(topic, c),
    },
    cfg,
    // A twentieth of the messages: this broker hands out a few hundred msg/s (see cli.ts).
    { warmUp: { messages: Math.max(500, Math.floor(cfg.messages / 20)), log: true } },
  );
  return {
    adapter: 'rocketmq',
    broker: `RocketMQ ${fixture.version} (${fixture.cluster}, proxy ${endpoints}), rocketmq-client-nodejs 1.0.8, NORMAL topic with 4 queues`,
    secure: false,
    results,
  };
}
