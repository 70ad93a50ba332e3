// The Kafka distribution: the pinned versions, the aliases `version` accepts, and the broker jars of each
// version, resolved from Maven Central once per machine and cached under <home>/jars/kafka-<version>-<hash>/.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { kitHome } from './home.js';
import type { MavenArtifact } from './maven.js';
import { resolveJars } from './maven.js';
import { exclusive } from './process.js';

/** The pinned versions: the newest 3.9.x and the newest 4.x on Maven Central (checked 2026-11). */
export const KAFKA_3_VERSION = '3.9.2';
export const KAFKA_4_VERSION = '4.4.0';
export const DEFAULT_KAFKA_VERSION = KAFKA_4_VERSION;

const LOG4J_VERSION = '2.25.3';

/** The exact version for `version`: the pinned one for an alias ("3", "3.9", "4", "4.<minor>"), else as given. */
export function resolveVersion(version: string | undefined): string {
  const v = version ?? DEFAULT_KAFKA_VERSION;
  if (v === '3' || v === '3.9') return KAFKA_3_VERSION;
  if (v === '4' || v === KAFKA_4_VERSION.split('.').slice(0, 2).join('.')) return KAFKA_4_VERSION;
  if (!/^(3\.9|4\.\d+)\.\d+$/.test(v)) {
    throw new Error(
      `kafka: version ${v} is not supported (use 3.9.x or 4.x.y; pinned ${KAFKA_3_VERSION}, ${KAFKA_4_VERSION})`,
    );
  }
  return v;
}

/** Kafka 4 differs from 3.9 in its logging backend and its share-group coordinator. */
export function isKafka4(version: string): boolean {
  return version.startsWith('4.');
}

/** The broker jars and the logging backend each line needs (Kafka's pom leaves the backend to the distribution). */
function artifacts(version: string): { deps: MavenArtifact[]; exclusions: string[] } {
  const kafkaJar = { groupId: 'org.apache.kafka', artifactId: 'kafka_2.13', version };
  if (isKafka4(version)) {
    // 4.x logs through slf4j 1.7 → log4j2 (the distribution ships log4j-slf4j-impl + log4j-core).
    return {
      deps: [
        kafkaJar,
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-core', version: LOG4J_VERSION },
        { groupId: 'org.apache.logging.log4j', artifactId: 'log4j-slf4j-impl', version: LOG4J_VERSION },
      ],
      exclusions: [],
    };
  }
  // 3.9 logs through slf4j 1.7 → reload4j; ZooKeeper's pom would bring logback as a second binding.
  return {
    deps: [
      kafkaJar,
      { groupId: 'ch.qos.reload4j', artifactId: 'reload4j', version: '1.2.25' },
      { groupId: 'org.slf4j', artifactId: 'slf4j-reload4j', version: '1.7.36' },
    ],
    exclusions: ['ch.qos.logback:logback-classic', 'ch.qos.logback:logback-core'],
  };
}

const jarDirs = new Map<string, Promise<string>>();

/** The runtime classpath directory of one Kafka version (resolved once per machine, then cached). */
export function kafkaJars(
  version: string,
  options: { home?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const v = resolveVersion(version);
  const { deps, exclusions } = artifacts(v);
  // The jar set's name carries a hash of its definition, so changing the artifacts re-resolves.
  const hash = createHash('sha256').update(JSON.stringify({ deps, exclusions })).digest('hex').slice(0, 8);
  const name = `kafka-${v}-${hash}`;
  const home = kitHome(options.home);
  const key = join(home, 'jars', name);
  let pending = jarDirs.get(key);
  if (!pending) {
    mkdirSync(join(home, 'jars'), { recursive: true });
    pending = exclusive(`${key}.lock`, `resolving ${name}`, () =>
      resolveJars(name, deps, {
        home,
        exclusions,
        ...(options.log ? { log: options.log } : {}),
      }),
    );
    jarDirs.set(key, pending);
    pending.catch(() => jarDirs.delete(key));
  }
  return pending;
}
