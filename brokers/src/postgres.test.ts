// Runs against the kit's own PostgreSQL (127.0.0.1:55432, started here and left running, as the other fixture
// tests leave theirs): concurrent up() calls end with one server, a committed row survives SIGKILL + restart, a
// kill leaves no process and a closed port, and the system PostgreSQL on 5432 is never touched.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgres } from './postgres.js';
import { clusterProcesses } from './postgres-machine.js';
import { isAlive, portOpen } from './process.js';

const fixture = postgres({ mode: 'local' });
const dataDir = join(fixture.dir, 'data');
const ROOT = join(import.meta.dirname, '..', '..');

/** A connected client whose `ended` settles when the server drops it (or it is closed). */
async function connect(config: pg.ClientConfig = { connectionString: fixture.settings.url }) {
  const client = new pg.Client(config);
  const ended = new Promise<Error | undefined>((resolve) => {
    client.on('error', resolve);
    client.once('end', () => resolve(undefined));
  });
  await client.connect();
  return { client, ended };
}

/**
 * `npm run brokers -- up postgres --json` in a process of its own: `calling` settles when it is about to call up()
 * (its "up postgres-…" line), `done` with its exit code and output.
 */
function cliUp() {
  let calling = () => {};
  const aboutToCall = new Promise<void>((resolve) => {
    calling = resolve;
  });
  const done = new Promise<{ code: number | null; stdout: string; output: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'scripts/run-ts.mjs'), 'brokers/src/cli.ts', 'up', 'postgres', '--json'],
      { cwd: ROOT, env: { ...process.env, LOSSLESS_POSTGRES_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
      if (output.includes(`up ${fixture.cluster}`)) calling();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      calling();
      resolve({ code, stdout, output });
    });
  });
  return { aboutToCall, done };
}

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The system server as its own superuser sees it, or undefined when there is none we may reach. */
async function systemServer(): Promise<{ startedAt: string; pid: number } | undefined> {
  const config = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };
  try {
    const { client } = await connect({ ...config, connectionTimeoutMillis: 3_000 });
    try {
      const { rows } = await client.query<{ started: Date; pid: number }>(
        'SELECT pg_postmaster_start_time() AS started, pg_backend_pid() AS pid',
      );
      const row = rows[0];
      return row && { startedAt: row.started.toISOString(), pid: ppidOf(row.pid) };
    } finally {
      await client.end();
    }
  } catch {
    return undefined;
  }
}

const systemBefore = await systemServer();

describe('postgres fixture', () => {
  beforeAll(async () => {
    await fixture.up();
    await fixture.down(); // the concurrency case below starts it from a stopped cluster
  });

  afterAll(async () => {
    await fixture.up(); // leave it running for the next run, as the other fixture tests do
  });

  it('concurrent up() calls, in this process and in two others, end with one postmaster', async () => {
    const logBefore = readFileSync(join(fixture.dir, 'postgres.log'), 'utf8').length;
    const other = postgres({ mode: 'local' });
    const clis = [cliUp(), cliUp()];
    // Ours join the race when a CLI calls up() (both load the kit for about a second first).
    await Promise.race(clis.map((c) => c.aboutToCall));
    const [cli1, cli2] = await Promise.all([
      ...clis.map((c) => c.done),
      fixture.up(),
      other.up(),
      fixture.up(),
    ]);
    // One server start, whoever won: every start writes a `--- <time> start` line to the log first.
    const started = readFileSync(join(fixture.dir, 'postgres.log'), 'utf8').slice(logBefore);
    expect(started.match(/^--- .* start$/gm)).toHaveLength(1);
    expect(cli1?.code, cli1?.output).toBe(0);
    expect(cli2?.code, cli2?.output).toBe(0);
    const status = await fixture.status();
    expect(status.running).toBe(true);
    expect((await other.status()).pid).toBe(status.pid);
    const pid = status.pid ?? -1;
    expect(JSON.parse(cli1?.stdout ?? '').postgres.url).toBe(fixture.settings.url);
    // Every process working in the data directory is that postmaster or one of its children.
    const processes = clusterProcesses(dataDir);
    expect(processes).toContain(pid);
    expect(processes.filter((p) => p !== pid && ppidOf(p) !== pid)).toEqual([]);
    const postmasterPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(postmasterPid).toBe(pid);
    await fixture.up(); // and once more, with it running
    expect((await fixture.status()).pid).toBe(pid);
  });

  it('a committed row survives kill() and restart(): crash recovery replays it', async () => {
    await fixture.up();
    const id = `row-${process.pid}-${Date.now()}`;
    const { client, ended } = await connect();
    await client.query('CREATE TABLE IF NOT EXISTS kit_survivors (id text PRIMARY KEY, at timestamptz)');
    await client.query('BEGIN');
    await client.query('INSERT INTO kit_survivors VALUES ($1, now())', [id]);
    await client.query('COMMIT');
    await fixture.kill();
    expect(await ended).toBeInstanceOf(Error); // the server vanished under the open connection
    await fixture.restart();
    expect(await fixture.logTail(200)).toMatch(/not properly shut down; automatic recovery in progress/);
    const after = await connect();
    try {
      const { rows } = await after.client.query('SELECT id FROM kit_survivors WHERE id = $1', [id]);
      expect(rows).toEqual([{ id }]);
      await after.client.query('DELETE FROM kit_survivors WHERE id = $1', [id]);
    } finally {
      await after.client.end();
    }
  });

  it('after kill() no process of the fixture is left, a busy backend included, and its port is closed', async () => {
    await fixture.up();
    const { client, ended } = await connect();
    // A backend in an endless PL/pgSQL loop never looks at whether its postmaster lives: only our SIGKILL ends it.
    const busy = await connect();
    const busyPid = (await busy.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const looping = busy.client.query('DO $$ BEGIN LOOP PERFORM 1; END LOOP; END $$').catch((e: Error) => e);
    const active = () =>
      client.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [busyPid]);
    while ((await active()).rowCount === 0) {} // until the loop runs (each probe is a round trip)
    const postmaster = (await fixture.status()).pid ?? -1;
    // pg_stat_activity lists the backends and the auxiliary processes (checkpointer, walwriter, …).
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
    const pids = [postmaster, ...rows.map((r) => r.pid)];
    expect(pids).toContain(busyPid);
    expect(pids.length).toBeGreaterThan(5);
    await fixture.kill();
    expect(pids.filter((pid) => isAlive(pid))).toEqual([]);
    await ended;
    expect(await looping).toBeInstanceOf(Error);
    expect(clusterProcesses(dataDir, postmaster)).toEqual([]);
    expect(await portOpen('127.0.0.1', fixture.settings.port)).toBe(false);
    expect((await fixture.status()).running).toBe(false);
    await fixture.restart();
    expect((await fixture.status()).running).toBe(true);
  });

  it.skipIf(systemBefore === undefined)(
    'leaves the system PostgreSQL on 5432 alone (skipped when there is none trusting 127.0.0.1)',
    async () => {
      await fixture.kill();
      await fixture.restart();
      await fixture.down();
      const systemAfter = await systemServer();
      expect(systemAfter).toEqual(systemBefore);
      expect(systemAfter && isAlive(systemAfter.pid)).toBe(true);
      expect(clusterProcesses(dataDir)).not.toContain(systemAfter?.pid);
    },
  );
});
