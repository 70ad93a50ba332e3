// The import rules of the tree, checked on the source files themselves (every non-test .ts under a workspace's
// src): adapters import only core, core/driver, the RocketMQ admin package, node: builtins and their own
// third-party dependencies; core imports no @lossless package; the broker kit imports no adapter; and no package
// has an import cycle among its relative imports. The checkers are pure functions over {file, specifiers} lists,
// so the last block proves on small in-memory examples that each rule can fail.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDirectory, ROOT, tsFiles } from './tree.js';

/** One source file and the module specifiers it imports or re-exports from, as written. */
interface SourceImports {
  /** Path relative to the repository root, with `/` separators. */
  readonly file: string;
  readonly specifiers: readonly string[];
}

/** Says why a specifier is forbidden in a file, or returns undefined when it is allowed. */
type ImportRule = (file: string, specifier: string) => string | undefined;

// `import … from 'x'`, `import type … from 'x'`, `export … from 'x'`, `export * from 'x'` at the start of a line.
const STATIC_FROM = /^[ \t]*(?:import|export)\b[^'";]*?\bfrom[ \t]*(['"])([^'"\n]+)\1/gm;
// `import 'x'` (for its side effects).
const SIDE_EFFECT = /^[ \t]*import[ \t]*(['"])([^'"\n]+)\1/gm;
// `import('x')` (dynamic, or in a type position) and `require('x')`, with a literal specifier only.
const CALL = /\b(?:import|require)[ \t]*\([ \t]*(['"])([^'"\n]+)\1[ \t]*\)/g;
// Lines that are only comment: blanked before looking for CALL, so prose such as "see import('x')" is not read.
const COMMENT_LINE = /^[ \t]*(?:\/\/|\/\*|\*).*$/gm;

/** The module specifiers a TypeScript source imports or re-exports from, each once, in order of appearance. */
function extractSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const re of [STATIC_FROM, SIDE_EFFECT]) {
    for (const m of source.matchAll(re)) found.push(m[2]!);
  }
  for (const m of source.replace(COMMENT_LINE, '').matchAll(CALL)) found.push(m[2]!);
  return [...new Set(found)];
}

/** The package a bare specifier names: `kafkajs/src/x` → `kafkajs`, `@scope/pkg/sub` → `@scope/pkg`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isRelative(specifier: string): boolean {
  return specifier.startsWith('./') || specifier.startsWith('../');
}

/** Every forbidden import in `files`, as `file: specifier (reason)`. */
function findForbidden(files: readonly SourceImports[], rule: ImportRule): string[] {
  const out: string[] = [];
  for (const { file, specifiers } of files) {
    for (const specifier of specifiers) {
      const reason = rule(file, specifier);
      if (reason !== undefined) out.push(`${file}: ${specifier} (${reason})`);
    }
  }
  return out;
}

const ADAPTER_MAY_IMPORT = new Set(['@lossless/core', '@lossless/core/driver', '@lossless/rocketmq-admin']);

/**
 * The rule for one adapter whose sources live under `srcDir`: relative imports that stay inside `srcDir`, the
 * listed @lossless entry points, node: builtins, and the third-party packages in `ownDependencies`.
 */
function adapterRule(srcDir: string, ownDependencies: readonly string[], adapterNames: readonly string[]) {
  const thirdParty = new Set(ownDependencies.filter((d) => !d.startsWith('@lossless/')));
  return (file: string, specifier: string): string | undefined => {
    if (isRelative(specifier)) {
      const target = posix.join(posix.dirname(file), specifier);
      return target.startsWith(`${srcDir}/`) ? undefined : `relative import out of ${srcDir}`;
    }
    if (specifier.startsWith('node:') || ADAPTER_MAY_IMPORT.has(specifier)) return undefined;
    const name = packageName(specifier);
    if (adapterNames.includes(name)) return 'another adapter';
    if (name === '@lossless/brokers') return 'the broker test kit';
    if (name === '@lossless/conformance') return 'the conformance suite';
    if (name.startsWith('@lossless/')) return `only ${[...ADAPTER_MAY_IMPORT].join(', ')} from @lossless`;
    return thirdParty.has(name) ? undefined : "not a node: builtin nor in the adapter's own dependencies";
  };
}

const coreRule: ImportRule = (_file, specifier) =>
  specifier.startsWith('@lossless/') ? 'core depends on no @lossless package' : undefined;

function brokersRule(adapterNames: readonly string[]): ImportRule {
  return (_file, specifier) =>
    adapterNames.includes(packageName(specifier))
      ? 'the broker kit must not depend on an adapter'
      : undefined;
}

/**
 * The graph of relative imports among `files`: './x.js' (or './x', './x.ts') resolves to 'x.ts' or 'x/index.ts'
 * when that file is in the list; anything else (bare packages, JSON, files outside the list) is left out.
 */
function relativeImportGraph(files: readonly SourceImports[]): Map<string, string[]> {
  const known = new Set(files.map((f) => f.file));
  const graph = new Map<string, string[]>();
  for (const { file, specifiers } of files) {
    const edges: string[] = [];
    for (const specifier of specifiers) {
      if (!isRelative(specifier)) continue;
      const base = posix.join(posix.dirname(file), specifier).replace(/\.(?:js|ts)$/, '');
      const target = [`${base}.ts`, `${base}/index.ts`].find((candidate) => known.has(candidate));
      if (target !== undefined && !edges.includes(target)) edges.push(target);
    }
    graph.set(file, edges);
  }
  return graph;
}

/**
 * Cycles in a directed graph, found by depth-first search: every back edge closes one cycle, reported as its
 * path `a → b → … → a`, rotated to start at its smallest node so the same cycle is listed once.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === undefined) visit(next);
      else if (s === 'open') {
        const loop = stack.slice(stack.indexOf(next));
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        const key = rotated.join('\n');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...rotated, rotated[0]!]);
        }
      }
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

// ---- reading the tree ----

function readImports(dir: string): SourceImports[] {
  return tsFiles(dir, { tests: false }).map((file) => ({
    file,
    specifiers: extractSpecifiers(readFileSync(join(ROOT, file), 'utf8')),
  }));
}

interface Workspace {
  /** Directory relative to the root, e.g. `adapters/kafka`. */
  readonly dir: string;
  readonly name: string;
  readonly dependencies: readonly string[];
}

/** Every workspace of the root package.json (`dir/*` globs expanded) that has a src directory. */
function workspaces(): Workspace[] {
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  const dirs = root.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(join(ROOT, parent)).map((name) => `${parent}/${name}`);
  });
  return dirs
    .filter((dir) => existsSync(join(ROOT, dir, 'package.json')) && isDirectory(join(ROOT, dir, 'src')))
    .map((dir) => {
      const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
        name: string;
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
        optionalDependencies?: Record<string, string>;
      };
      const dependencies = [pkg.dependencies, pkg.peerDependencies, pkg.optionalDependencies].flatMap((d) =>
        Object.keys(d ?? {}),
      );
      return { dir, name: pkg.name, dependencies };
    })
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

