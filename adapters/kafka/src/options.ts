// The options of the Kafka driver, their defaults, and their validation (once, in the factory).
import { consoleLogger, type Logger } from '@lossless/core';
import {
  addressSecrets,
  checkOptions,
  describeKind,
  ErrorCode,
  HOST,
  LOGGER_RULE,
  LosslessError,
  type NodeTlsOptions,
  nodeTlsOptions,
  type OptionShape,
  redactAddress,
  Secrets,
  TLS_RULE,
  type TlsOptions,
  tlsSecrets,
} from '@lossless/core/driver';
import type { ISocketFactory } from 'kafkajs';
import { checkSasl, type KafkaSasl, saslSecrets } from './sasl.js';

/**
 * Kafka's default `message.max.bytes` (1 MiB + 12 bytes of log overhead) applies to a whole record batch. A
 * message alone in a batch also carries the batch header (61 bytes), its own framing, its key (up to 1 KiB in
 * lossless) and our `x-lossless-*` headers, none of which core counts: 4 KiB covers all of them.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024 - 4 * 1024;

export interface KafkaDriverOptions {
  /** Bootstrap brokers, `host:port`. Required; the driver discovers the rest of the cluster from them. */
  brokers: readonly string[];
  /** kafkajs client id, shown in broker logs and quotas. Default `lossless`. */
  clientId?: string;
  /** How long one TCP connect to a broker may take, ms. Default 3,000. */
  connectionTimeout?: number;
  /** How long one request may wait for its answer before the connection is considered broken, ms. Default 30,000. */
  requestTimeout?: number;
  /** Partitions of a topic declared without `partitions`. Default 3. */
  defaultPartitions?: number;
  /**
   * Replication factor of a topic declared without `replicas`. Default: 3 when the cluster (as described by the
   * broker at connect) has 3 or more brokers, else the number of brokers (1 on a single node).
   */
  defaultReplicationFactor?: number;
  /**
   * `min.insync.replicas` of a topic declared without `minInSyncReplicas`. Default: 2 when its replication
   * factor is 3 or more, else 1. With acks=all a publish is confirmed once this many replicas have it.
   */
  defaultMinInSyncReplicas?: number;
  /**
   * Largest message (body + headers, as core counts it) core lets through, bytes. Default 1 MiB − 4 KiB: Kafka's
   * default `message.max.bytes` (1 MiB) minus room for the record framing, the key and our headers. Raise it
   * only together with the broker's `message.max.bytes` (and the topic's `max.message.bytes`).
   */
  maxMessageBytes?: number;
  /**
   * Consumer group session timeout, ms: a consumer silent this long is removed from the group, and its
   * partitions wait that long when its process dies (README, "Consumer group timeouts"). Default 10,000
   * (kafkajs's own is 30,000); the broker accepts 6,000 to 1,800,000 unless configured otherwise.
   */
  sessionTimeout?: number;
  /** Consumer heartbeat interval, ms (well below the session timeout). Default 1,000. */
  heartbeatInterval?: number;
  /** Longest a rebalance may wait for the members to rejoin, ms (kafkajs `rebalanceTimeout`). Default 60,000. */
  rebalanceTimeout?: number;
  /**
   * When the driver sees a rebalance begin while deliveries of its partitions are unsettled, how long it waits
   * for them to settle (and commits them) before it lets kafkajs rejoin the group, ms. Default 10,000; must be
   * below `rebalanceTimeout`. Deliveries still unsettled then go stale and are redelivered to the new owner.
   */
  revocationDrainMs?: number;
  /**
   * Whether every message is held by more than one broker (the `replication` capability). Default: true when 3
   * or more bootstrap brokers are given; after connect() it follows the cluster (≥ 3 brokers and a default
   * min ISR ≥ 2).
   */
  replicated?: boolean;
  /**
   * TLS to every broker (kafkajs `ssl`; SASL_SSL together with `sasl`). `tls: {}` is TLS verified against
   * Node's bundled roots (Confluent Cloud, MSK); `ca` for a private CA; `cert` + `key` for brokers that require
   * a client certificate (mTLS). Verification is on unless `rejectUnauthorized: false` (which logs a warning
   * once). An untrusted certificate or a name it does not carry is PERMISSION_DENIED at connect, never retried.
   * Absent: plaintext.
   */
  tls?: TlsOptions;
  /**
   * SASL authentication: `{ mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username, password }` or
   * `{ mechanism: 'oauthbearer', oauthBearerProvider }`. Without `tls` it is SASL_PLAINTEXT (the password of
   * PLAIN then crosses the network in clear). A refused login is PERMISSION_DENIED at once, never retried.
   */
  sasl?: KafkaSasl;
  /**
   * Passed to kafkajs: how to open the TCP (or TLS) socket to a broker. A factory that ignores the advertised
   * host and port routes every connection through a proxy (single-node brokers only). With `tls`, kafkajs hands
   * the factory its `ssl` argument (Node's tls.connect options from `tls`): the factory must then open a TLS
   * socket with them (`tls.connect({ host, port, ...ssl }, onConnect)`).
   */
  socketFactory?: ISocketFactory;
  /** Where the driver's and kafkajs's warnings go. kafkajs errors → warn, warnings → info. Default: core's console logger. */
  logger?: Logger;
}

