// The publish settings and the receipt, shared by the send path (publisher.ts) and the outbox in front of it
// (outbox-publisher.ts): PublishConfig with its defaults and option shape, and PublishReceipt.
import { BACKOFF_SHAPE, type BackoffPolicy, TIMER_MAX_MS } from './backoff.js';
import type { OptionShape } from './validate.js';

export interface PublishConfig {
  /** Most records in one driver batch. Default 500. */
  maxBatchSize: number;
  /** Batches of one topic awaiting the broker at once; more publishes coalesce into bigger batches. Default 8. */
  maxInFlightBatches: number;
  /** Unconfirmed messages held at once. Default 10,000. */
  maxPending: number;
  /** Unconfirmed bytes held at once. Default 64 MiB. */
  maxPendingBytes: number;
  /** How long a publish waits for room in the pending store before RESOURCE_EXHAUSTED, ms. Default 10,000. */
  pendingWaitMs: number;
  /**
   * Longest time from publish() to the broker's final answer, re-sends included, ms. Then the publish rejects
   * with CONFIRM_TIMEOUT (the message may or may not be stored). Default 30,000.
   */
  confirmTimeoutMs: number;
  /**
   * Sends per message at most (the first included) for nacks and retriable errors. Default 30: with the default
   * backoff that outlasts confirmTimeoutMs, so the confirm deadline — a time the caller can reason about — is what
   * ends re-sends (a broker restart of 10-20 s is ridden out rather than failed after ~6 s of backoff).
   */
  maxAttempts: number;
  /** Delays between re-sends. Default 50 ms doubling to 5 s, jittered. */
  retryBackoff: BackoffPolicy;
  /** Largest message, bytes; capped by the driver's own limit. */
  maxMessageBytes: number;
}

export const DEFAULT_PUBLISH_CONFIG: Omit<PublishConfig, 'maxMessageBytes'> = {
  maxBatchSize: 500,
  maxInFlightBatches: 8,
  maxPending: 10_000,
  maxPendingBytes: 64 * 1024 * 1024,
  pendingWaitMs: 10_000,
  confirmTimeoutMs: 30_000,
  maxAttempts: 30,
  retryBackoff: { initialDelayMs: 50, maxDelayMs: 5_000, factor: 2, jitter: 'full' },
};

/** What `connect(driver, { publish })` accepts; see checkOptions. */
export const PUBLISH_CONFIG_SHAPE: OptionShape = {
  maxBatchSize: { type: 'integer', min: 1, max: 100_000 },
  maxInFlightBatches: { type: 'integer', min: 1, max: 10_000 },
  maxPending: { type: 'integer', min: 1, max: 100_000_000 },
  maxPendingBytes: { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
  pendingWaitMs: { type: 'integer', min: 1, max: TIMER_MAX_MS },
  confirmTimeoutMs: { type: 'integer', min: 1, max: TIMER_MAX_MS },
  maxAttempts: { type: 'integer', min: 1, max: 10_000 },
  retryBackoff: { type: 'object', shape: BACKOFF_SHAPE },
  maxMessageBytes: { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
};

/** Proof that the broker durably stored a message — or, with an outbox in 'accepted' mode, that the outbox did. */
export interface PublishReceipt {
  readonly id: string;
  readonly topic: string;
  /**
   * 'confirmed': the broker confirmed it durably. 'accepted' (outbox with resolveOn 'accepted' only): it is in
   * the crash-safe outbox, and the bus sends it in the background until the broker confirms it.
   */
  readonly status: 'confirmed' | 'accepted';
  /** How many times it was sent (1 unless nacks or transient errors made core re-send it). */
  readonly attempts: number;
  /** Broker coordinates when the driver reports them (partition, offset, broker message id…). */
  readonly details?: Readonly<Record<string, string | number>> | undefined;
}
