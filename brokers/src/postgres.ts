// PostgreSQL fixture: the kit's own PostgreSQL server from Debian's binaries (/usr/lib/postgresql/<major>/bin),
// with its cluster under the kit home (`<home>/postgres-<major>/`), on 127.0.0.1:55432 only, so tests can SIGKILL
// and restart the database under an outbox or inbox. The system PostgreSQL (5432, /var/lib/postgresql,
// /var/run/postgresql) is never stopped, signalled or read: our processes are the postmaster named by our pid
// file, its children, and any process whose working directory is our data directory (every PostgreSQL process
// chdirs there; backends rewrite their command line and environment, so a marker variable would not survive).
//
// initdb and postgres refuse to run as root. When the kit runs as root (as on the development machine) they run
// as an unprivileged user: the `postgres` system user when it exists, else a `lossless-pg` system user created
// with `useradd --system --no-create-home`. They are spawned with Node's uid/gid options (no su/runuser between
// us and the postmaster, so the spawned pid is the postmaster's), and the fixture's directories belong to that
// user. Not root: they run as the current user.
//
// LOSSLESS_POSTGRES_URL makes the fixture external: up() and down() only check that a query works, kill() and
// restart() throw.
import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { defaultLog, kitHome } from './home.js';
import {
  cwdOf,
  ensureInstalled,
  installedMajors,
  killCluster,
  LIB,
  type RunAs,
  runAs,
  serverUser,
  signal,
  spawnAs,
} from './postgres-machine.js';
import { exclusive, isAlive, portOpen, readPid, tailFile, waitForExit, waitUntil } from './process.js';

const HOST = '127.0.0.1';
const USER = 'lossless';
const DATABASE = 'lossless';
/** The default port: far from the system server's 5432 and from every port of the message-broker fixtures. */
export const POSTGRES_PORT = 55432;
/** What `apt-get install postgresql` brings on Debian 12, the major used when none is installed yet. */
const DEFAULT_MAJOR = '15';
const READY_TIMEOUT_MS = 120_000;

export interface PostgresSettings {
  kind: 'postgres';
  /** postgres://user@host:port/database (the local fixture trusts 127.0.0.1: no password). */
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
}

export interface PostgresOptions {
  /** TCP port on 127.0.0.1 (default 55432). Another port gets a cluster of its own (`postgres-<major>-p<port>`). */
  port?: number;
  /** Major version of the Debian binaries (default: the highest installed, else 15). */
  version?: string;
  /** Kit home (default $LOSSLESS_HOME or <repo>/.lossless). */
  home?: string;
  /** Progress lines (default: printed on a TTY or in CI, silent otherwise). */
  log?: (line: string) => void;
  /** `external` when LOSSLESS_POSTGRES_URL is set (default), else `local`; `local` ignores the variable. */
  mode?: 'local' | 'external';
}

export interface PostgresStatus {
  kind: 'postgres';
  version: string;
  cluster: string;
  external: boolean;
  running: boolean;
  /** The postmaster's pid (local fixture, when running). */
  pid?: number;
  port: number;
}

export interface PostgresFixture {
  readonly kind: 'postgres';
  /** The major version (`15`), or `external`. */
  readonly version: string;
  /** The on-disk name, e.g. `postgres-15`. */
  readonly cluster: string;
  /** The fixture's directory: data/, run/ (the unix socket), postgres.log, postgres.pid ('' when external). */
  readonly dir: string;
  readonly external: boolean;
  /** How clients reach it. Valid before up(). */
  readonly settings: PostgresSettings;
  /**
   * Installs PostgreSQL if missing, runs initdb on first use, starts the server unless it runs, creates the
   * database, and resolves once a client query works. Idempotent; concurrent calls from one or several processes
   * end with one server.
   */
  up(): Promise<void>;
  /** Graceful stop (SIGTERM: smart shutdown, then SIGINT: fast), leaving no process behind; wipe removes the data. */
  down(options?: { wipe?: boolean }): Promise<void>;
  /**
   * A crash: SIGKILL of the postmaster and every backend and auxiliary process at once. Resolves once all are gone
   * and the port is closed. Harmless when not running. Throws on an external fixture.
   */
  kill(): Promise<void>;
  /** Stops gracefully if running (after kill(): nothing to stop), starts again (crash recovery runs after a kill)
   * and resolves once queries work. Throws on an external fixture. */
  restart(): Promise<void>;
  status(): Promise<PostgresStatus>;
  /** The last lines of the server's log, for failure reports. */
  logTail(lines?: number): Promise<string>;
}

