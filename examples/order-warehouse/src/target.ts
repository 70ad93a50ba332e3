// What differs between brokers: the broker kit fixture, the driver built from its settings, and the entry
// module the runner starts again as the warehouse process. Everything else is shared.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Broker, BrokerSettings } from '@lossless/brokers';
import type { connect, Logger } from '@lossless/core';

/** A broker driver, as `connect()` takes it. */
export type Driver = Parameters<typeof connect>[0];

/** Builds a driver for the fixture's settings. */
export type DriverFactory<S extends BrokerSettings> = (settings: S, logger: Logger) => Driver;

export interface ExampleTarget<S extends BrokerSettings = BrokerSettings> {
  /** The broker's name in the output: "RabbitMQ". */
  readonly name: string;
  /** The broker kit fixture; `log` gets the kit's progress lines. */
  broker(log: (line: string) => void): Broker<S>;
  /** Loads the adapter (possibly with a dynamic import) and returns its driver factory; throws when missing. */
  adapter(): Promise<DriverFactory<S>>;
  /** The example's entry module; started again, as a child process, in the warehouse role. */
  readonly entry: URL;
}

/** The entry module next to `moduleUrl` (`main.ts` from sources, `main.js` from a build). */
export function entryBeside(moduleUrl: string, name = 'main'): URL {
  const ext = moduleUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, moduleUrl);
}

/** Thrown when an adapter cannot be loaded: the example says so instead of crashing on import. */
export class AdapterUnavailableError extends Error {
  override readonly name = 'AdapterUnavailableError';
}

/**
 * Loads `factory` from the adapter package `specifier` with a dynamic import, so the example's own module
 * loads even while the adapter is missing or unfinished, and says what is missing when it is.
 */
export async function loadAdapter<F>(specifier: string, factory: string, broker: string): Promise<F> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    throw new AdapterUnavailableError(
      `the ${broker} adapter (${specifier}) cannot be loaded yet: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  const f = mod[factory];
  if (typeof f !== 'function') {
    throw new AdapterUnavailableError(`the ${broker} adapter (${specifier}) has no ${factory}() factory yet`);
  }
  return f as F;
}

/**
 * Starts an example's entry module again as a child process in a role: `config` travels as JSON in the
 * environment variable `roleEnv`, output is inherited, and an IPC channel carries the role's events.
 */
export function spawnEntry(entry: URL, roleEnv: string, config: unknown): ChildProcess {
  return spawn(process.execPath, ['--conditions=@lossless/source', '--import', 'tsx', fileURLToPath(entry)], {
    env: { ...process.env, [roleEnv]: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