const all = workspaces();
const adapters = all.filter((w) => dirname(w.dir) === 'adapters');
const adapterNames = adapters.map((a) => a.name);

function report(title: string, lines: readonly string[]): string {
  return `${title}:\n  ${lines.join('\n  ')}`;
}

describe('import boundaries', () => {
  it('finds the packages it checks', () => {
    expect(adapterNames).toEqual(
      expect.arrayContaining(['@lossless/rabbitmq', '@lossless/kafka', '@lossless/rocketmq']),
    );
    expect(all.map((w) => w.dir)).toEqual(expect.arrayContaining(['packages/core', 'brokers']));
    // The regex reads the imports: core's index re-exports from its own modules.
    expect(
      readImports('packages/core/src').find((f) => f.file === 'packages/core/src/index.ts')?.specifiers,
    ).toContain('./errors.js');
  });

  it('adapters import only core, core/driver, rocketmq-admin, node: builtins and their own dependencies', () => {
    const bad = adapters.flatMap((a) =>
      findForbidden(readImports(`${a.dir}/src`), adapterRule(`${a.dir}/src`, a.dependencies, adapterNames)),
    );
    expect(bad, report('forbidden imports in adapters', bad)).toEqual([]);
  });

  it('core imports no @lossless package', () => {
    const bad = findForbidden(readImports('packages/core/src'), coreRule);
    expect(bad, report('@lossless imports in packages/core/src', bad)).toEqual([]);
  });

  it('the broker kit imports no adapter', () => {
    const bad = findForbidden(readImports('brokers/src'), brokersRule(adapterNames));
    expect(bad, report('adapter imports in brokers/src', bad)).toEqual([]);
  });

  it("no package's src has an import cycle among its relative imports", () => {
    const cycles = all.flatMap((w) =>
      findCycles(relativeImportGraph(readImports(`${w.dir}/src`))).map((c) => c.join(' → ')),
    );
    expect(cycles, report('import cycles', cycles)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('extracts static, re-export, side-effect, type and dynamic specifiers, not ones in comments', () => {
    const source = [
      "import { a } from './a.js';",
      "import type {\n  B,\n} from '@lossless/core';",
      "export * from './c.js';",
      "export { d } from 'kafkajs/sub';",
      "import 'node:process';",
      "type T = import('./t.js').T;",
      "const m = await import('@lossless/brokers');",
      "// import('./commented.js')",
      "/** from './doc.js' */",
      "const s = 'from ./nothing.js';",
    ].join('\n');
    expect(extractSpecifiers(source).sort()).toEqual(
      [
        './a.js',
        '@lossless/core',
        './c.js',
        'kafkajs/sub',
        'node:process',
        './t.js',
        '@lossless/brokers',
      ].sort(),
    );
  });

  it('reports an adapter importing another adapter, the broker kit, core internals or an undeclared package', () => {
    const rule = adapterRule(
      'adapters/x/src',
      ['left-pad', '@lossless/core'],
      ['@lossless/x', '@lossless/y'],
    );
    const files: SourceImports[] = [
      {
        file: 'adapters/x/src/a.ts',
        specifiers: [
          './b.js',
          '@lossless/core',
          '@lossless/core/driver',
          '@lossless/rocketmq-admin',
          'node:fs',
          'left-pad/sub',
          '@lossless/y',
          '@lossless/brokers',
          '@lossless/conformance',
          '@lossless/core/memory',
          'fs',
          'not-declared',
          '../../y/src/z.js',
        ],
      },
    ];
    expect(findForbidden(files, rule)).toEqual([
      'adapters/x/src/a.ts: @lossless/y (another adapter)',
      'adapters/x/src/a.ts: @lossless/brokers (the broker test kit)',
      'adapters/x/src/a.ts: @lossless/conformance (the conformance suite)',
      'adapters/x/src/a.ts: @lossless/core/memory (only @lossless/core, @lossless/core/driver, @lossless/rocketmq-admin from @lossless)',
      "adapters/x/src/a.ts: fs (not a node: builtin nor in the adapter's own dependencies)",
      "adapters/x/src/a.ts: not-declared (not a node: builtin nor in the adapter's own dependencies)",
      'adapters/x/src/a.ts: ../../y/src/z.js (relative import out of adapters/x/src)',
    ]);
  });

  it('reports core importing any @lossless package and the broker kit importing an adapter', () => {
    const files: SourceImports[] = [
      { file: 'f.ts', specifiers: ['./x.js', '@lossless/kafka/sub', 'node:fs'] },
    ];
    expect(findForbidden(files, coreRule)).toEqual([
      'f.ts: @lossless/kafka/sub (core depends on no @lossless package)',
    ]);
    expect(findForbidden(files, brokersRule(['@lossless/kafka']))).toEqual([
      'f.ts: @lossless/kafka/sub (the broker kit must not depend on an adapter)',
    ]);
    expect(findForbidden(files, brokersRule(['@lossless/rabbitmq']))).toEqual([]);
  });

  it('resolves ./x.js to x.ts or x/index.ts and reports a cycle with its path', () => {
    const files: SourceImports[] = [
      { file: 'p/src/a.ts', specifiers: ['./b.js', 'node:fs'] },
      { file: 'p/src/b.ts', specifiers: ['./sub/index.js', './c'] },
      { file: 'p/src/c.ts', specifiers: [] },
      { file: 'p/src/sub/index.ts', specifiers: ['../a.js'] },
    ];
    const graph = relativeImportGraph(files);
    expect(graph.get('p/src/b.ts')).toEqual(['p/src/sub/index.ts', 'p/src/c.ts']);
    expect(findCycles(graph)).toEqual([['p/src/a.ts', 'p/src/b.ts', 'p/src/sub/index.ts', 'p/src/a.ts']]);
    expect(findCycles(new Map([['x', ['x']]]))).toEqual([['x', 'x']]);
    expect(
      findCycles(
        new Map([
          ['a', ['b', 'c']],
          ['b', ['c']],
          ['c', []],
        ]),
      ),
    ).toEqual([]);
  });
});