/** Runs a query on a fresh connection and closes it. */
async function query(config: pg.ClientConfig, sql: string) {
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {}); // a server going away mid-query rejects the query; nothing else to report
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/** In-flight `up()` calls per fixture directory, shared by every fixture object of a process. */
const upInFlight = new Map<string, Promise<void>>();

class LocalPostgres implements PostgresFixture {
  readonly kind = 'postgres' as const;
  readonly external = false;
  readonly version: string;
  readonly cluster: string;
  readonly dir: string;
  readonly settings: PostgresSettings;
  private readonly port: number;
  private readonly log: (line: string) => void;
  private readonly dataDir: string;
  /**
   * Where the server's own files live (data, socket): the fixture directory — or, when the server runs as another
   * user who cannot reach the kit home (a parent directory without o+x, as a CI checkout may have), a directory
   * under /tmp named after it. Pid file, log and lock stay in the fixture directory (written by us).
   */
  private readonly serverDir: string;
  private readonly pidFile: string;
  private readonly logFile: string;

  constructor(options: PostgresOptions) {
    this.port = options.port ?? POSTGRES_PORT;
    this.version = options.version ?? installedMajors()[0] ?? DEFAULT_MAJOR;
    this.cluster = `postgres-${this.version}${this.port === POSTGRES_PORT ? '' : `-p${this.port}`}`;
    this.dir = join(kitHome(options.home), this.cluster);
    this.serverDir =
      process.getuid?.() === 0 && !searchableByOthers(this.dir)
        ? `/tmp/lossless-pg-${createHash('sha256').update(this.dir).digest('hex').slice(0, 12)}-server`
        : this.dir;
    this.dataDir = join(this.serverDir, 'data');
    this.pidFile = join(this.dir, 'postgres.pid');
    this.logFile = join(this.dir, 'postgres.log');
    this.log = options.log ?? (process.stderr.isTTY || process.env.CI ? defaultLog : () => {});
    const url = `postgres://${USER}@${HOST}:${this.port}/${DATABASE}`;
    this.settings = { kind: 'postgres', url, host: HOST, port: this.port, user: USER, database: DATABASE };
  }

  private get bin(): string {
    return join(LIB, this.version, 'bin');
  }

  /** A unix socket path is limited to 107 bytes: a deep kit home gets its socket directory under /tmp. */
  private get socketDir(): string {
    const inside = join(this.serverDir, 'run');
    if (`${inside}/.s.PGSQL.${this.port}`.length < 100) return inside;
    return `/tmp/lossless-pg-${createHash('sha256').update(this.dir).digest('hex').slice(0, 12)}`;
  }

