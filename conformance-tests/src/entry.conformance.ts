// What `npm run conformance` runs inside vitest: the adapter module and options come from the environment.
import { createBroker } from '@lossless/brokers';
import type { ConformanceAdapter } from './adapter.js';
import { runConformance } from './suite.js';

interface EntrySpec {
  module: string;
  reportFile: string;
  only?: string[];
  nodes?: 1 | 3;
  version?: string;
}

const spec = JSON.parse(process.env.LOSSLESS_CONFORMANCE ?? 'null') as EntrySpec | null;
if (!spec) throw new Error('run this file through `npm run conformance -- --adapter …`');
const { adapter } = (await import(spec.module)) as { adapter: ConformanceAdapter };
const kind = adapter.broker?.kind;
const nodes = spec.nodes ?? adapter.broker?.nodes;
const version = spec.version ?? adapter.broker?.version;
runConformance({
  adapter,
  reportFile: spec.reportFile,
  ...(spec.only ? { only: spec.only } : {}),
  ...(kind
    ? { broker: createBroker(kind, { ...(nodes ? { nodes } : {}), ...(version ? { version } : {}) }) }
    : {}),
});
