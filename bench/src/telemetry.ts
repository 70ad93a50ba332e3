// What OpenTelemetry costs, on RabbitMQ and Kafka: the library's confirmed publish and its consume with
// telemetry off (`telemetry: false`), with the API installed but no SDK registered (the default for anyone who
// has @opentelemetry/api in node_modules), and with an SDK (a tracer provider with a batch span processor and a
// meter provider) whose exporter drops everything — the cost of making spans and metric points, not of
// shipping them. Same broker, same run, alternating; each mode against "off": msg/s and CPU µs per message.
import { kafka as kafkaBroker, rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { type ConnectOptions, silentLogger } from '@lossless/core';
import { rabbitmq } from '@lossless/rabbitmq';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { alternate, type BenchConfig, Comparison, firstUrl, freshName, measured } from './harness.js';
import { kafkaTarget } from './kafka.js';
import { type LibraryTarget, libraryConsume, libraryPublish } from './library.js';
import type { AdapterReport } from './rabbitmq.js';
import type { ResultRow } from './stats.js';

/** Drops every span: the SDK's work without the network. */
const dropAll: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

class NeverCollected extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function sdkOptions(): ConnectOptions {
  return {
    telemetry: {
      tracerProvider: new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropAll)] }),
      meterProvider: new MeterProvider({ readers: [new NeverCollected()] }),
      propagator: new W3CTraceContextPropagator(),
    },
  };
}

const MODES = [
  { name: 'API, no SDK', options: (): ConnectOptions => ({}) },
  { name: 'SDK, spans dropped', options: sdkOptions },
] as const;
const OFF: ConnectOptions = { telemetry: false };

/** One adapter: publish and consume, each mode against off. */
async function measureTarget(target: LibraryTarget, cfg: BenchConfig, label: string): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const mode of MODES) {
    const publish = new Comparison(`${label} confirmed publish, ${mode.name} / off`, 'msg/s', true);
    const consume = new Comparison(`${label} consume, ${mode.name} / off`, 'msg/s', true);
    for (let rep = 1; rep <= cfg.repetitions; rep++) {
      const on = freshName('tel', 'on', rep);
      const off = freshName('tel', 'off', rep);
      await alternate(
        rep,
        async () => {
          publish.library.push(await measured(() => libraryPublish(target, on, cfg, mode.options())));
        },
        async () => {
          publish.raw.push(await measured(() => libraryPublish(target, off, cfg, OFF)));
        },
      );
      // Each side consumes what it published: the SDK side's messages carry trace context to extract.
      await alternate(
        rep,
        async () => {
          consume.library.push(await measured(() => libraryConsume(target, on, cfg, true, mode.options())));
        },
        async () => {
          consume.raw.push(await measured(() => libraryConsume(target, off, cfg, true, OFF)));
        },
      );
      cfg.log(`  telemetry ${label} ${mode.name} ${rep}/${cfg.repetitions}`);
    }
    rows.push(publish.row(), publish.cpuRow(`${label} publish, ${mode.name} / off`, cfg.messages));
    rows.push(consume.row(), consume.cpuRow(`${label} consume, ${mode.name} / off`, cfg.messages));
  }
  return rows;
}

export async function telemetryBench(cfg: BenchConfig): Promise<AdapterReport> {
  const rabbit = rabbitmqBroker();
  const kafka = kafkaBroker();
  cfg.log('telemetry: bringing up RabbitMQ and Kafka through the broker kit…');
  await Promise.all([rabbit.up(), kafka.up()]);
  const url = firstUrl(rabbit.settings);
  const rabbitTarget: LibraryTarget = {
    driver: () => rabbitmq({ url, logger: silentLogger }),
    topology: (topic, subscription) => ({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic, queueType: 'classic' }],
    }),
  };
  const results = [
    ...(await measureTarget(rabbitTarget, cfg, 'RabbitMQ')),
    ...(await measureTarget(kafkaTarget([...kafka.settings.brokers]), cfg, 'Kafka')),
  ];
  return {
    adapter: 'telemetry (mode / off)',
    broker: `rabbitmq ${rabbit.version}, kafka ${kafka.version}`,
    results,
  };
}