export interface ResolvedOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly connectionTimeout: number;
  readonly requestTimeout: number;
  readonly defaultPartitions: number;
  readonly defaultReplicationFactor: number | undefined;
  readonly defaultMinInSyncReplicas: number | undefined;
  readonly maxMessageBytes: number;
  readonly sessionTimeout: number;
  readonly heartbeatInterval: number;
  readonly rebalanceTimeout: number;
  readonly revocationDrainMs: number;
  readonly replicated: boolean | undefined;
  readonly socketFactory: ISocketFactory | undefined;
  /** Node's tls.connect options from `tls` (undefined: plaintext). */
  readonly ssl: NodeTlsOptions | undefined;
  readonly sasl: KafkaSasl | undefined;
  readonly logger: Logger | undefined;
}

const MS = (max: number) => ({ type: 'integer', min: 1, max }) as const;
const COUNT = { type: 'integer', min: 1, max: 1_000_000 } as const;

/** What `kafka()` accepts: checked by core's checkOptions (unknown keys, types, ranges; broker addresses hidden). */
export const OPTIONS_SHAPE: OptionShape = {
  // Checked by hand (`brokerList`): core's rules would quote a string given where the array belongs, and an
  // address may carry user info pasted by mistake.
  brokers: { type: 'any' },
  clientId: { type: 'string', minLength: 1, maxLength: 255 },
  connectionTimeout: MS(600_000),
  requestTimeout: MS(3_600_000),
  defaultPartitions: COUNT,
  defaultReplicationFactor: { type: 'integer', min: 1, max: 32_767 },
  defaultMinInSyncReplicas: { type: 'integer', min: 1, max: 32_767 },
  maxMessageBytes: { type: 'integer', min: 1, max: 2 ** 31 - 1 },
  sessionTimeout: MS(3_600_000),
  heartbeatInterval: MS(3_600_000),
  rebalanceTimeout: MS(3_600_000),
  revocationDrainMs: MS(3_600_000),
  replicated: { type: 'boolean' },
  socketFactory: { type: 'function' },
  tls: TLS_RULE,
  // Checked by hand (`checkSasl`): which keys are valid depends on the mechanism.
  sasl: { type: 'any' },
  logger: LOGGER_RULE,
};

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `kafka(): ${message}`, { broker: 'kafka' });
}

/**
 * Every secret the options may carry: the SASL password, the TLS key and its passphrase, and broker addresses
 * with user info pasted into them. Never throws.
 */
export function optionSecrets(options: unknown): Secrets {
  return new Secrets(optionSecretValues(options));
}

