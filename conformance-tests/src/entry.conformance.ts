// What the runner (cli.ts: `lossless-conformance`, `npm run conformance`) runs inside vitest: the adapter module
// and the options come from the environment (LOSSLESS_CONFORMANCE, an EntrySpec as JSON).
import type { ConformanceAdapter } from './adapter.js';
import { type ConformanceOptions, runConformance } from './suite.js';

/** What cli.ts passes in LOSSLESS_CONFORMANCE. */
export interface EntrySpec {
  /** URL of a module that exports `adapter`. */
  module: string;
  reportFile: string;
  only?: string[];
  nodes?: 1 | 3;
  version?: string;
  caseTimeoutMs?: number;
  deliveryTimeoutMs?: number;
  /** Run against the kit's secured fixture (TLS and authentication; `settings.security`). */
  secure?: boolean;
}

const spec = JSON.parse(process.env.LOSSLESS_CONFORMANCE ?? 'null') as EntrySpec | null;
if (!spec)
  throw new Error('run this file through `lossless-conformance --adapter …` (or `npm run conformance`)');
const { adapter } = (await import(spec.module)) as { adapter?: ConformanceAdapter };
if (!adapter || typeof adapter.createDriver !== 'function') {
  throw new Error(`${spec.module} does not export \`adapter\` (a ConformanceAdapter with createDriver)`);
}
const kind = adapter.broker?.kind;
if (spec.secure && (!kind || !adapter.security)) {
  throw new Error(
    `--secure: the adapter '${adapter.name}' ${kind ? 'declares no authentication mechanisms (adapter.security)' : 'runs no broker'}, so it cannot connect to a secured broker`,
  );
}
const nodes = spec.nodes ?? adapter.broker?.nodes;
const version = spec.version ?? adapter.broker?.version;
// The broker kit is loaded only for an adapter that names a broker: an in-process driver needs none of it.
const broker = kind
  ? (await import('@lossless/brokers')).createBroker(kind, {
      ...(nodes ? { nodes } : {}),
      ...(version ? { version } : {}),
      ...(spec.secure ? { secure: true } : {}),
    })
  : undefined;
const options: ConformanceOptions = {
  adapter,
  reportFile: spec.reportFile,
  ...(spec.only ? { only: spec.only } : {}),
  ...(broker ? { broker } : {}),
  ...(spec.caseTimeoutMs !== undefined ? { caseTimeoutMs: spec.caseTimeoutMs } : {}),
  ...(spec.deliveryTimeoutMs !== undefined ? { deliveryTimeoutMs: spec.deliveryTimeoutMs } : {}),
};
runConformance(options);
