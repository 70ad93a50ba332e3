// PG-E2E, the end-to-end chaos case of @lossless/postgres on each real broker: order rows and their messages
// committed in one transaction (outbox), shipments written in the inbox's transaction; the order service
// SIGKILLed before a COMMIT, right after one and after a relay batch's broker confirm, PostgreSQL SIGKILLed and
// restarted, the warehouse SIGKILLed between its COMMIT and its ack, the broker SIGKILLed and restarted. The
// database decides: every committed order has exactly one shipment row, no shipment lacks a committed order.
import { describe, expect, it } from 'vitest';
import { type PgAccounting, runPgScenario } from './pg-scenario.js';
import type { ExampleTarget } from './target.js';

const TARGETS: [string, () => Promise<ExampleTarget>][] = [
  ['RabbitMQ', async () => (await import('@lossless/example-rabbitmq')).rabbitmqExample as ExampleTarget],
  ['Kafka', async () => (await import('@lossless/example-kafka')).kafkaExample as ExampleTarget],
  ['RocketMQ', async () => (await import('@lossless/example-rocketmq')).rocketmqExample as ExampleTarget],
];

describe.each(TARGETS)('PG-E2E order → warehouse through PostgreSQL on %s', (name, load) => {
  it('ships every committed order exactly once although every process, the broker and the database were killed', async () => {
    const a: PgAccounting = await runPgScenario(await load(), {
      orders: 400,
      log: (line) => console.log(line),
    });

    // Every planned crash happened, each a SIGKILL at its point.
    expect(a.kills).toHaveLength(6);
    for (const what of [
      /^order service #1 SIGKILLed before the COMMIT of order /,
      /^order service #2 SIGKILLed right after the COMMIT of order /,
      /^order service #3 SIGKILLed after its relay's broker confirm #\d+, before the batch's rows were deleted/,
      /^PostgreSQL SIGKILLed with \d+ orders committed/,
      /^warehouse #1 SIGKILLed after the COMMIT of a shipment, before its ack/,
      new RegExp(`^${name} SIGKILLed with \\d+ orders committed, back after`),
    ]) {
      expect(a.kills.some((k) => what.test(k))).toBe(true);
    }
    expect(a.uncommittedAtKill).toHaveLength(1);

    // The database's count: exactly once per committed order.
    expect(a.committedOrders).toBeGreaterThanOrEqual(400);
    expect(a.lost).toBe(0);
    expect(a.duplicateEffects).toBe(0);
    expect(a.phantom).toBe(0);
    expect(a.shipments).toBe(a.committedOrders);
    expect(a.outboxLeft).toBe(0);
    console.log(
      JSON.stringify({
        case: 'PG-E2E',
        broker: a.broker,
        committed: a.committedOrders,
        shipments: a.shipments,
        lost: a.lost,
        duplicateEffects: a.duplicateEffects,
        phantom: a.phantom,
        inboxSkips: a.inboxDuplicates,
        failedTransactions: a.failedTransactions,
        seconds: a.seconds,
      }),
    );
  }, 900_000);
});
