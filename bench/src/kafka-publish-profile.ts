// Diagnostics for Kafka confirmed publish: one side alone (the library with N awaiting callers, or raw kafkajs
// with sequential batches of N), so that `node --cpu-prof` profiles that side only.
//
//   node --cpu-prof --cpu-prof-dir=reports/profiles bench/dist/kafka-publish-profile.js <library|raw> [messages] [depth]

import { kafka as kafkaBroker } from '@lossless/brokers';
import { freshName } from './harness.js';
import { kafkaTarget, rawKafka } from './kafka.js';
import { libraryDeclare, libraryPublish } from './library.js';

const side = process.argv[2];
if (side !== 'library' && side !== 'raw')
  throw new Error('usage: kafka-publish-profile.js <library|raw> [messages] [depth]');
const messages = Number(process.argv[3] ?? 100_000);
const depth = Number(process.argv[4] ?? 500);
const fixture = kafkaBroker();
await fixture.up();
const target = kafkaTarget(fixture.settings.brokers);
const cfg = {
  repetitions: 1,
  messages,
  concurrency: depth,
  bodyBytes: 1024,
  latencyRate: 1000,
  latencySeconds: 1,
  log: (s: string) => console.error(s),
};
const topic = freshName('kpprof', side, 1);
const cpu = process.cpuUsage();
let rate: number;
if (side === 'library') {
  rate = await libraryPublish(target, topic, cfg);
} else {
  await libraryDeclare(target, topic);
  rate = await rawKafka(fixture.settings.brokers, cfg.bodyBytes).publish(topic, messages, depth);
}
const used = process.cpuUsage(cpu);
console.log(
  `${side}: ${Math.round(rate)} msg/s, ${((used.user + used.system) / messages).toFixed(1)} µs CPU per message`,
);
process.exit(0);
