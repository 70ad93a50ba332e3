// The options of the RabbitMQ driver, their defaults, and their validation (once, in the factory).
import type { Logger } from '@lossless/core';
import { ErrorCode, LosslessError } from '@lossless/core/driver';

export interface RabbitMqDriverOptions {
  /** One broker, e.g. `amqp://user:pass@host:5672/vhost`. Give `url` or `urls`, not both. */
  url?: string;
  /**
   * Nodes of one cluster. The driver connects to the first that answers and, when the connection is lost,
   * tries the next one first (round robin), so publishing and consuming continue on the surviving nodes.
   */
  urls?: readonly string[];
  /**
   * AMQP heartbeat, seconds. A connection that shows no traffic for two intervals is declared dead, which is
   * what detects a half-open TCP connection (amqplib #530). Default 5. A `heartbeat=` in the URL wins.
   */
  heartbeatSeconds?: number;
  /** How long one TCP + AMQP handshake attempt may take, ms. Default 5,000. */
  connectAttemptTimeoutMs?: number;
  /** Reconnect backoff after a connection loss: first delay, ms (doubling, jittered). Default 100. */
  reconnectInitialDelayMs?: number;
  /** Reconnect backoff: longest delay between attempts, ms. Default 5,000. */
  reconnectMaxDelayMs?: number;
  /**
   * Largest message (body + headers) core lets through, bytes. Default 16 MiB: RabbitMQ 4.x's default
   * `max_message_size`, and the size above which RabbitMQ advises against messages (they block the channel
   * and, on quorum queues, the Raft log). Raise it only together with the broker's `max_message_size`.
   */
  maxMessageBytes?: number;
  /**
   * Whether every message is held by more than one node (the `replication` capability). Default: true when
   * more than one url is given. Only quorum queues replicate; classic queues live on one node.
   */
  replicated?: boolean;
  /**
   * Queue type of a subscription that does not name one. Default: 'quorum' when `replicated`, else 'classic'.
   * On a single node a quorum queue replicates nothing, and RabbitMQ 3.10 lost the entire log of a quorum queue
   * declared shortly before an unclean shutdown (measured here: SIGKILL, restart, the member back at log index
   * 0 with every confirmed message gone), while a classic durable queue kept every confirmed message.
   */
  defaultQueueType?: 'quorum' | 'classic';
  /** The client-provided connection name shown in the management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
  /** Where the driver reports reconnects and errors that have no caller. Default: core's console logger. */
  logger?: Logger;
}

export interface ResolvedOptions {
  readonly urls: readonly string[];
  readonly heartbeatSeconds: number;
  readonly connectAttemptTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly maxMessageBytes: number;
  readonly replicated: boolean;
  readonly defaultQueueType: 'quorum' | 'classic';
  readonly connectionName: string;
}

export const DEFAULTS = {
  heartbeatSeconds: 5,
  connectAttemptTimeoutMs: 5_000,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 5_000,
  maxMessageBytes: 16 * 1024 * 1024,
  connectionName: 'lossless',
} as const;

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `rabbitmq(): ${message}`, { broker: 'rabbitmq' });
}

function positive(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw invalid(`${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT. */
export function resolveOptions(options: RabbitMqDriverOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  if (options.url !== undefined && options.urls !== undefined) throw invalid('give url or urls, not both');
  const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
  if (!Array.isArray(urls) || urls.length === 0) throw invalid('url or urls is required');
  const replicated = options.replicated ?? urls.length > 1;
  if (options.defaultQueueType !== undefined && !['quorum', 'classic'].includes(options.defaultQueueType)) {
    throw invalid(`defaultQueueType must be 'quorum' or 'classic', got ${String(options.defaultQueueType)}`);
  }
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw invalid(`not a URL: ${JSON.stringify(u)}`);
    }
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
      throw invalid(`expected an amqp:// or amqps:// URL, got ${JSON.stringify(redact(u))}`);
    }
  }
  const reconnectInitialDelayMs = positive(
    'reconnectInitialDelayMs',
    options.reconnectInitialDelayMs,
    DEFAULTS.reconnectInitialDelayMs,
    600_000,
  );
  return {
    urls: [...urls],
    heartbeatSeconds: positive(
      'heartbeatSeconds',
      options.heartbeatSeconds,
      DEFAULTS.heartbeatSeconds,
      3_600,
    ),
    connectAttemptTimeoutMs: positive(
      'connectAttemptTimeoutMs',
      options.connectAttemptTimeoutMs,
      DEFAULTS.connectAttemptTimeoutMs,
      600_000,
    ),
    reconnectInitialDelayMs,
    reconnectMaxDelayMs: Math.max(
      reconnectInitialDelayMs,
      positive('reconnectMaxDelayMs', options.reconnectMaxDelayMs, DEFAULTS.reconnectMaxDelayMs, 600_000),
    ),
    maxMessageBytes: positive(
      'maxMessageBytes',
      options.maxMessageBytes,
      DEFAULTS.maxMessageBytes,
      512 * 1024 * 1024,
    ),
    replicated,
    defaultQueueType: options.defaultQueueType ?? (replicated ? 'quorum' : 'classic'),
    connectionName: options.connectionName ?? DEFAULTS.connectionName,
  };
}

/** The URL without its password, for logs and health reasons. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}
