// `npm test` runs the whole catalog against Kafka (the kit's single node, the default version).
import { kafka } from '@lossless/brokers';
import { adapter } from './adapters/kafka.js';
import { runConformance } from './suite.js';

// LOSSLESS_REPORT_SUFFIX: set by scripts/other-nodes.sh --conformance when the catalog runs on another Node line.
runConformance({
  adapter,
  broker: kafka(),
  reportFile: `reports/conformance-kafka${process.env.LOSSLESS_REPORT_SUFFIX ?? ''}.json`,
});
