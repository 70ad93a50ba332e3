// What the PostgreSQL fixture (postgres.ts) needs from the machine: Debian's binaries (installed with apt when
// missing), an unprivileged user to run them as (initdb and postgres refuse root), and the processes of one
// cluster, found in /proc by their parent (the postmaster) or their working directory (the data directory, where
// every PostgreSQL process lives) — never by name, so the system server is never among them.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './process.js';

export const LIB = '/usr/lib/postgresql';

/** The majors installed under /usr/lib/postgresql, highest first. */
export function installedMajors(): string[] {
  try {
    return readdirSync(LIB)
      .filter((m) => /^\d+$/.test(m) && existsSync(join(LIB, m, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<{ ok: boolean; output: string }> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) =>
      resolve({ ok: !error, output: `${out}${err}`.trim() }),
    );
  });
}

export async function ensureInstalled(major: string, log: (line: string) => void): Promise<void> {
  if (existsSync(join(LIB, major, 'bin', 'postgres'))) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `PostgreSQL ${major} is not installed (${LIB}/${major}/bin/postgres is missing) and we are not root: run ` +
        '`sudo apt-get install -y postgresql`, or set LOSSLESS_POSTGRES_URL to a server you run.',
    );
  }
  log('installing postgresql with apt-get (first run on this machine)…');
  const update = await run('apt-get', ['update'], 600_000);
  if (!update.ok) throw new Error(`apt-get update failed:\n${update.output.slice(-3000)}`);
  const install = await run('apt-get', ['install', '-y', 'postgresql'], 900_000);
  if (!install.ok) throw new Error(`apt-get install postgresql failed:\n${install.output.slice(-3000)}`);
  if (!existsSync(join(LIB, major, 'bin', 'postgres'))) {
    throw new Error(`apt-get installed PostgreSQL ${installedMajors().join(', ')}, not ${major}`);
  }
}

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

let runAsCache: Promise<RunAs | undefined> | undefined;

/** Who runs initdb and postgres: nobody else when we are not root; else `postgres`, else `lossless-pg`. */
export function serverUser(log: (line: string) => void): Promise<RunAs | undefined> {
  runAsCache ??= (async () => {
    if (process.getuid?.() !== 0) return undefined;
    const lookup = async (name: string): Promise<RunAs | undefined> => {
      const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
      return uid.ok && gid.ok ? { uid: Number(uid.output), gid: Number(gid.output), name } : undefined;
    };
    const existing = (await lookup('postgres')) ?? (await lookup('lossless-pg'));
    if (existing) return existing;
    log('creating the system user lossless-pg (initdb and postgres refuse to run as root)');
    const made = await run('useradd', ['--system', '--no-create-home', '--user-group', 'lossless-pg']);
    const created = await lookup('lossless-pg');
    if (!created) throw new Error(`useradd lossless-pg failed:\n${made.output}`);
    return created;
  })();
  runAsCache.catch(() => {
    runAsCache = undefined;
  });
  return runAsCache;
}

/** Environment without PG* variables (PGDATA, PGPORT, …) that would point our tools at another server. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
}

/**
 * Spawns a command as `user` (or as ourselves), stdout and stderr appended to logFile. `detached` (the server):
 * it leads a process group of its own and outlives us.
 */
export function spawnAs(
  user: RunAs | undefined,
  command: string,
  args: string[],
  options: { cwd: string; logFile: string; detached?: boolean },
): ChildProcess {
  const out = openSync(options.logFile, 'a');
  try {
    return spawn(command, args, {
      detached: options.detached ?? true,
      stdio: ['ignore', out, out],
      env: cleanEnv(),
      cwd: options.cwd,
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
  } finally {
    closeSync(out);
  }
}

/** Runs a command as `user` to its end, output appended to logFile; resolves whether it exited 0. */
export function runAs(
  user: RunAs | undefined,
  command: string,
  args: string[],
  cwd: string,
  logFile: string,
): Promise<boolean> {
  const child = spawnAs(user, command, args, { cwd, logFile, detached: false });
  return new Promise((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/** Field 4 (ppid) and 22 (start time) of /proc/PID/stat: who forked it, and a guard against a reused pid. */
export function procStat(pid: number): { ppid: number; started: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), started: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function cwdOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

/**
 * The live processes of the cluster in `dataDir`: the postmaster `postmaster` (if given), its children, and every
 * process whose working directory is the data directory (backends a dead postmaster left behind).
 */
export function clusterProcesses(dataDir: string, postmaster?: number): number[] {
  let real: string;
  try {
    real = realpathSync(dataDir);
  } catch {
    return postmaster !== undefined && isAlive(postmaster) ? [postmaster] : [];
  }
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const ours = pid === postmaster || procStat(pid)?.ppid === postmaster || cwdOf(pid) === real;
    if (ours && isAlive(pid)) found.push(pid);
  }
  return found;
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * SIGKILLs every process of the cluster at once and resolves once all are gone (a reused pid is told apart by its
 * start time); throws if some survive 10 s.
 */
export async function killCluster(
  dataDir: string,
  postmaster: number | undefined,
  what: string,
): Promise<void> {
  // Frozen, the postmaster forks no new backend (nor restarts the others) while we collect its children.
  if (postmaster !== undefined) signal(postmaster, 'SIGSTOP');
  const seen = new Map<number, string | undefined>();
  const deadline = Date.now() + 10_000;
  for (;;) {
    for (const pid of clusterProcesses(dataDir, postmaster)) {
      if (!seen.has(pid)) seen.set(pid, procStat(pid)?.started);
    }
    for (const [pid, started] of seen)
      if (!isAlive(pid) || procStat(pid)?.started !== started) seen.delete(pid);
    if (seen.size === 0) return;
    for (const pid of seen.keys()) signal(pid, 'SIGKILL');
    if (Date.now() > deadline)
      throw new Error(`${what}: pids ${[...seen.keys()].join(', ')} survived SIGKILL`);
    await sleep(20);
  }
}
