// What the dead-letter operations run against: a connection (the CLI's, from flags and environment) that they
// open and close themselves, or a bus the caller already has (its driver is used, the bus is left open).
import { Bus, connect, invalidArgument, type Logger, silentLogger } from '@lossless/core';
import { type CliConnection, driverFor } from '../connection.js';

export type DeadLetterTarget = CliConnection | Bus;

/** RocketMQ: the shortest lease the proxy takes, so that a killed run's messages come back within seconds. */
const ROCKETMQ_DLQ_INVISIBLE_MS = 10_000;

export interface Opened {
  readonly bus: Bus;
  close(): Promise<void>;
}

export async function openTarget(target: unknown, logger: Logger = silentLogger): Promise<Opened> {
  if (target instanceof Bus) return { bus: target, close: async () => {} };
  const c = target as CliConnection | undefined;
  if (
    typeof c !== 'object' ||
    c === null ||
    (c.adapter !== 'rabbitmq' && c.adapter !== 'kafka' && c.adapter !== 'rocketmq') ||
    typeof c.options !== 'object'
  ) {
    throw invalidArgument(
      'the target must be a Bus or a connection { adapter, options } (resolveConnection())',
    );
  }
  const connection: CliConnection =
    c.adapter === 'rocketmq'
      ? {
          adapter: 'rocketmq',
          options: { invisibleDurationMs: ROCKETMQ_DLQ_INVISIBLE_MS, ...c.options },
        }
      : c;
  const bus = await connect(driverFor(connection, logger), { logger, telemetry: false });
  return { bus, close: () => bus.close() };
}
