// Resolves broker jars from Maven Central with the machine's `mvn`: a small generated pom per broker version,
// `dependency:copy-dependencies` into <home>/jars/<name>/lib. Maven's own cache (~/.m2) keeps downloads between
// runs; a stamp file makes a second resolve of the same set instant.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kitHome } from './home.js';
import { exclusive } from './process.js';

export interface MavenArtifact {
  groupId: string;
  artifactId: string;
  version: string;
}

export interface ResolveOptions {
  home?: string;
  log?: (line: string) => void;
  /** Artifacts to leave out of the transitive set (groupId:artifactId). */
  exclusions?: string[];
}

function pom(name: string, deps: MavenArtifact[], exclusions: string[]): string {
  const excl = exclusions
    .map((e) => {
      const [g, a] = e.split(':');
      return `<exclusion><groupId>${g}</groupId><artifactId>${a}</artifactId></exclusion>`;
    })
    .join('');
  const body = deps
    .map(
      (d) =>
        `<dependency><groupId>${d.groupId}</groupId><artifactId>${d.artifactId}</artifactId>` +
        `<version>${d.version}</version>${excl ? `<exclusions>${excl}</exclusions>` : ''}</dependency>`,
    )
    .join('\n    ');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.lossless.brokers</groupId>
  <artifactId>${name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${body}
  </dependencies>
</project>
`;
}

/**
 * Returns the directory holding every runtime jar of `deps` (a Java classpath is `<dir>/*`).
 * Safe to call concurrently for different names; callers serialise calls for the same name.
 */
export async function resolveJars(
  name: string,
  deps: MavenArtifact[],
  options: ResolveOptions = {},
): Promise<string> {
  const dir = join(kitHome(options.home), 'jars', name);
  const lib = join(dir, 'lib');
  const stamp = join(dir, '.resolved');
  const resolved = () => existsSync(stamp) && existsSync(lib) && readdirSync(lib).length > 0;
  if (resolved()) return lib;
  mkdirSync(dir, { recursive: true });
  // npm test resolves from two processes at once (the cluster cases run beside the integration tests): one mvn
  // per set at a time, across processes; the second finds the stamp and uses what the first copied.
  return exclusive(join(dir, '.resolve.lock'), `resolve ${name}`, async () => {
    if (resolved()) return lib;
    return runMaven(name, deps, options, dir, lib, stamp);
  });
}

async function runMaven(
  name: string,
  deps: MavenArtifact[],
  options: ResolveOptions,
  dir: string,
  lib: string,
  stamp: string,
): Promise<string> {
  writeFileSync(join(dir, 'pom.xml'), pom(name, deps, options.exclusions ?? []));
  options.log?.(`resolving ${name} jars from Maven Central (cached in ~/.m2 after the first run)…`);
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const mvn = spawn(
      'mvn',
      [
        '-B',
        '-q',
        'dependency:copy-dependencies',
        `-DoutputDirectory=${lib}`,
        '-DincludeScope=runtime',
        '-Dmdep.overWriteIfNewer=true',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    mvn.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    mvn.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    mvn.on('error', (e) => reject(new Error(`mvn could not be run (is Maven installed?): ${e.message}`)));
    mvn.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`mvn failed for ${name} (exit ${code}):\n${output.slice(-4000)}`)),
    );
  });
  writeFileSync(stamp, new Date().toISOString());
  options.log?.(
    `${name}: ${readdirSync(lib).length} jars ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return lib;
}
