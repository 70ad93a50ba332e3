// The command line of every broker example: `main.ts [--orders N]` runs the scenario and prints the
// accounting; started by the scenario with LOSSLESS_EXAMPLE_WAREHOUSE set, the same entry is a warehouse.
import type { BrokerSettings } from '@lossless/brokers';
import { PG_ROLE_ENV, type PgRoleConfig, runPgRole } from './pg-roles.js';
import { formatPgAccounting, runPgScenario } from './pg-scenario.js';
import { formatAccounting } from './report.js';
import { runScenario, type ScenarioOptions } from './scenario.js';
import { AdapterUnavailableError, type ExampleTarget } from './target.js';
import { runTraced } from './traced.js';
import { runWarehouse, WAREHOUSE_ENV, type WarehouseConfig } from './warehouse.js';

const USAGE =
  'options: --orders N (default 2000), --callers N (32), --rate N orders/s (250); or --trace alone (one order, ' +
  'followed with OpenTelemetry); or --postgres [--orders N (1000) --callers N (8) --rate N (150)]: the outbox ' +
  'and the inbox in PostgreSQL';

/** Parses `--orders`, `--callers`, `--rate`. Throws on anything else. */
export function parseScenarioArgs(argv: readonly string[]): ScenarioOptions {
  const options: ScenarioOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, raw] = [argv[i], argv[i + 1]];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} needs a positive integer\n${USAGE}`);
    if (flag === '--orders') options.orders = value;
    else if (flag === '--callers') options.callers = value;
    else if (flag === '--rate') options.ratePerSecond = value;
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
  }
  return options;
}

/**
 * Runs an example entry: the warehouse when this process was started as one, the scenario otherwise. Exits
 * the process: 0 when nothing was lost, 1 when something was (or a step failed), 2 for bad usage or a
 * missing adapter.
 */
export async function exampleMain<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  argv: readonly string[] = process.argv.slice(2),
): Promise<never> {
  const warehouse = process.env[WAREHOUSE_ENV];
  if (warehouse !== undefined) {
    await runWarehouse(target, JSON.parse(warehouse) as WarehouseConfig<S>);
    process.exit(0);
  }
  const pgRole = process.env[PG_ROLE_ENV];
  if (pgRole !== undefined) {
    await runPgRole(target, JSON.parse(pgRole) as PgRoleConfig<S>);
    process.exit(0);
  }
  const postgres = argv.includes('--postgres');
  const rest = argv.filter((a) => a !== '--postgres');
  if (!postgres && rest.length === 1 && rest[0] === '--trace') {
    const run = await runTraced(target);
    process.exit(run.oneTrace ? 0 : 1);
  }
  let options: ScenarioOptions;
  try {
    options = parseScenarioArgs(rest);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
  if (postgres) return postgresMain(target, options);
  console.log(
    `The order service publishes an OrderPaid event per paid order (${target.name}); the warehouse ships each\n` +
      'order once, deduplicating redeliveries by message id. Both the warehouse and the broker get killed with\n' +
      'SIGKILL on the way. Every publish that resolved was confirmed by the broker: none of those may be lost.\n',
  );
  try {
    const accounting = await runScenario(target, options);
    console.log(`\n${formatAccounting(accounting)}`);
    process.exit(accounting.lost === 0 && accounting.phantom === 0 ? 0 : 1);
  } catch (error) {
    failed(target.name, '', error);
  }
}

/** `--postgres`: the story through the transactional outbox and the idempotent inbox (pg-scenario.ts). */
async function postgresMain<S extends BrokerSettings>(
  target: ExampleTarget<S>,
  options: ScenarioOptions,
): Promise<never> {
  console.log(
    `The order service commits each order row and its OrderPaid event in one PostgreSQL transaction (the outbox);\n` +
      `a relay sends committed events through ${target.name}; the warehouse writes each shipment in the inbox's\n` +
      'transaction, so a redelivery is acked without shipping twice. The order service, the warehouse, the broker\n' +
      'and PostgreSQL are killed with SIGKILL on the way. Every committed order must be shipped exactly once.\n',
  );
  try {
    const a = await runPgScenario(target, {
      ...(options.orders === undefined ? {} : { orders: options.orders }),
      ...(options.callers === undefined ? {} : { concurrency: options.callers }),
      ...(options.ratePerSecond === undefined ? {} : { ratePerSecond: options.ratePerSecond }),
    });
    console.log(`\n${formatPgAccounting(a)}`);
    const clean = a.lost === 0 && a.duplicateEffects === 0 && a.phantom === 0 && a.outboxLeft === 0;
    process.exit(clean ? 0 : 1);
  } catch (error) {
    failed(target.name, ' (--postgres)', error);
  }
}

/** Exits 2 for a missing adapter (said so), 1 for anything else. */
function failed(name: string, variant: string, error: unknown): never {
  if (error instanceof AdapterUnavailableError) {
    console.error(`${name} example: ${error.message}`);
    process.exit(2);
  }
  console.error(`${name} example${variant} failed:`, error);
  process.exit(1);
}
