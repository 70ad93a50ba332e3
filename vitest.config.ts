// One vitest configuration for the tree, two projects: `unit` (no broker, runs in parallel: packages/ and every
// `*.unit.test.ts`) and `integration` (real brokers and databases started by the broker kit, and every
// `*.integration.test.ts`, packages/ included; files run one at a time because cases kill and restart brokers).
// Workspace packages resolve to their TypeScript sources through the "@lossless/source" export condition.
import { defineConfig } from 'vitest/config';

const resolve = { conditions: ['@lossless/source'] };

export default defineConfig({
  resolve,
  ssr: { resolve },
  test: {
    // Memory-bound tests compare heap sizes after a full collection.
    execArgv: ['--expose-gc'],
    projects: [
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'unit',
          include: [
            'packages/**/*.test.ts',
            'adapters/**/*.unit.test.ts',
            'brokers/**/*.unit.test.ts',
            'bench/**/*.unit.test.ts',
            'conformance-tests/**/*.unit.test.ts',
            'tests/**/*.unit.test.ts',
          ],
          // LOSSLESS_SKIP_MUTANTS: scripts/other-nodes.sh leaves the mutant run to the main Node line (a CLI
          // --exclude does not reach a project's own list, and a path filter `tests/` also matches
          // `conformance-tests/`).
          exclude: [
            '**/node_modules/**',
            '**/dist/**',
            'packages/**/*.integration.test.ts',
            ...(process.env.LOSSLESS_SKIP_MUTANTS ? ['conformance-tests/src/evil/**'] : []),
          ],
          execArgv: ['--expose-gc'],
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          name: 'integration',
          include: [
            'brokers/**/*.test.ts',
            'adapters/**/*.test.ts',
            'packages/**/*.integration.test.ts',
            'examples/**/*.test.ts',
            'conformance-tests/**/*.integration.test.ts',
            'tests/**/*.integration.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**', '**/*.unit.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
      {
        resolve,
        ssr: { resolve },
        test: {
          // The crash and node-fault cases on the kit's replicated fixtures (conformance-tests/src/*.clusters.test.ts).
          name: 'clusters',
          include: ['conformance-tests/**/*.clusters.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
