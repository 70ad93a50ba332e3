// Diagnostics for the RabbitMQ publish path: runs variants of the library's publish side (and raw amqplib with
// 64 awaiting callers) in alternation and prints each run and the medians. Under `node --cpu-prof` it gives the
// profile of the library side alone.
//
//   node --conditions=@lossless/source --import tsx bench/src/profile.ts [messages] [reps] [variant,...] [classic|quorum]
//   node --cpu-prof --cpu-prof-dir=reports/profiles --conditions=@lossless/source --import tsx \
//     bench/src/profile.ts 50000 1 library
//
// Variants: `library` (defaults: batches of up to 500, 8 in flight per topic), `library-batch1` (maxBatchSize 1,
// maxInFlightBatches 64: each publish settles on its own confirm, not on its whole batch's), `raw-awaiting`,
// `raw-awaiting-librarylike` (raw with the driver's wire format: mandatory, timestamp, x-lossless-timestamp).

import { randomUUID } from 'node:crypto';
import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { connect, type PublishConfig, silentLogger } from '@lossless/core';
import { rabbitmq } from '@lossless/rabbitmq';
import { connect as amqpConnect } from 'amqplib';
import { firstUrl, freshName } from './harness.js';
import { median } from './stats.js';

const [count = '30000', repsArg = '3', list = 'library,library-batch1,raw-awaiting', queue = 'classic'] =
  process.argv.slice(2);
const queueType = queue === 'quorum' ? 'quorum' : 'classic';
const messages = Number(count);
const reps = Number(repsArg);
const variants = list.split(',');
const CALLERS = 64;
const fixture = rabbitmqBroker();
await fixture.up();
const url = firstUrl(fixture.settings);
const body = Buffer.alloc(1024, 7);

async function library(topic: string, publish: Partial<PublishConfig>): Promise<number> {
  const bus = await connect(rabbitmq({ url, logger: silentLogger }), { logger: silentLogger, publish });
  await bus.declare({
    topics: [{ name: topic }],
    subscriptions: [{ name: 's', topic, queueType }],
  });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < messages) await bus.publish(topic, { body });
    }),
  );
  const result = messages / ((performance.now() - started) / 1000);
  await bus.close();
  return result;
}

/** The library's wire format (rabbitmq driver's publishOptions): mandatory, a timestamp, one header. */
function libraryLikeOptions() {
  const now = Date.now();
  return {
    persistent: true,
    mandatory: true,
    messageId: randomUUID(),
    timestamp: Math.floor(now / 1000),
    headers: { 'x-lossless-timestamp': String(now) },
  };
}

async function rawAwaiting(topic: string, libraryLike = false): Promise<number> {
  const model = await amqpConnect(url, { noDelay: true });
  const ch = await model.createConfirmChannel();
  await ch.assertExchange(topic, 'fanout', { durable: true });
  await ch.assertQueue(`${topic}.s`, { durable: true, arguments: { 'x-queue-type': queueType } });
  await ch.bindQueue(`${topic}.s`, topic, '');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next++ < messages) {
        await new Promise<void>((resolve, reject) =>
          ch.publish(
            topic,
            '',
            body,
            libraryLike ? libraryLikeOptions() : { persistent: true, messageId: randomUUID() },
            (err) => (err ? reject(err) : resolve()),
          ),
        );
      }
    }),
  );
  const result = messages / ((performance.now() - started) / 1000);
  await model.close();
  return result;
}

async function cleanup(topic: string): Promise<void> {
  const model = await amqpConnect(url);
  model.on('error', () => {});
  for (const q of [`${topic}.s`, `${topic}.s.dlq`]) {
    const ch = await model.createChannel();
    ch.on('error', () => {});
    await ch.deleteQueue(q).catch(() => {});
  }
  for (const e of [topic, `${topic}.s.dlx`, `${topic}.lossless-spec.pd.rd.md.none`]) {
    const ch = await model.createChannel();
    ch.on('error', () => {});
    await ch.deleteExchange(e).catch(() => {});
  }
  await model.close();
}

const results = new Map<string, number[]>(variants.map((v) => [v, []]));
for (let rep = 1; rep <= reps; rep++) {
  for (const variant of rep % 2 ? variants : [...variants].reverse()) {
    const topic = freshName('lb', `diag-${variant}`, rep);
    let r: number;
    if (variant === 'library') r = await library(topic, {});
    else if (variant === 'library-batch1')
      r = await library(topic, { maxBatchSize: 1, maxInFlightBatches: 64 });
    else if (variant === 'raw-awaiting') r = await rawAwaiting(topic);
    else if (variant === 'raw-awaiting-librarylike') r = await rawAwaiting(topic, true);
    else throw new Error(`unknown variant '${variant}'`);
    await cleanup(topic);
    const rates = results.get(variant);
    if (rates === undefined) throw new Error(`profile: no result list for variant '${variant}'`);
    rates.push(r);
    console.error(`${rep}/${reps} ${variant}: ${Math.round(r)} msg/s`);
  }
}
for (const [v, rs] of results) {
  console.log(`${v}: median ${Math.round(median(rs))} msg/s (${rs.map((r) => Math.round(r)).join(', ')})`);
}
