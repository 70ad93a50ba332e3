// `npm test` runs the whole catalog against RabbitMQ (a single node from the broker kit).
import { rabbitmq } from '@lossless/brokers';
import { adapter } from './adapters/rabbitmq.js';
import { runConformance } from './suite.js';

// LOSSLESS_REPORT_SUFFIX: set by scripts/other-nodes.sh --conformance when the catalog runs on another Node line.
runConformance({
  adapter,
  broker: rabbitmq(),
  reportFile: `reports/conformance-rabbitmq${process.env.LOSSLESS_REPORT_SUFFIX ?? ''}.json`,
});
