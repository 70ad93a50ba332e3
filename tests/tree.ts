// Reading the repository's own tree for the structure tests: the root, whether a path is a directory, and every
// .ts file under a directory (no .d.ts, no build output, no node_modules) as a root-relative `/` path.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');

export function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Every .ts file under `dir` (relative to the root), sorted; `tests: false` leaves *.test.ts out. */
export function tsFiles(dir: string, options: { tests: boolean } = { tests: true }): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist') continue;
      const path = join(abs, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.ts') &&
        !entry.name.endsWith('.d.ts') &&
        (options.tests || !entry.name.endsWith('.test.ts'))
      ) {
        out.push(relative(ROOT, path).split(sep).join('/'));
      }
    }
  };
  walk(join(ROOT, dir));
  return out.sort();
}
