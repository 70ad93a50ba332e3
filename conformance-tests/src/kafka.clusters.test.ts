// `npm test` runs the crash and node-fault cases (clusterCaseIds) on Kafka's 3-node cluster (replication 3, min.insync.replicas 2);
// `npm run test:clusters` runs the whole catalog there. The cluster is brought down afterwards: three clusters of
// JVMs and Erlang VMs at once are more than 2 cores carry next to the single-node fixtures.
import { kafka as fixture } from '@lossless/brokers';
import { afterAll } from 'vitest';
import { adapter } from './adapters/kafka.js';
import { clusterCaseIds } from './catalog.js';
import { runConformance } from './suite.js';

const broker = fixture({ nodes: 3 });
runConformance({ adapter, broker, only: clusterCaseIds, reportFile: 'reports/conformance-kafka-n3.json' });
afterAll(() => broker.down(), 300_000);
