// Supervises broker processes that outlive the Node process that started them: spawned detached, tracked by
// pid files, stopped gracefully or killed with SIGKILL from any later process. Every broker fixture uses this;
// none talks to child_process directly.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SpawnSpec {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  pidFile: string;
}

/** Starts a detached process, writes its pid file and returns the pid. The process survives our exit. */
export function spawnDetached(spec: SpawnSpec): number {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  mkdirSync(dirname(spec.pidFile), { recursive: true });
  const out = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', out, out],
      env: spec.env ?? process.env,
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    writeFileSync(spec.pidFile, String(child.pid));
    return child.pid;
  } finally {
    closeSync(out);
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers signal 0; /proc tells the truth on Linux. A JVM killed with SIGKILL shows its main
  // thread as a zombie while other threads still exit and its sockets are still bound: alive until one thread.
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const zombie = /^State:\s+Z/m.test(status);
    const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? '1');
    return !(zombie && threads <= 1);
  } catch {
    return !existsSync('/proc/self');
  }
}

/** The pid in the file, if that process is alive; removes a stale pid file. */
export function livePid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid === undefined) return undefined;
  if (isAlive(pid)) return pid;
  rmSync(pidFile, { force: true });
  return undefined;
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(50);
  }
  return !isAlive(pid);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  // Detached children lead their own process group: signal the group so helpers (e.g. Erlang's) go too.
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** SIGKILL the process (and its group) and wait until it is gone. */
export async function killHard(pidFile: string): Promise<void> {
  const pid = livePid(pidFile);
  if (pid === undefined) return;
  signalGroup(pid, 'SIGKILL');
  if (!(await waitForExit(pid, 10_000))) throw new Error(`pid ${pid} survived SIGKILL`);
  rmSync(pidFile, { force: true });
}

/**
 * SIGSTOP or SIGCONT the process of a pid file (not its group: a frozen broker's helpers may run on). A frozen
 * process keeps its sockets open and answers nothing, as a node in a long GC pause or a hung VM does.
 */
export function signalPid(pidFile: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
  const pid = livePid(pidFile);
  if (pid === undefined) throw new Error(`${signal}: no running process in ${pidFile}`);
  process.kill(pid, signal);
}

/** SIGTERM, wait up to graceMs, then SIGKILL. */
export async function stopGracefully(pidFile: string, graceMs = 30_000): Promise<void> {
  const pid = livePid(pidFile);
  if (pid === undefined) return;
  signalGroup(pid, 'SIGTERM');
  if (!(await waitForExit(pid, graceMs))) signalGroup(pid, 'SIGKILL');
  await waitForExit(pid, 10_000);
  rmSync(pidFile, { force: true });
}

export function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Polls `ready` until it returns true. Fails early, with the log tail, when the process died, and after
 * timeoutMs otherwise.
 */
export async function waitUntil(
  what: string,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; pidFile?: string; logFile?: string; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (options.pidFile && livePid(options.pidFile) === undefined) {
      const tail = options.logFile ? await tailFile(options.logFile, 40) : '';
      throw new Error(`${what}: the process exited before it was ready\n${tail}`);
    }
    if (Date.now() > deadline) {
      const tail = options.logFile ? await tailFile(options.logFile, 40) : '';
      throw new Error(`${what}: not ready after ${options.timeoutMs} ms\n${tail}`);
    }
    await sleep(options.intervalMs ?? 250);
  }
}

export async function tailFile(file: string, lines = 50): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '';
  }
}

// --- one operation at a time per lock file: in this process (a promise chain) and across processes (the file) ---

const chains = new Map<string, Promise<void>>();

/** Takes `file` as a lock (created exclusively, holding our pid), runs fn, removes it. Breaks a dead holder's lock. */
async function fileLock<T>(file: string, what: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  mkdirSync(dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const text = await readFile(file, 'utf8').catch(() => '');
      const holder = Number.parseInt(text, 10);
      // An empty file is a lock being written right now, unless it is old (its writer died in between).
      const young =
        text === '' && Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0) < 5_000;
      if (!young && (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder))) {
        await rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${what}: still locked by pid ${holder} (${file})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}

/**
 * Runs fn after every earlier call for the same lock file in this process, and under that file lock against
 * other processes (the CLI and tests, parallel test files). Every fixture serialises up/down/kill through this.
 */
export async function exclusive<T>(
  lockFile: string,
  what: string,
  fn: () => Promise<T>,
  timeoutMs = 15 * 60_000,
): Promise<T> {
  const previous = chains.get(lockFile) ?? Promise.resolve();
  let release = () => {};
  const mine = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => mine);
  chains.set(lockFile, tail);
  await previous;
  try {
    return await fileLock(lockFile, what, fn, timeoutMs);
  } finally {
    release();
    if (chains.get(lockFile) === tail) chains.delete(lockFile);
  }
}
