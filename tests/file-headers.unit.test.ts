// Every TypeScript file of the tree, source and test alike, opens with a `//` comment line saying what it is
// (after an optional `#!` shebang line): the workspaces' src directories (packages, adapters, the broker kit,
// the conformance suite, the bench, the examples) and tests/. Build output, node_modules and .d.ts are left out.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDirectory, ROOT, tsFiles } from './tree.js';

// Lines that start with `//` but are a directive to a tool, not a description of the file.
const DIRECTIVE = /^\/\/(?:\/|\s*(?:@ts-|biome-ignore|eslint-|prettier-ignore|#region))/;

/** Whether a source opens (after an optional shebang line) with a `//` comment line that has some text. */
function opensWithComment(source: string): boolean {
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines[0]?.startsWith('#!') ? lines[1] : lines[0];
  return first !== undefined && /^\/\/\s*\S/.test(first) && !DIRECTIVE.test(first);
}

/** Directories `parent/<each child>/src` that exist. */
function srcDirsUnder(parent: string): string[] {
  if (!isDirectory(join(ROOT, parent))) return [];
  return readdirSync(join(ROOT, parent))
    .map((name) => `${parent}/${name}/src`)
    .filter((dir) => isDirectory(join(ROOT, dir)));
}

/** Every `src` directory anywhere under `parent` (examples may nest), not descending into node_modules or dist. */
function srcDirsDeep(parent: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name === 'node_modules' || entry.name === 'dist') continue;
      const child = `${dir}/${entry.name}`;
      if (entry.name === 'src') out.push(child);
      else walk(child);
    }
  };
  if (isDirectory(join(ROOT, parent))) walk(parent);
  return out;
}

const roots = [
  ...srcDirsUnder('packages'),
  ...srcDirsUnder('adapters'),
  'brokers/src',
  'conformance-tests/src',
  'bench/src',
  ...srcDirsDeep('examples'),
  'tests',
].filter((dir) => isDirectory(join(ROOT, dir)));
const files = [...new Set(roots.flatMap((dir) => tsFiles(dir)))].sort();
const isTest = (file: string): boolean => file.endsWith('.test.ts');

function lacking(candidates: readonly string[]): string[] {
  return candidates.filter((file) => !opensWithComment(readFileSync(join(ROOT, file), 'utf8')));
}

describe('file headers', () => {
  it('finds the files it checks', () => {
    expect(roots).toEqual(
      expect.arrayContaining(['packages/core/src', 'adapters/kafka/src', 'brokers/src', 'tests']),
    );
    expect(files).toContain('packages/core/src/index.ts');
    expect(files).toContain('tests/file-headers.unit.test.ts');
  });

  it('every non-test source file opens with a // line saying what it is', () => {
    const bad = lacking(files.filter((f) => !isTest(f)));
    expect(bad, `files that do not open with a // comment line:\n  ${bad.join('\n  ')}`).toEqual([]);
  });

  it('every test file opens with a // line saying what it is', () => {
    const bad = lacking(files.filter(isTest));
    expect(bad, `test files that do not open with a // comment line:\n  ${bad.join('\n  ')}`).toEqual([]);
  });
});

describe('the check itself', () => {
  it('rejects a file that starts with an import, a blank line, a block comment or a tool directive', () => {
    expect(opensWithComment("import { x } from './x.js';\n// What this is.\n")).toBe(false);
    expect(opensWithComment("\n// What this is.\nimport { x } from './x.js';\n")).toBe(false);
    expect(opensWithComment('/** What this is. */\n')).toBe(false);
    expect(opensWithComment('#!/usr/bin/env node\nimport { x } from "./x.js";\n')).toBe(false);
    expect(opensWithComment('//\n')).toBe(false);
    expect(opensWithComment('// @ts-nocheck\n')).toBe(false);
    expect(opensWithComment('/// <reference types="node" />\n')).toBe(false);
    expect(opensWithComment('')).toBe(false);
  });

  it('accepts a // line first, after an optional shebang line', () => {
    expect(opensWithComment("// What this is.\nimport { x } from './x.js';\n")).toBe(true);
    expect(opensWithComment('#!/usr/bin/env node\n// A command line tool.\n')).toBe(true);
    expect(opensWithComment('\uFEFF// What this is.\r\n')).toBe(true);
  });
});
