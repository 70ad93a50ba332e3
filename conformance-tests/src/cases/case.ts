// The shape of one conformance case. Ids are stable: reports and third parties refer to them.
import type { CaseContext } from '../context.js';

export type Category =
  | 'topology'
  | 'publish'
  | 'consume'
  | 'crash'
  | 'faults'
  | 'nodes'
  | 'lifecycle'
  | 'security';

export interface ConformanceCase {
  /** Stable id from the catalog in DESIGN.md, e.g. "P4". */
  id: string;
  title: string;
  category: Category;
  /** Throws ConformanceFailure when the adapter breaks the promise; CaseSkipped with a capability reason. */
  run(ctx: CaseContext): Promise<void>;
  /** Longest time the case may take against a real broker, ms. Default 120,000. */
  timeoutMs?: number;
}
