// Every case of the conformance catalog (DESIGN.md), in report order.
import type { BrokerSettings } from '@lossless/brokers';
import type { ConformanceCase } from './cases/case.js';
import { consumeCases } from './cases/consume.js';
import { crashCases } from './cases/crash.js';
import { faultCases } from './cases/faults.js';
import { lifecycleCases } from './cases/lifecycle.js';
import { publishCases } from './cases/publish.js';
import { SECURE_CORE_CASES, securityCases } from './cases/security.js';
import { topologyCases } from './cases/topology.js';

export const catalog: readonly ConformanceCase[] = [
  ...topologyCases,
  ...publishCases,
  ...consumeCases,
  ...crashCases,
  ...faultCases,
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