/** The values behind optionSecrets (the driver adds the OAuth tokens it sees to them). Never throws. */
export function optionSecretValues(options: unknown): string[] {
  const found: string[] = [];
  try {
    const o = options as { brokers?: unknown; sasl?: unknown; tls?: unknown } | null;
    const brokers = o?.brokers;
    if (Array.isArray(brokers))
      for (const b of brokers) if (typeof b === 'string') found.push(...addressSecrets(b));
    found.push(...saslSecrets(o?.sasl), ...tlsSecrets(o?.tls));
  } catch {
    // a getter or Proxy that throws: checkOptions reports it
  }
  return found;
}

/** The bootstrap brokers as `host:port` strings; the messages never quote anything but a plain `host:port`. */
function brokerList(brokers: unknown): string[] {
  if (brokers === undefined) throw invalid('brokers is required: a non-empty array of "host:port" strings');
  if (!Array.isArray(brokers) || brokers.length === 0 || brokers.length > 1_000) {
    throw invalid(`brokers must be an array of 1 to 1000 "host:port" strings, got ${describeKind(brokers)}`);
  }
  return brokers.map((b: unknown, i) => {
    if (typeof b !== 'string')
      throw invalid(`brokers[${i}] must be a "host:port" string, got ${describeKind(b)}`);
    const colon = b.lastIndexOf(':');
    const port = b.slice(colon + 1);
    if (colon < 1 || !HOST.test(b.slice(0, colon)) || !/^\d{1,5}$/.test(port) || Number(port) > 65_535) {
      throw invalid(
        `brokers[${i}] is not "host:port" (${redactAddress(b)}); give bare addresses, without a scheme or user info`,
      );
    }
    return b;
  });
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT, whose text holds no secret. */
export function resolveOptions(input: KafkaDriverOptions): ResolvedOptions {
  return optionSecrets(input).guard(() => resolve(input));
}

function resolve(input: KafkaDriverOptions): ResolvedOptions {
  const options = checkOptions<Partial<KafkaDriverOptions>>('kafka()', input, OPTIONS_SHAPE, {
    broker: 'kafka',
  });
  const brokers = brokerList(options.brokers);
  const sessionTimeout = options.sessionTimeout ?? 10_000;
  const heartbeatInterval = options.heartbeatInterval ?? 1_000;
  if (heartbeatInterval >= sessionTimeout) {
    throw invalid(
      `heartbeatInterval (${heartbeatInterval}) must be below sessionTimeout (${sessionTimeout})`,
    );
  }
  const rebalanceTimeout = options.rebalanceTimeout ?? 60_000;
  const revocationDrainMs = options.revocationDrainMs ?? 10_000;
  if (revocationDrainMs >= rebalanceTimeout) {
    throw invalid(
      `revocationDrainMs (${revocationDrainMs}) must be below rebalanceTimeout (${rebalanceTimeout})`,
    );
  }
  const rf = options.defaultReplicationFactor;
  const minIsr = options.defaultMinInSyncReplicas;
  if (rf !== undefined && minIsr !== undefined && minIsr > rf) {
    throw invalid(`defaultMinInSyncReplicas (${minIsr}) exceeds defaultReplicationFactor (${rf})`);
  }
  return {
    brokers: [...brokers],
    clientId: options.clientId ?? 'lossless',
    connectionTimeout: options.connectionTimeout ?? 3_000,
    requestTimeout: options.requestTimeout ?? 30_000,
    defaultPartitions: options.defaultPartitions ?? 3,
    defaultReplicationFactor: rf,
    defaultMinInSyncReplicas: minIsr,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    sessionTimeout,
    heartbeatInterval,
    rebalanceTimeout,
    revocationDrainMs,
    replicated: options.replicated,
    socketFactory: options.socketFactory,
    // Once per driver: this is where the "verification is off" warning is logged.
    ssl: options.tls
      ? nodeTlsOptions(options.tls, {
          where: 'kafka()',
          broker: 'kafka',
          logger: options.logger ?? consoleLogger,
        })
      : undefined,
    sasl: options.sasl === undefined ? undefined : checkSasl(options.sasl),
    logger: options.logger,
  };
}
