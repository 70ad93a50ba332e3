// Every case of the conformance catalog (DESIGN.md), in report order.
import type { ConformanceCase } from './cases/case.js';
import { consumeCases } from './cases/consume.js';
import { crashCases } from './cases/crash.js';
import { faultCases } from './cases/faults.js';
import { lifecycleCases } from './cases/lifecycle.js';
import { publishCases } from './cases/publish.js';
import { topologyCases } from './cases/topology.js';

export const catalog: readonly ConformanceCase[] = [
  ...topologyCases,
  ...publishCases,
  ...consumeCases,
  ...crashCases,
  ...faultCases,
  ...lifecycleCases,
];

export const catalogIds: readonly string[] = catalog.map((c) => c.id);
