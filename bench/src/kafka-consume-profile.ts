// Diagnostics for Kafka consume + commit: preloads N messages through the library, then consumes them with the
// library's subscription (concurrency C) or with raw kafkajs (C handlers per chunk, a commit per batch), and
// writes a CPU profile of the consume alone (node:inspector, started after the preload).
//
//   node bench/dist/kafka-consume-profile.js <library|raw> [messages] [concurrency] [profile file]

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { kafka as kafkaBroker } from '@lossless/brokers';
import { freshName } from './harness.js';
import { kafkaTarget, rawKafka } from './kafka.js';
import { libraryConsume, libraryPublish } from './library.js';

const side = process.argv[2];
if (side !== 'library' && side !== 'raw') {
  throw new Error('usage: kafka-consume-profile.js <library|raw> [messages] [concurrency] [profile file]');
}
const messages = Number(process.argv[3] ?? 100_000);
const concurrency = Number(process.argv[4] ?? 64);
const file = process.argv[5] ?? `reports/kafka-consume-${side}.cpuprofile`;
const fixture = kafkaBroker();
await fixture.up();
const target = kafkaTarget(fixture.settings.brokers);
const cfg = {
  repetitions: 1,
  messages,
  concurrency,
  bodyBytes: 1024,
  latencyRate: 1000,
  latencySeconds: 1,
  log: (s: string) => console.error(s),
};
const topic = freshName('kcprof', side, 1);
await libraryPublish(target, topic, { ...cfg, concurrency: 500 });
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
const cpu = process.cpuUsage();
const rate =
  side === 'library'
    ? await libraryConsume(target, topic, cfg, true)
    : await rawKafka(fixture.settings.brokers, cfg.bodyBytes).consume(topic, messages, concurrency);
const used = process.cpuUsage(cpu);
const { profile } = await session.post('Profiler.stop');
writeFileSync(file, JSON.stringify(profile));
const perMessage = ((used.user + used.system) / messages).toFixed(1);
console.log(`${side}: consume ${Math.round(rate)} msg/s, ${perMessage} µs CPU per message; profile ${file}`);
process.exit(0);
