// The little of node-postgres this package uses, as structural types: a `pg.Pool`, a pooled `pg.PoolClient` or
// a `pg.Client` fits without this package importing `pg` (your application brings its own version), and so does
// anything else with the same shape. A transaction of another library (Kysely, Drizzle, Prisma) is passed as an
// `Executor`: one function that runs a parameterised statement — see the README.

/** A query result: the rows and how many rows the statement touched. */
export interface QueryResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number | null;
}

/** Something that runs `$1`-parameterised SQL: a pg Client, PoolClient or Pool. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** A connection checked out of a pool: it can LISTEN, and goes back with release(). */
export interface PooledClient extends Queryable {
  release(error?: Error | boolean): void;
  /** 'notification' hands `{ channel, payload }`, 'error' an Error (node-postgres' events). */
  on(event: 'notification' | 'error', listener: (...args: unknown[]) => void): unknown;
  removeListener(event: 'notification' | 'error', listener: (...args: unknown[]) => void): unknown;
}

/** A pg.Pool, as far as this package needs one. */
export interface Pool extends Queryable {
  connect(): Promise<PooledClient>;
}

/**
 * The transaction a caller writes in: a pg client inside BEGIN…COMMIT, or a function that runs one statement in
 * that transaction (the adapter for other libraries).
 */
export type Executor = Queryable | ((text: string, values: unknown[]) => Promise<unknown>);

/**
 * node-postgres' Client and PoolClient also take a query config: with a `name`, the statement is parsed and
 * planned once per connection and only bound and run after that (node-postgres keeps the per-connection list).
 */
interface NamedQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<unknown>;
  connection: { parsedStatements: object };
}

/** A node-postgres client (not a Pool, not another library's object): one that keeps prepared statements. */
function preparesStatements(tx: Executor): tx is Queryable & NamedQueryable {
  const connection = (tx as { connection?: { parsedStatements?: unknown } }).connection;
  return (
    typeof connection === 'object' &&
    connection !== null &&
    typeof connection.parsedStatements === 'object' &&
    connection.parsedStatements !== null
  );
}

/**
 * Runs one statement on an Executor; with `name`, as that named prepared statement when `tx` is a node-postgres
 * client (a function or any other object runs the text as is). `name` must belong to this `text` only.
 */
export async function run(tx: Executor, text: string, values: unknown[], name?: string): Promise<void> {
  if (typeof tx === 'function') await tx(text, values);
  else if (name !== undefined && preparesStatements(tx)) await tx.query({ name, text, values });
  else await tx.query(text, values);
}

/** Whether `v` can run statements (a pg client or an executor function). */
export function isExecutor(v: unknown): v is Executor {
  if (typeof v === 'function') return true;
  return v !== null && typeof v === 'object' && typeof (v as { query?: unknown }).query === 'function';
}
