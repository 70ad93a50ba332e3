// @lossless/conformance — the shared suite every adapter must pass against its real broker.
export type {
  BrokerControl,
  ConformanceAdapter,
  DriverRequest,
  FaultyLink,
  SecurityRequest,
} from './adapter.js';
export type { Category, ConformanceCase } from './cases/case.js';
export { WRONG_PASSWORD } from './cases/security.js';
export { casesFor, catalog, catalogIds, clusterCaseIds, secureCaseIds } from './catalog.js';
export {
  CaseContext,
  CaseSkipped,
  ConformanceFailure,
  check,
  expectCode,
  present,
  skipUnless,
} from './context.js';
export type { Mutant } from './evil/mutants.js';
export { mutants } from './evil/mutants.js';
export { clientAddress, proxyLink } from './faulty-link.js';
export type { LedgerSummary } from './ledger.js';
export { Ledger } from './ledger.js';
export type { CaseResult, CaseStatus, ConformanceReport } from './report.js';
export { formatReport, summarize, writeReport } from './report.js';
export type { RunTarget } from './run-cases.js';
export { capabilitiesOf, runCase, runCases } from './run-cases.js';
export { type SecureClient, secureClient } from './secure-client.js';
export type { ConformanceOptions } from './suite.js';
export { runConformance } from './suite.js';
export { mapDeliveries, onSettle, overrideDelivery, overrideDriver } from './wrap-driver.js';
