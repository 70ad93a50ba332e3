// The RabbitMQ scenario with a small number of orders: the warehouse and the broker are SIGKILLed on the way,
// and still every confirmed order is shipped exactly once according to the warehouse's ledger.
import { rabbitmqExample } from '@lossless/example-rabbitmq';
import { beforeAll, describe, expect, it } from 'vitest';
import { readLedger } from './ledger.js';
import { runScenario } from './scenario.js';

describe('order → warehouse on RabbitMQ', () => {
  // A cold start (installing rabbitmq-server) counts against the hook timeout, not the test's.
  beforeAll(() => rabbitmqExample.broker(() => {}).up());

  it('ships every confirmed order exactly once although the warehouse and the broker were killed', async () => {
    const lines: string[] = [];
    const a = await runScenario(rabbitmqExample, {
      orders: 300,
      callers: 16,
      ratePerSecond: 200,
      shipDeadlineMs: 60_000,
      log: (line) => {
        lines.push(line);
        console.log(line);
      },
    });

    expect(a.warehouseKills).toBe(1);
    expect(a.brokerKills).toBe(1);
    expect(lines.some((l) => l.includes('killing the warehouse (SIGKILL) while it holds'))).toBe(true);
    expect(a.published).toBe(300);
    expect(a.confirmed + a.unconfirmed).toBe(300);
    expect(a.lost).toBe(0);
    expect(a.phantom).toBe(0);
    expect(a.duplicates).toBeGreaterThanOrEqual(0);

    // The ledger itself: each confirmed message id shipped exactly once, duplicates recorded, never re-shipped.
    const shipments = new Map<string, number>();
    for (const line of readLedger(a.ledgerFile)) {
      if (line.kind === 'shipped') shipments.set(line.id, (shipments.get(line.id) ?? 0) + 1);
    }
    expect(a.confirmedIds).toHaveLength(a.confirmed);
    expect(a.confirmedIds.filter((id) => shipments.get(id) !== 1)).toEqual([]);
    expect([...shipments.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);
});