  private locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    return exclusive(join(this.dir, '.up.lock'), `${this.cluster} ${what}`, fn);
  }

  /** The postmaster's pid, if it runs: our pid file's process, when it still works in our data directory. */
  private postmaster(): number | undefined {
    if (!existsSync(this.dataDir)) return undefined;
    const real = realpathSync(this.dataDir);
    const ours = readPid(this.pidFile);
    for (const pid of [ours, readPid(join(this.dataDir, 'postmaster.pid'))]) {
      if (pid === undefined || !isAlive(pid)) continue;
      let cmdline: string[] = [];
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue; // exited just now
      }
      if (!cmdline.includes(this.dataDir) && cwdOf(pid) !== real) continue;
      if (pid !== ours) writeFileSync(this.pidFile, String(pid)); // our pid file was lost: adopt the server
      return pid;
    }
    return undefined;
  }

  up(): Promise<void> {
    let pending = upInFlight.get(this.dir);
    if (!pending) {
      pending = this.locked('up', () => this.start()).finally(() => upInFlight.delete(this.dir));
      upInFlight.set(this.dir, pending);
    }
    return pending;
  }

  async down(options: { wipe?: boolean } = {}): Promise<void> {
    await upInFlight.get(this.dir)?.catch(() => {}); // never race a start in flight in this process
    await this.locked('down', async () => {
      await this.stop();
      if (options.wipe) {
        this.log(`wiping ${this.dir}`);
        for (const entry of readdirSync(this.dir)) {
          if (entry !== '.up.lock') rmSync(join(this.dir, entry), { recursive: true, force: true });
        }
        rmSync(this.socketDir, { recursive: true, force: true });
        if (this.serverDir !== this.dir) rmSync(this.serverDir, { recursive: true, force: true });
      }
    });
  }

  kill(): Promise<void> {
    return this.locked('kill', async () => {
      if (this.postmaster() !== undefined) this.log(`killing PostgreSQL ${this.cluster} (SIGKILL)`);
      await this.killAll();
      await waitUntil(`${this.cluster}: port ${this.port} closed`, async () => !(await this.portOpen()), {
        timeoutMs: 10_000,
        intervalMs: 50,
      });
    });
  }

  restart(): Promise<void> {
    return this.locked('restart', async () => {
      await this.stop();
      await this.start();
    });
  }

  async status(): Promise<PostgresStatus> {
    const pid = this.postmaster();
    return {
      kind: 'postgres',
      version: this.version,
      cluster: this.cluster,
      external: false,
      running: pid !== undefined,
      ...(pid !== undefined ? { pid } : {}),
      port: this.port,
    };
  }

  logTail(lines = 50): Promise<string> {
    return tailFile(this.logFile, lines);
  }

  private portOpen(): Promise<boolean> {
    return portOpen(HOST, this.port, 500);
  }

  /** SIGKILL every process of the cluster; resolves once all are gone. */
  private async killAll(): Promise<void> {
    await killCluster(this.dataDir, this.postmaster(), this.cluster);
    rmSync(this.pidFile, { force: true });
  }

  /** SIGTERM (smart shutdown: no new sessions, waits for clients), then SIGINT (fast: ends them), then SIGKILL. */
  private async stop(): Promise<void> {
    const postmaster = this.postmaster();
    if (postmaster !== undefined) {
      this.log(`stopping PostgreSQL ${this.cluster}`);
      signal(postmaster, 'SIGTERM');
      if (!(await waitForExit(postmaster, 3_000))) {
        signal(postmaster, 'SIGINT');
        await waitForExit(postmaster, 60_000);
      }
    }
    await this.killAll(); // nothing after a clean shutdown; backends of a postmaster killed alone otherwise
  }

  /** Starts the server unless it runs, then waits until queries work and the database exists. Under the lock. */
  private async start(): Promise<void> {
    if (this.postmaster() === undefined) {
      await ensureInstalled(this.version, this.log);
      const user = await serverUser(this.log);
      await this.prepare(user);
      await this.killAll(); // backends a lone dead postmaster left would keep its shared memory in use
      // No postmaster works here, so its lock files are stale. PostgreSQL would take a zombie (a killed postmaster
      // whose new parent, init, has not reaped it yet) for a live server and refuse to start; its shared-memory
      // check (keyed by the data directory, not these files) still guards against leftover backends.
      rmSync(join(this.dataDir, 'postmaster.pid'), { force: true });
      rmSync(join(this.socketDir, `.s.PGSQL.${this.port}.lock`), { force: true });
      if (await this.portOpen()) {
        throw new Error(`${this.cluster}: port ${this.port} is in use by a process that is not this fixture`);
      }
      const started = Date.now();
      this.spawnServer(user);
      await this.waitReady();
      this.log(`PostgreSQL ${this.cluster} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } else {
      await this.waitReady();
    }
  }

  /** Directories owned by the server's user, and a cluster (initdb) on first use. */
  private async prepare(user: RunAs | undefined): Promise<void> {
    for (const dir of new Set([this.dir, this.serverDir, this.socketDir])) {
      mkdirSync(dir, { recursive: true });
      if (user) chownSync(dir, user.uid, user.gid);
    }
    if (user && !(await runAs(user, 'test', ['-w', this.serverDir], this.serverDir, this.logFile))) {
      throw new Error(
        `${this.cluster}: user ${user.name} cannot write ${this.serverDir}; every parent directory of the kit home ` +
          'must be searchable by others (chmod o+x), or set LOSSLESS_HOME elsewhere',
      );
    }
    if (existsSync(join(this.dataDir, 'PG_VERSION'))) return;
    // initdb into a side directory, renamed when complete: a crash during initdb never leaves a half cluster.
    const fresh = `${this.dataDir}.new`;
    rmSync(fresh, { recursive: true, force: true });
    this.log(`initdb ${this.dataDir} (PostgreSQL ${this.version}, superuser ${USER}, trust on 127.0.0.1)`);
    const args = ['-D', fresh, '--encoding=UTF8', '--locale=C', '--auth=trust', `--username=${USER}`];
    // --no-sync: a SIGKILL of the server does not lose the page cache; the server itself runs with fsync=on.
    if (
      !(await runAs(user, join(this.bin, 'initdb'), [...args, '--no-sync'], this.serverDir, this.logFile))
    ) {
      throw new Error(`${this.cluster}: initdb failed\n${await tailFile(this.logFile, 40)}`);
    }
    renameSync(fresh, this.dataDir);
  }

  /** The postmaster itself, detached (it outlives us), its pid in our pid file. */
  private spawnServer(user: RunAs | undefined): void {
    const settings = {
      listen_addresses: HOST,
      port: String(this.port),
      unix_socket_directories: this.socketDir,
      cluster_name: 'lossless-kit', // shows in every process title: `postgres: lossless-kit: checkpointer`
      fsync: 'on',
      synchronous_commit: 'on',
      full_page_writes: 'on',
      max_connections: '200',
      logging_collector: 'off', // stderr goes to postgres.log
      log_line_prefix: '%m [%p] ',
    };
    const args = ['-D', this.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    writeFileSync(this.logFile, `--- ${new Date().toISOString()} start\n`, { flag: 'a' });
    this.log(`starting PostgreSQL ${this.cluster} on ${HOST}:${this.port}${user ? ` as ${user.name}` : ''}`);
    const child = spawnAs(user, join(this.bin, 'postgres'), args, {
      cwd: this.serverDir,
      logFile: this.logFile,
    });
    if (child.pid === undefined) throw new Error(`${this.cluster}: could not start ${this.bin}/postgres`);
    child.on('error', () => {});
    child.unref();
    writeFileSync(this.pidFile, String(child.pid));
  }

  /** Until a query works (through crash recovery after a kill), then creates the database if missing. */
  private async waitReady(): Promise<void> {
    const admin = { host: HOST, port: this.port, user: USER, database: 'postgres' };
    const { pidFile, logFile } = this;
    await waitUntil(
      `PostgreSQL ${this.cluster}`,
      async () => (await query(admin, 'SELECT 1')).rowCount === 1,
      {
        timeoutMs: READY_TIMEOUT_MS,
        pidFile,
        logFile,
        intervalMs: 100,
      },
    );
    const found = await query(admin, `SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`);
    if (found.rowCount === 0) {
      this.log(`creating database ${DATABASE}`);
      await query(admin, `CREATE DATABASE ${DATABASE}`);
    }
    await query({ ...admin, database: DATABASE }, 'SELECT 1');
  }
}

/** A server you run (LOSSLESS_POSTGRES_URL): no fault controls. */
function externalPostgres(url: string): PostgresFixture {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username) || 'postgres';
  const settings: PostgresSettings = {
    kind: 'postgres',
    url,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 5432,
    user,
    database: decodeURIComponent(parsed.pathname.slice(1)) || user,
  };
  const check = async () => {
    await query({ connectionString: url }, 'SELECT 1').catch((cause: unknown) => {
      const where = `${settings.host}:${settings.port}`;
      throw new Error(`postgres (external, LOSSLESS_POSTGRES_URL): no query works at ${where}`, { cause });
    });
  };
  const noFaults = (what: string) =>
    Promise.reject(
      new Error(
        `postgres: ${what} needs a server the kit runs itself; LOSSLESS_POSTGRES_URL only connects to yours ` +
          '(unset it for the fault cases)',
      ),
    );
  return {
    kind: 'postgres',
    version: 'external',
    cluster: 'postgres-external',
    dir: '',
    external: true,
    settings,
    up: check,
    down: check,
    kill: () => noFaults('kill()'),
    restart: () => noFaults('restart()'),
    status: async () => ({
      kind: 'postgres',
      version: 'external',
      cluster: 'postgres-external',
      external: true,
      running: await check().then(
        () => true,
        () => false,
      ),
      port: settings.port,
    }),
    logTail: async () => '(external PostgreSQL: no logs)',
  };
}

/**
 * The kit's PostgreSQL on 127.0.0.1:55432 (user and database `lossless`, trust auth), or the server named by
 * LOSSLESS_POSTGRES_URL.
 */
export function postgres(options: PostgresOptions = {}): PostgresFixture {
  const url = process.env.LOSSLESS_POSTGRES_URL?.trim();
  const mode = options.mode ?? (url ? 'external' : 'local');
  if (mode === 'local') return new LocalPostgres(options);
  if (!url)
    throw new Error('postgres: mode external needs LOSSLESS_POSTGRES_URL (postgres://user@host:port/db)');
  return externalPostgres(url);
}

/** Whether every existing directory from / down to `path` lets other users through (o+x). */
function searchableByOthers(path: string): boolean {
  let at = '/';
  for (const part of path.split('/').filter(Boolean)) {
    at = join(at, part);
    let mode: number;
    try {
      mode = statSync(at).mode;
    } catch {
      return true; // not there yet: the kit makes it 0755
    }
    if ((mode & 0o001) === 0) return false;
  }
  return true;
}
