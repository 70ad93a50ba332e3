// Running Kafka's JVM: the java binary (JAVA_HOME or PATH), one-shot `java` runs (storage format, archive
// checks), the options every node's JVM gets, and the class-data-sharing archive that halves its start time.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loggingConfig } from './kafka-config.js';
import { isAlive } from './process.js';

/** The java binary: $JAVA_HOME/bin/java, else `java` from PATH. */
export function javaCommand(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Runs java to completion; rejects with its output when it fails or outlives `timeoutMs`. */
export function runJava(args: string[], cwd: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      javaCommand(),
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stdout}\n${stderr}`.trim()));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

/**
 * The JVM options of a Kafka process with classpath `lib` (heap, GC, log4j config at `level`). Writes the log4j
 * config file into `dir`.
 */
export function jvmArgs(options: {
  version: string;
  dir: string;
  lib: string;
  level: 'INFO' | 'WARN';
  heap: string[] | undefined;
}): string[] {
  const logging = loggingConfig(options.version, options.level);
  const file = join(options.dir, logging.file);
  writeFileSync(file, logging.text);
  return [
    ...(options.heap ?? ['-Xms256m', '-Xmx768m']),
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    `-D${logging.property}=file:${file}`,
    '-cp',
    join(options.lib, '*'),
  ];
}

// --- class data sharing: a JVM that maps an archive of Kafka's loaded classes starts about twice as fast -----------
//
// The archive is made for free: when none exists, one started node runs with -XX:ArchiveClassesAtExit and
// writes it when it exits gracefully (stop/down; a SIGKILL writes nothing and the next start tries again). An
// archive that does not match the JVM or the classpath is ignored by the JVM (a warning in the log), but a
// truncated one (its writer killed while dumping) crashes it with SIGBUS: a dump is adopted only after a JVM
// started with it under -Xshare:on.

export interface ClassArchive {
  args: string[];
  /** Records the pid of the JVM that dumps (call right after spawning it). */
  spawned(pid: number): void;
}

/** The CDS options for the next node started from classpath `lib` (see above). */
export async function classArchive(lib: string): Promise<ClassArchive> {
  const dir = dirname(lib);
  const archive = join(dir, 'classes.jsa');
  let dumping = false;
  for (const entry of readdirSync(dir)) {
    if (!entry.endsWith('.jsa.owner')) continue;
    const owner = join(dir, entry);
    const dump = owner.slice(0, -'.owner'.length);
    const writer = Number.parseInt(readFileSync(owner, 'utf8'), 10);
    if (Number.isInteger(writer) && writer > 0 && isAlive(writer)) {
      dumping = true;
      continue;
    }
    // The writer is gone: it wrote a complete archive at exit, or nothing, or (killed while dumping) a part.
    if (!existsSync(archive) && existsSync(dump)) {
      const usable = await runJava(
        [
          `-XX:SharedArchiveFile=${dump}`,
          '-Xshare:on',
          '-XX:ErrorFile=/dev/null',
          '-cp',
          join(lib, '*'),
          '-version',
        ],
        dir,
        30_000,
      ).then(
        () => true,
        () => false,
      );
      try {
        if (usable && !existsSync(archive)) renameSync(dump, archive);
      } catch {
        /* another process adopted it first */
      }
    }
    rmSync(dump, { force: true });
    rmSync(owner, { force: true });
  }
  const none = { args: [], spawned: () => {} };
  if (existsSync(archive)) return { ...none, args: [`-XX:SharedArchiveFile=${archive}`, '-Xshare:auto'] };
  if (dumping) return none;
  const dump = join(dir, `dump-${randomBytes(4).toString('hex')}.jsa`);
  return {
    args: [`-XX:ArchiveClassesAtExit=${dump}`],
    spawned: (pid) => writeFileSync(`${dump}.owner`, String(pid)),
  };
}
