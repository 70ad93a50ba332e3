// `npm run demo [-- --broker rabbitmq|kafka|rocketmq] [--orders N]`: the order → warehouse story of the source
// articles on a real broker started by the broker kit, with the warehouse and the broker killed (SIGKILL) on
// the way, ending in the accounting table and `lost: 0` (`--trace`: one order followed with OpenTelemetry;
// `--postgres`: through the transactional outbox and the inbox, with PostgreSQL killed too, ending in `lost: 0`
// and `duplicate effects: 0`). The examples under examples/ do the work.
import { type ExampleTarget, exampleMain } from '@lossless/example-order-warehouse';

const EXAMPLES: Record<string, () => Promise<ExampleTarget>> = {
  rabbitmq: async () => (await import('@lossless/example-rabbitmq')).rabbitmqExample as ExampleTarget,
  kafka: async () => (await import('@lossless/example-kafka')).kafkaExample as ExampleTarget,
  rocketmq: async () => (await import('@lossless/example-rocketmq')).rocketmqExample as ExampleTarget,
};

const args = process.argv.slice(2);
let broker = 'rabbitmq';
const at = args.indexOf('--broker');
if (at >= 0) {
  broker = args[at + 1] ?? '';
  args.splice(at, 2);
}
const load = EXAMPLES[broker];
if (!load) {
  console.error(`--broker must be one of ${Object.keys(EXAMPLES).join(', ')}, not "${broker}"`);
  process.exit(2);
}
console.log(
  `lossless demo on ${broker} — examples/${broker} (the broker kit starts it as a local process)\n`,
);
await exampleMain(await load(), args);
