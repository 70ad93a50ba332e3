// The OpenTelemetry SDK as a user registers it, with in-memory exporters a test can read: spans from an
// InMemorySpanExporter, metric points from a reader collected on demand, W3C trace context in the headers.
// Passed to connect() as `telemetry` providers (nothing global but the context manager, which the SDKs also set).
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

class CollectOnDemand extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Registers the async-hooks context manager (what a handler's own spans need); returns the undo. */
export function useContextManager(): () => void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return () => {
    context.disable();
    propagation.disable();
  };
}

export type TestSdk = ReturnType<typeof testSdk>;

export function testSdk() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectOnDemand();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const propagator = new W3CTraceContextPropagator();
  return {
    /** What connect() takes as `telemetry`. */
    options: { tracerProvider, meterProvider, propagator },
    /** Finished spans, optionally only those of one name. */
    spans: (name?: string): ReadableSpan[] =>
      exporter.getFinishedSpans().filter((s) => name === undefined || s.name === name),
    /** Sum of a counter's points (or count of a histogram's), over every attribute set matching `where`. */
    async metric(name: string, where: Record<string, string> = {}): Promise<number> {
      const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
      let total = 0;
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const m of scope.metrics) {
          if (m.descriptor.name !== name) continue;
          for (const p of m.dataPoints) {
            if (!Object.entries(where).every(([k, v]) => p.attributes[k] === v)) continue;
            const v = p.value as number | { count: number };
            total += typeof v === 'number' ? v : v.count;
          }
        }
      }
      return total;
    },
  };
}
