// `npm test` runs the whole catalog against Kafka (the kit's single node, the default version).
import { kafka } from '@lossless/brokers';
import { adapter } from './adapters/kafka.js';
import { runConformance } from './suite.js';

runConformance({ adapter, broker: kafka(), reportFile: 'reports/conformance-kafka.json' });
