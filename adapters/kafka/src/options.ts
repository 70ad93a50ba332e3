// The options of the Kafka driver, their defaults, and their validation (once, in the factory).
import type { Logger } from '@lossless/core';
import { ErrorCode, LosslessError } from '@lossless/core/driver';
import type { ISocketFactory } from 'kafkajs';

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
  /** Consumer group session timeout, ms: a consumer silent this long is removed from the group. Default 30,000. */
  sessionTimeout?: number;
  /** Consumer heartbeat interval, ms (about a third of the session timeout). Default 3,000. */
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
   * Passed to kafkajs: how to open the TCP (or TLS) socket to a broker. A factory that ignores the advertised
   * host and port routes every connection through a proxy (single-node brokers only).
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
}

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `kafka: ${message}`, { broker: 'kafka' });
}

function positive(name: string, value: number | undefined, fallback: number): number;
function positive(name: string, value: number | undefined, fallback: undefined): number | undefined;
function positive(name: string, value: number | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1)
    throw invalid(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT. */
export function resolveOptions(options: KafkaDriverOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw invalid('options must be an object');
  const { brokers } = options;
  if (!Array.isArray(brokers) || brokers.length === 0) {
    throw invalid('brokers must be a non-empty array of "host:port" strings');
  }
  for (const b of brokers) {
    if (typeof b !== 'string' || !/^[^\s:]+:\d+$|^\[[^\]]+\]:\d+$/.test(b)) {
      throw invalid(`broker address ${JSON.stringify(b)} is not "host:port"`);
    }
  }
  const sessionTimeout = positive('sessionTimeout', options.sessionTimeout, 30_000);
  const heartbeatInterval = positive('heartbeatInterval', options.heartbeatInterval, 3_000);
  if (heartbeatInterval >= sessionTimeout) {
    throw invalid(
      `heartbeatInterval (${heartbeatInterval}) must be below sessionTimeout (${sessionTimeout})`,
    );
  }
  const rebalanceTimeout = positive('rebalanceTimeout', options.rebalanceTimeout, 60_000);
  const revocationDrainMs = positive('revocationDrainMs', options.revocationDrainMs, 10_000);
  if (revocationDrainMs >= rebalanceTimeout) {
    throw invalid(
      `revocationDrainMs (${revocationDrainMs}) must be below rebalanceTimeout (${rebalanceTimeout})`,
    );
  }
  const rf = positive('defaultReplicationFactor', options.defaultReplicationFactor, undefined);
  const minIsr = positive('defaultMinInSyncReplicas', options.defaultMinInSyncReplicas, undefined);
  if (rf !== undefined && minIsr !== undefined && minIsr > rf) {
    throw invalid(`defaultMinInSyncReplicas (${minIsr}) exceeds defaultReplicationFactor (${rf})`);
  }
  if (options.socketFactory !== undefined && typeof options.socketFactory !== 'function') {
    throw invalid('socketFactory must be a function');
  }
  if (options.clientId !== undefined && (typeof options.clientId !== 'string' || options.clientId === '')) {
    throw invalid('clientId must be a non-empty string');
  }
  return {
    brokers: [...brokers],
    clientId: options.clientId ?? 'lossless',
    connectionTimeout: positive('connectionTimeout', options.connectionTimeout, 3_000),
    requestTimeout: positive('requestTimeout', options.requestTimeout, 30_000),
    defaultPartitions: positive('defaultPartitions', options.defaultPartitions, 3),
    defaultReplicationFactor: rf,
    defaultMinInSyncReplicas: minIsr,
    maxMessageBytes: positive('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES),
    sessionTimeout,
    heartbeatInterval,
    rebalanceTimeout,
    revocationDrainMs,
    replicated: options.replicated,
    socketFactory: options.socketFactory,
  };
}
