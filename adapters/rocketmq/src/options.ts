// The options of the RocketMQ driver, their defaults, and their validation (once, in the factory).
import type { Logger } from '@lossless/core';
import { ErrorCode, LosslessError } from '@lossless/core/driver';

export interface RocketMqDriverOptions {
  /** The gRPC proxy, `host:port` (several separated by ';'). What rocketmq-client-nodejs connects to. */
  endpoints: string;
  /** Name server address(es), `host:port` separated by ';'. declare() and subscribe() use it for the admin. */
  namesrv: string;
  /** Broker cluster whose master brokers get the topics and groups. Default 'DefaultCluster'. */
  cluster?: string;
  /** RocketMQ namespace of the clients (prefixes resource names on the proxy). Default ''. */
  namespace?: string;
  /**
   * Largest message (body + headers) core lets through, bytes. Default 4 MiB: the proxy's `maxMessageSize`
   * for the body and the broker's `maxMessageSize`. Headers are further limited to 16 KiB by the proxy.
   */
  maxMessageBytes?: number;
  /**
   * How long a received message stays invisible to other consumers, ms (10,000 … 43,200,000). The driver
   * extends it while a delivery is unsettled (every half of it), so it bounds how soon a message held by a
   * consumer that died comes back, not how long a handler may run. Default 30,000.
   */
  invisibleDurationMs?: number;
  /** Long-polling time of one receive, ms (the proxy answers an empty poll after at least 5 s). Default 5,000. */
  awaitDurationMs?: number;
  /** gRPC request timeout of sends, acks and route queries, ms (≥ 1000). Default 5,000. */
  requestTimeoutMs?: number;
  /** Whether the cluster replicates every message (the `replication` capability). Default false. */
  replicated?: boolean;
  /**
   * Where the driver and the RocketMQ client log. Default: the client's messages are dropped (it would
   * otherwise write to $HOME/logs/rocketmq) and the driver's warnings go to core's console logger.
   */
  logger?: Logger;
}

export interface ResolvedOptions {
  readonly endpoints: string;
  readonly namesrv: string;
  readonly cluster: string;
  readonly namespace: string;
  readonly maxMessageBytes: number;
  readonly invisibleDurationMs: number;
  readonly awaitDurationMs: number;
  readonly requestTimeoutMs: number;
  readonly replicated: boolean;
}

export const DEFAULTS = {
  cluster: 'DefaultCluster',
  namespace: '',
  maxMessageBytes: 4 * 1024 * 1024,
  invisibleDurationMs: 30_000,
  awaitDurationMs: 5_000,
  requestTimeoutMs: 5_000,
} as const;

/** The proxy's bounds for a receive's invisible duration (ProxyConfig minInvisibleTimeMillsForRecv, max). */
export const MIN_INVISIBLE_MS = 10_000;
export const MAX_INVISIBLE_MS = 12 * 3600_000;

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `rocketmq: ${message}`, { broker: 'rocketmq' });
}

function int(name: string, v: unknown, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT. */
export function resolveOptions(options: RocketMqDriverOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  for (const key of ['endpoints', 'namesrv'] as const) {
    const v = options[key];
    if (typeof v !== 'string' || !/^[^;\s]+:\d+(;[^;\s]+:\d+)*$/.test(v)) {
      throw invalid(`${key} must be 'host:port' (several separated by ';'), got ${JSON.stringify(v)}`);
    }
  }
  return {
    endpoints: options.endpoints,
    namesrv: options.namesrv,
    cluster: options.cluster ?? DEFAULTS.cluster,
    namespace: options.namespace ?? DEFAULTS.namespace,
    maxMessageBytes: int(
      'maxMessageBytes',
      options.maxMessageBytes,
      1,
      2 ** 31 - 1,
      DEFAULTS.maxMessageBytes,
    ),
    invisibleDurationMs: int(
      'invisibleDurationMs',
      options.invisibleDurationMs,
      MIN_INVISIBLE_MS,
      MAX_INVISIBLE_MS,
      DEFAULTS.invisibleDurationMs,
    ),
    awaitDurationMs: int('awaitDurationMs', options.awaitDurationMs, 1_000, 60_000, DEFAULTS.awaitDurationMs),
    requestTimeoutMs: int(
      'requestTimeoutMs',
      options.requestTimeoutMs,
      1_000,
      120_000,
      DEFAULTS.requestTimeoutMs,
    ),
    replicated: options.replicated ?? false,
  };
}
