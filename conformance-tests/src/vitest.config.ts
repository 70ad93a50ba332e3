// The vitest configuration the runner (`lossless-conformance`, `npm run conformance`) starts vitest with: one
// test file, entry.conformance, beside this file, so the suite runs wherever the package is installed and never
// reads the configuration of the project it runs from. Compiled, it runs dist/entry.conformance.js; loaded from
// src/ (in this repository, through the "@lossless/source" export condition) it runs the TypeScript sources.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = fileURLToPath(new URL('.', import.meta.url));
const fromSource = new URL(import.meta.url).pathname.endsWith('.ts');
const resolve = fromSource ? { conditions: ['@lossless/source'] } : {};

export default defineConfig({
  root: here,
  resolve,
  ssr: { resolve },
  test: {
    // One file, nothing to order by earlier durations: no results cache (it would go under the installed package).
    cache: false,
    include: [fromSource ? 'entry.conformance.ts' : 'entry.conformance.js'],
    // The package itself lives under node_modules when installed: vitest's default exclude would skip it.
    exclude: [],
    fileParallelism: false,
    // Bringing a broker up may install it (apt, Maven Central) on the first run.
    hookTimeout: 900_000,
    // Each case sets its own limit (`timeoutMs`, or the runner's --case-timeout-ms).
    testTimeout: 120_000,
    execArgv: ['--expose-gc'],
  },
});
