// Diagnostics for Kafka consume: publishes N messages through the library, then consumes them with the library's
// subscription (concurrency 64) — run under `node --cpu-prof` for the consume side's profile.
//
//   node --cpu-prof --cpu-prof-dir=reports/profiles bench/dist/kafka-consume-profile.js [messages]

import { kafka as kafkaBroker } from '@lossless/brokers';
import { freshName } from './harness.js';
import { kafkaTarget } from './kafka.js';
import { libraryConsume, libraryPublish } from './library.js';

const messages = Number(process.argv[2] ?? 50_000);
const fixture = kafkaBroker();
await fixture.up();
const target = kafkaTarget(fixture.settings.brokers);
const cfg = {
  repetitions: 1,
  messages,
  concurrency: 64,
  bodyBytes: 1024,
  latencyRate: 1000,
  latencySeconds: 1,
  log: (s: string) => console.error(s),
};
const topic = freshName('kprof', 'lib', 1);
console.log(`publish ${Math.round(await libraryPublish(target, topic, cfg))} msg/s`);
console.log(`consume ${Math.round(await libraryConsume(target, topic, cfg, true))} msg/s`);
process.exit(0);
