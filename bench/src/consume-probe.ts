// Diagnostics for RabbitMQ consume: the library's subscription and raw amqplib drain two queues that hold the SAME
// messages (one topic, two subscriptions: fan-out), in alternating order, each timed from its first delivery.
// Separates the consumer from the broker's state of the queue it drains. PROBE_SETTLE_MS=N waits N ms between the
// publishes and the first consume; PROBE_FIRST=b drains queue b first.
//
//   node --conditions=@lossless/source --import tsx bench/src/consume-probe.ts [messages] [reps] [prefetch] [classic|quorum]

import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { connect, silentLogger } from '@lossless/core';
import { queueName, rabbitmq } from '@lossless/rabbitmq';
import { connect as amqpConnect } from 'amqplib';
import { firstUrl, freshName, latch } from './harness.js';
import { median } from './stats.js';

const [count = '50000', repsArg = '4', prefetchArg = '64', queue = 'classic'] = process.argv.slice(2);
const queueType = queue === 'quorum' ? 'quorum' : 'classic';
const messages = Number(count);
const reps = Number(repsArg);
const prefetch = Number(prefetchArg);
const fixture = rabbitmqBroker();
await fixture.up();
const url = firstUrl(fixture.settings);
const body = Buffer.alloc(1024, 7);

async function fill(topic: string): Promise<void> {
  const bus = await connect(rabbitmq({ url, logger: silentLogger }), { logger: silentLogger });
  await bus.declare({
    topics: [{ name: topic }],
    subscriptions: [
      { name: 'a', topic, queueType },
      { name: 'b', topic, queueType },
    ],
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next++ < messages) await bus.publish(topic, { body });
    }),
  );
  await bus.close();
}

async function library(topic: string, sub: string): Promise<number> {
  const bus = await connect(rabbitmq({ url, logger: silentLogger }), { logger: silentLogger });
  let n = 0;
  let first = 0;
  const { promise: finished, resolve: done } = latch();
  const s = await bus.subscribe(
    topic,
    sub,
    async () => {
      if (n === 0) first = performance.now();
      if (++n === messages) done();
    },
    { concurrency: prefetch },
  );
  await finished;
  const rate = messages / ((performance.now() - first) / 1000);
  await s.close();
  await bus.close();
  return rate;
}

async function raw(topic: string, sub: string): Promise<number> {
  const c = await amqpConnect(url);
  const ch = await c.createChannel();
  await ch.prefetch(prefetch);
  let n = 0;
  let first = 0;
  const { promise: finished, resolve: done } = latch();
  const ok = await ch.consume(
    queueName(topic, sub),
    (msg) => {
      if (!msg) return;
      if (n === 0) first = performance.now();
      void Promise.resolve().then(() => {
        ch.ack(msg);
        if (++n === messages) done();
      });
    },
    { noAck: false },
  );
  await finished;
  const rate = messages / ((performance.now() - first) / 1000);
  await ch.cancel(ok.consumerTag);
  await c.close();
  return rate;
}

const results: Record<'library' | 'raw', number[]> = { library: [], raw: [] };
for (let rep = 1; rep <= reps; rep++) {
  const topic = freshName('probe', 'consume', rep);
  await fill(topic);
  const settle = Number(process.env.PROBE_SETTLE_MS ?? 0);
  if (settle > 0) await new Promise((r) => setTimeout(r, settle));
  const order: Array<['library' | 'raw', string]> = (
    process.env.PROBE_FIRST === 'b'
      ? rep % 2 === 0
      : rep % 2 === 1
  )
    ? [
        ['library', 'a'],
        ['raw', 'b'],
      ]
    : [
        ['raw', 'a'],
        ['library', 'b'],
      ];
  for (const [side, sub] of order) {
    const rate = side === 'library' ? await library(topic, sub) : await raw(topic, sub);
    results[side].push(rate);
    console.log(`rep ${rep} ${side} (queue ${sub}): ${Math.round(rate)} msg/s`);
  }
  const admin = await amqpConnect(url);
  const ch = await admin.createChannel();
  for (const s of ['a', 'b']) await ch.deleteQueue(queueName(topic, s));
  await admin.close();
}
const l = median(results.library);
const r = median(results.raw);
console.log(`median library ${Math.round(l)} raw ${Math.round(r)} ratio ${(l / r).toFixed(3)}`);
process.exit(0);
