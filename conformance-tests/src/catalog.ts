// Every case of the conformance catalog (DESIGN.md), in report order.
import type { BrokerSettings } from '@lossless/brokers';
import type { ConformanceCase } from './cases/case.js';
import { consumeCases } from './cases/consume.js';
import { crashCases } from './cases/crash.js';
import { faultCases } from './cases/faults.js';
import { lifecycleCases } from './cases/lifecycle.js';
import { nodeCases } from './cases/nodes.js';
import { publishCases } from './cases/publish.js';
import { SECURE_CORE_CASES, securityCases } from './cases/security.js';
import { topologyCases } from './cases/topology.js';

export const catalog: readonly ConformanceCase[] = [
  ...topologyCases,
  ...publishCases,
  ...consumeCases,
  ...crashCases,
  ...faultCases,
  ...nodeCases,
  ...lifecycleCases,
  ...securityCases,
];

export const catalogIds: readonly string[] = catalog.map((c) => c.id);

/**
 * The cases that apply to a broker: the security group only where the broker requires TLS and authentication
 * (a plain broker has nothing to refuse), everything else everywhere.
 */
export function casesFor(settings: BrokerSettings | undefined): readonly ConformanceCase[] {
  return settings?.security ? catalog : catalog.filter((c) => c.category !== 'security');
}

/**
 * What `--secure` runs on a secured fixture: the security group (S1–S7) and the core cases (publish/confirm,
 * a confirm that survives SIGKILL of the broker, consume/ack, redelivery, dead letters, a broker restart).
 */
export const secureCaseIds: readonly string[] = [...securityCases.map((c) => c.id), ...SECURE_CORE_CASES];

/**
 * What `npm test` runs on every replicated fixture (RabbitMQ 3 nodes, Kafka 3 nodes, RocketMQ's broker group): the
 * crash cases that kill a broker (a topic declared before a restart, publish confirmed before SIGKILL, a kill and a
 * restart during traffic) and the node-fault group N1–N4. `npm run test:clusters` runs the whole catalog there.
 */
export const clusterCaseIds: readonly string[] = ['T8', 'P4', 'F1', 'F2', ...nodeCases.map((c) => c.id)];
