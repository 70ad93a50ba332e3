// `npm run demo -- --trace`: one paid order followed with OpenTelemetry. The order service publishes it, the
// warehouse's first attempt fails (its database "times out"), the redelivery ships it — and all of it is one
// trace: publish, the failed process span, the redelivery's process span and the handler's own span. Spans go
// to the SDK's console exporter (or, with OTEL_EXPORTER_OTLP_ENDPOINT set and
// @opentelemetry/exporter-trace-otlp-http installed, to that collector), and a tree of the trace is printed.
import type { BrokerSettings } from '@lossless/brokers';
import { connect } from '@lossless/core';
import { context, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  ConsoleSpanExporter,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { type OrderPaid, orderTopology, WAREHOUSE_SUBSCRIPTION } from './events.js';
import { quietLogger } from './report.js';
import type { ExampleTarget } from './target.js';

export interface TracedRun {
  /** The spans of the order's trace, as exported. */
  spans: readonly ReadableSpan[];
  /** true when every span of the run (the request, publish, both handler runs, the shipment) is one trace. */
  oneTrace: boolean;
  /** The printed tree. */
  tree: string;
}

/** Where spans go besides memory: an OTLP collector when configured and installed, else the console. */
async function exporter(log: (line: string) => void, quiet: boolean): Promise<SpanExporter | undefined> {
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint) {
    try {
      const otlp = (await import(
        // Not a dependency: installed by whoever runs a collector.
        '@opentelemetry/exporter-trace-otlp-http' as string
      )) as { OTLPTraceExporter: new () => SpanExporter };
      log(`spans also go to the OTLP collector at ${endpoint}`);
      return new otlp.OTLPTraceExporter();
    } catch {
      log('OTEL_EXPORTER_OTLP_ENDPOINT is set, but @opentelemetry/exporter-trace-otlp-http is not installed');
    }
  }
  return quiet ? undefined : new ConsoleSpanExporter();
}

export async function runTraced<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  options: { log?: (line: string) => void; quiet?: boolean } = {},
): Promise<TracedRun> {
  const log = options.log ?? ((line: string) => console.log(line));
  const memory = new InMemorySpanExporter();
  const extra = await exporter(log, options.quiet === true);
  const spanProcessors: SpanProcessor[] = [new SimpleSpanProcessor(memory)];
  if (extra) spanProcessors.push(new SimpleSpanProcessor(extra));
  const tracerProvider = new BasicTracerProvider({ spanProcessors });
  // What an SDK's start() does: the context manager (so a handler's spans nest) and the providers.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const telemetry = { tracerProvider, propagator: new W3CTraceContextPropagator() };

  const broker = target.broker(log);
  log(`starting ${target.name} through the broker kit…`);
  await broker.up();
  const factory = await target.adapter();
  const topic = `traced-${Date.now().toString(36)}`;
  const logger = quietLogger(log);
  const orders = await connect(factory(broker.settings, logger), { logger, telemetry });
  const warehouse = await connect(factory(broker.settings, logger), { logger, telemetry });
  try {
    await orders.declare(orderTopology(topic));
    const tracer = tracerProvider.getTracer('warehouse');
    let shipped!: () => void;
    const done = new Promise<void>((resolve) => {
      shipped = resolve;
    });
    const sub = await warehouse.subscribe(
      topic,
      WAREHOUSE_SUBSCRIPTION,
      async (d) => {
        const order = d.json<OrderPaid>();
        if (d.attempt === 1) throw new Error(`warehouse database timed out shipping ${order.orderId}`);
        // The handler's own work, a child of its process span.
        await tracer.startActiveSpan(`ship order ${order.orderId}`, async (span: Span) => {
          span.end();
        });
        shipped();
      },
      { redeliveryBackoff: { initialDelayMs: 200, maxDelayMs: 200, jitter: 'none' } },
    );
    const order: OrderPaid = {
      type: 'OrderPaid',
      orderId: 'o-1',
      customerId: 'c-1',
      amountCents: 4200,
      paidAt: new Date().toISOString(),
    };
    // The order service's own request span: the publish span becomes its child.
    await tracerProvider
      .getTracer('order-service')
      .startActiveSpan('POST /orders/o-1/pay', async (span: Span) => {
        await orders.publish(topic, { body: JSON.stringify(order), key: order.orderId });
        span.end();
      });
    await done;
    await sub.close();
  } finally {
    await orders.close();
    await warehouse.close();
  }
  const spans = memory.getFinishedSpans();
  const publish = spans.find((s) => s.name === `publish ${topic}`);
  const oneTrace =
    publish !== undefined && spans.every((s) => s.spanContext().traceId === publish.spanContext().traceId);
  const tree = drawTree(spans);
  log(`\n${tree}\none trace: ${oneTrace ? 'yes' : 'NO'}`);
  context.disable();
  return { spans, oneTrace, tree };
}

/** The spans as an indented tree by parent, with kind, attempt and status. */
function drawTree(spans: readonly ReadableSpan[]): string {
  const kinds = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  const roots = spans.filter((s) => !s.parentSpanContext || !ids.has(s.parentSpanContext.spanId));
  const lines: string[] = [];
  const walk = (span: ReadableSpan, depth: number) => {
    const attempt = span.attributes['lossless.delivery.attempt'];
    const ms = span.duration[0] * 1e3 + span.duration[1] / 1e6;
    lines.push(
      `${'  '.repeat(depth)}${span.name}  ${kinds[span.kind] ?? ''}` +
        `${attempt === undefined ? '' : `  attempt ${attempt}`}  ${ms.toFixed(1)} ms` +
        `${span.status.code === 2 ? `  ERROR ${span.status.message ?? ''}` : ''}`,
    );
    const children = spans
      .filter((c) => c.parentSpanContext?.spanId === span.spanContext().spanId)
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    for (const c of children) walk(c, depth + 1);
  };
  for (const root of roots) {
    lines.push(`trace ${root.spanContext().traceId}`);
    walk(root, 1);
  }
  return lines.join('\n');
}
