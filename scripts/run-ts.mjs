#!/usr/bin/env node
// Runs a TypeScript entry point of this repository with tsx, resolving workspace packages to their sources
// (the "@lossless/source" export condition), so the CLIs work before and without a build.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
try {
  require.resolve('tsx');
} catch {
  console.error('tsx is not installed yet: run `npm install` (or `npm test`, which installs) first.');
  process.exit(1);
}
const [entry, ...args] = process.argv.slice(2);
// tsx as an --import hook keeps one process, so node's --conditions applies to the entry's imports.
const child = spawn(process.execPath, ['--conditions=@lossless/source', '--import', 'tsx', entry, ...args], {
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
