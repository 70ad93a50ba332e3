// `npm test` runs the crash and node-fault cases (clusterCaseIds) on RabbitMQ's 3-node cluster (quorum queues);
// `npm run test:clusters` runs the whole catalog there. The cluster is brought down afterwards: three clusters of
// JVMs and Erlang VMs at once are more than 2 cores carry next to the single-node fixtures.
import { rabbitmq as fixture } from '@lossless/brokers';
import { afterAll } from 'vitest';
import { adapter } from './adapters/rabbitmq.js';
import { clusterCaseIds } from './catalog.js';
import { runConformance } from './suite.js';

const broker = fixture({ nodes: 3 });
runConformance({ adapter, broker, only: clusterCaseIds, reportFile: 'reports/conformance-rabbitmq-n3.json' });
afterAll(() => broker.down(), 300_000);
