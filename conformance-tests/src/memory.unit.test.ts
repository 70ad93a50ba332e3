// The in-memory driver passes every case it can; broker-process faults are skipped with their reason.

import { adapter } from './adapters/memory.js';
import { runConformance } from './suite.js';

runConformance({ adapter, reportFile: 'reports/conformance-memory.json' });
