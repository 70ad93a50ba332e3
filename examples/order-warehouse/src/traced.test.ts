// `npm run demo -- --trace` on RabbitMQ: one order whose first handling fails is one trace — the order service's
// request, the publish, the failed process span (attempt 1, error), the redelivery's process span (attempt 2) and
// the handler's own span inside it.
import { rabbitmqExample } from '@lossless/example-rabbitmq';
import { describe, expect, it } from 'vitest';
import { runTraced } from './traced.js';

describe('order → warehouse, traced', () => {
  it('one trace from the request through the failed attempt and the redelivery to the shipment', async () => {
    const run = await runTraced(rabbitmqExample, { log: () => {}, quiet: true });
    expect(run.oneTrace).toBe(true);
    const names = run.spans.map((s) => s.name.replace(/traced-\S+/, 'T')).sort();
    expect(names).toEqual(['POST /orders/o-1/pay', 'process T', 'process T', 'publish T', 'ship order o-1']);
    const runs = run.spans.filter((s) => s.name.startsWith('process '));
    expect(runs.map((s) => [s.attributes['lossless.delivery.attempt'], s.status.code])).toEqual([
      [1, 2],
      [2, 0],
    ]);
    const ship = run.spans.find((s) => s.name === 'ship order o-1');
    expect(ship?.parentSpanContext?.spanId).toBe(runs[1]?.spanContext().spanId);
    expect(run.tree).toContain('ERROR warehouse database timed out shipping o-1');
  });
});
