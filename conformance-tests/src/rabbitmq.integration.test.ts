// `npm test` runs the whole catalog against RabbitMQ (a single node from the broker kit).
import { rabbitmq } from '@lossless/brokers';
import { adapter } from './adapters/rabbitmq.js';
import { runConformance } from './suite.js';

runConformance({ adapter, broker: rabbitmq(), reportFile: 'reports/conformance-rabbitmq.json' });
