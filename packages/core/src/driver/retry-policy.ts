// The few waits a driver runs by itself — re-opening a consumer, re-polling after a failed receive, re-producing
// a Kafka retry copy — on one backoff policy with core's delay functions, instead of numbers in each adapter.
import { abortableDelay, type BackoffPolicy, backoffDelay } from '../backoff.js';

/** 100 ms doubling to 5 s, jittered: a driver's own retries of broker calls. */
export const DRIVER_RETRY_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  factor: 2,
  jitter: 'full',
});

/** Waits before the driver's retry number `retry` (1 for the first), or until `signal` aborts. */
export function retryPause(retry: number, signal: AbortSignal, policy: BackoffPolicy = DRIVER_RETRY_BACKOFF) {
  return abortableDelay(backoffDelay(policy, retry), signal);
}
