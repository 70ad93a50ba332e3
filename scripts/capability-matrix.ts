// Prints the capability matrix of every adapter from what its driver declares (never connected), as markdown:
//   node scripts/run-ts.mjs scripts/capability-matrix.ts
// The README's matrix is this output.
import type { Capabilities, Driver } from '@lossless/core/driver';
import { memoryDriver } from '@lossless/core/memory';

const drivers: [string, () => Promise<Driver>][] = [
  ['memory', async () => memoryDriver()],
  [
    'rabbitmq (1 node)',
    async () => (await import('@lossless/rabbitmq')).rabbitmq({ url: 'amqp://localhost' }),
  ],
  [
    'rabbitmq (cluster)',
    async () => (await import('@lossless/rabbitmq')).rabbitmq({ urls: ['amqp://a', 'amqp://b', 'amqp://c'] }),
  ],
  ['kafka (1 broker)', async () => (await import('@lossless/kafka')).kafka({ brokers: ['localhost:9092'] })],
  [
    'kafka (3 brokers)',
    async () => (await import('@lossless/kafka')).kafka({ brokers: ['a:9092', 'b:9092', 'c:9092'] }),
  ],
  [
    'rocketmq (1 broker)',
    async () =>
      (await import('@lossless/rocketmq')).rocketmq({
        endpoints: 'localhost:8081',
        namesrv: 'localhost:9876',
      }),
  ],
  [
    'rocketmq (replicated group)',
    async () =>
      (await import('@lossless/rocketmq')).rocketmq({
        endpoints: 'localhost:8081',
        namesrv: 'localhost:9876',
        replicated: true,
      }),
  ],
];

const rows: [keyof Capabilities, string][] = [
  ['maxMessageBytes', 'largest message (body + headers)'],
  ['unroutable', 'reports a message no subscription takes (UNROUTABLE)'],
  ['nativeRedeliveryDelay', 'delays a redelivery itself (else core holds the message)'],
  ['deadLetters', 'dead letters readable with `deadLetters: true`'],
  ['keyOrdering', 'keeps the order of a key'],
  ['externalProcess', 'broker is a separate process (crash cases run)'],
  ['replication', 'every message on more than one node'],
  ['staleAckDetection', 'a stale ack is reported (STALE_DELIVERY)'],
  ['retainsBeforeSubscription', 'a new subscription sees older messages'],
  ['storesSubscriptionSettings', 'another maxDeliveries on re-declaring is a CONFLICT'],
  ['maxHeaderBytes', "largest headers (names + values), below core's limits"],
  ['tls', 'TLS (the `tls` option; client certificates: RabbitMQ, Kafka)'],
  ['authentication', 'authentication mechanisms'],
];

const columns: [string, Capabilities | undefined][] = [];
for (const [name, make] of drivers) {
  try {
    const d = await make();
    columns.push([name, d.capabilities]);
    await d.close().catch(() => {});
  } catch {
    columns.push([name, undefined]);
  }
}
const cell = (v: unknown) =>
  v === undefined
    ? 'n/a'
    : Array.isArray(v)
      ? v.join(', ') || 'none'
      : typeof v === 'boolean'
        ? v
          ? 'yes'
          : 'no'
        : `${Math.round(Number(v) / 1024)} KiB`;
console.log(`| capability | ${columns.map(([n]) => n).join(' | ')} |`);
console.log(`| --- | ${columns.map(() => '---').join(' | ')} |`);
for (const [key, label] of rows) {
  const shown = (c: Capabilities | undefined) =>
    c !== undefined && c[key] === undefined
      ? key === 'maxHeaderBytes'
        ? "core's"
        : key === 'authentication'
          ? 'none'
          : 'no'
      : cell(c?.[key]);
  console.log(`| ${label} | ${columns.map(([, c]) => shown(c)).join(' | ')} |`);
}
process.exit(0);
