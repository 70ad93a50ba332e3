// Output: progress lines with the elapsed time, a logger that keeps the library's warnings readable while
// brokers die (each distinct warning once), and the accounting table.

import type { Logger } from '@lossless/core';

/** What the scenario counted, from the order service's receipts and the warehouse's ledger. */
export interface Accounting {
  broker: string;
  /** Orders the order service tried to publish. */
  published: number;
  /** Publishes that resolved: the broker confirmed them durably. */
  confirmed: number;
  /** Publishes that rejected, by error code: not confirmed, so not promised (the caller knows). */
  unconfirmed: number;
  unconfirmedByCode: Record<string, number>;
  /** Distinct orders shipped (message ids in the ledger). */
  delivered: number;
  /** Of those, orders whose publish was rejected but that the broker had stored anyway. */
  deliveredUnconfirmed: number;
  /** Redeliveries of shipped orders that the warehouse recognised by message id and did not ship again. */
  duplicates: number;
  /** Message ids of the confirmed publishes. */
  confirmedIds: readonly string[];
  /** Confirmed orders that were never shipped. Must be 0. */
  lost: number;
  /** Shipped messages nobody published. Must be 0. */
  phantom: number;
  /** Message ids the ledger shows as shipped more than once. Must be 0. */
  shippedTwice: number;
  warehouseKills: number;
  brokerKills: number;
  ledgerFile: string;
  seconds: number;
}

/** A progress printer: `[ 12.3 s] line`, the time since `started`. */
export function progress(
  log: (line: string) => void = console.log,
  started = Date.now(),
): (line: string) => void {
  return (line) => log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
}

/** A logger that prints each distinct warning or error once (at most `max`), then stays quiet. */
export function quietLogger(say: (line: string) => void, max = 12): Logger {
  const seen = new Set<string>();
  const print = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    const detail = meta?.error ?? meta?.reason;
    const flat = `${message}${detail === undefined ? '' : `: ${String(detail)}`}`.replace(/\s+/g, ' ');
    const line = flat.length > 220 ? `${flat.slice(0, 219)}…` : flat;
    const key = line.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|\d+/g, '#');
    if (seen.has(key) || seen.size >= max) return;
    seen.add(key);
    say(`(${level}) ${line}`);
  };
  const noop = () => {};
  return { debug: noop, info: noop, warn: print('warning'), error: print('error') };
}

/** The accounting table and the final `lost:` line. */
export function formatAccounting(a: Accounting): string {
  const codes = Object.entries(a.unconfirmedByCode)
    .map(([code, n]) => `${code} ×${n}`)
    .join(', ');
  const rows: [string, number, string][] = [
    ['published', a.published, 'OrderPaid events the order service tried to publish'],
    ['confirmed', a.confirmed, 'publish() resolved: the broker had them durably'],
    ['unconfirmed', a.unconfirmed, codes ? `publish() rejected: ${codes}` : 'publish() rejected'],
    [
      'delivered',
      a.delivered,
      a.deliveredUnconfirmed > 0
        ? `orders shipped (${a.deliveredUnconfirmed} unconfirmed ones the broker had stored anyway)`
        : 'orders shipped, each once',
    ],
    ['duplicates', a.duplicates, 'redeliveries the warehouse recognised by message id'],
    ['lost', a.lost, 'confirmed but never shipped'],
  ];
  if (a.phantom > 0) rows.push(['phantom', a.phantom, 'shipped but never published']);
  if (a.shippedTwice > 0) rows.push(['shipped twice', a.shippedTwice, 'the same message id shipped again']);
  const width = Math.max(...rows.map(([, n]) => String(n).length));
  return [
    `order → warehouse on ${a.broker}: ${a.warehouseKills} warehouse kill(s), ${a.brokerKills} broker kill(s), ${a.seconds.toFixed(1)} s`,
    '',
    ...rows.map(([name, n, what]) => `  ${name.padEnd(13)} ${String(n).padStart(width)}   ${what}`),
    '',
    `ledger: ${a.ledgerFile}`,
    `lost: ${a.lost}`,
  ].join('\n');
}
