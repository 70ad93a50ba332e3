// Where the kit keeps everything a run creates: one directory (default <repo>/.lossless, or $LOSSLESS_HOME)
// with a folder per broker cluster (data, logs, pid files) and the resolved broker jars.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (dir !== dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'brokers'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export function kitHome(home?: string): string {
  return resolve(home ?? process.env.LOSSLESS_HOME ?? join(repoRoot(), '.lossless'));
}

export function defaultLog(line: string): void {
  process.stderr.write(`[brokers] ${line}\n`);
}
