// The processes of one RabbitMQ node of the kit, found by a marker in their environment: the Erlang VM and the
// helpers it starts in their own sessions (erl_child_setup, inet_gethost, the disk monitor), which a pid file
// alone would miss. rabbitmq.ts kills and waits for them so that a stopped node leaves nothing behind.
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './process.js';

/** The environment variable every process of a node carries (value: the node's directory). */
export const MARKER = 'LOSSLESS_RABBITMQ_NODE';
/** The marker scan needs Linux's /proc; elsewhere the kit falls back to the pid files. */
export const HAS_PROC = existsSync('/proc/self/environ');

/** A process of a node: its pid and command name (`beam.smp`, `erl_child_setup`, …). */
export interface Proc {
  pid: number;
  comm: string;
}

/** Every live process whose environment carries `MARKER=marker` (never this process). */
export async function markedProcesses(marker: string): Promise<Proc[]> {
  const needle = Buffer.from(`${MARKER}=${marker}\0`);
  const found: Proc[] = [];
  const entries = await readdir('/proc').catch(() => [] as string[]);
  await Promise.all(
    entries.map(async (entry) => {
      if (!/^\d+$/.test(entry)) return;
      const pid = Number(entry);
      if (pid === process.pid) return;
      try {
        const environ = await readFile(`/proc/${entry}/environ`);
        const at = environ.indexOf(needle);
        if (at < 0 || (at > 0 && environ[at - 1] !== 0)) return;
        if (!isAlive(pid)) return;
        const comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
        found.push({ pid, comm });
      } catch {
        /* gone, or not ours to read */
      }
    }),
  );
  return found;
}

/** The kernel's start time of a process (field 22 of /proc/PID/stat), so a reused PID is not taken for it. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** SIGKILLs every process of `marker` and resolves once all of them are gone; throws if some survive. */
export async function killMarked(marker: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A process that is exiting has already dropped its memory, so /proc/PID/environ reads empty and the marker
  // no longer finds it while its threads still run and its sockets are still bound. Keep every process seen
  // (PID and start time) and wait for each of them too: the node is dead only when all are.
  const seen = new Map<number, { comm: string; started: string | undefined }>();
  for (;;) {
    const marked = await markedProcesses(marker);
    for (const p of marked)
      if (!seen.has(p.pid)) seen.set(p.pid, { comm: p.comm, started: startTime(p.pid) });
    for (const [pid, p] of seen) if (!isAlive(pid) || startTime(pid) !== p.started) seen.delete(pid);
    if (seen.size === 0) return;
    for (const p of marked) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (Date.now() > deadline) {
      const left = [...seen].map(([pid, p]) => `${pid} (${p.comm})`).join(', ');
      throw new Error(`processes survived SIGKILL: ${left}`);
    }
    await sleep(50);
  }
}
