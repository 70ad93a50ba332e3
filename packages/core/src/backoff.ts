// Exponential backoff with full jitter, used for publish re-sends and for redelivery delays.
// Written here rather than taken from a retry library because both callers need the delay itself as a value
// (a re-send is re-queued into the batch pipeline, a redelivery delay is handed to the broker), while retry
// libraries wrap a function call.
import { setMaxListeners } from 'node:events';
import { invalidArgument } from './errors.js';
import type { OptionShape } from './validate.js';

export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  initialDelayMs: number;
  /** Upper bound of any delay, ms. */
  maxDelayMs: number;
  /** Growth per attempt. */
  factor: number;
  /** 'full' picks uniformly in [delay/2, delay] so that many clients do not retry in step; 'none' is exact. */
  jitter: 'full' | 'none';
}

/** The longest delay a Node timer takes (about 24.8 days); a longer one fires at once. */
export const TIMER_MAX_MS = 2_147_483_647;

/** The shape of a (partial) BackoffPolicy in options; see checkOptions. */
export const BACKOFF_SHAPE: OptionShape = {
  initialDelayMs: { type: 'integer', min: 0, max: TIMER_MAX_MS },
  maxDelayMs: { type: 'integer', min: 0, max: TIMER_MAX_MS },
  factor: { type: 'number', min: 1, max: 1_000 },
  jitter: { type: 'enum', values: ['full', 'none'] },
};

/** `defaults` with the keys the user set; INVALID_ARGUMENT when the result's maxDelayMs < initialDelayMs. */
export function mergeBackoff(
  where: string,
  defaults: BackoffPolicy,
  given: Partial<BackoffPolicy> | undefined,
): BackoffPolicy {
  const policy = { ...defaults, ...given };
  if (policy.maxDelayMs < policy.initialDelayMs) {
    throw invalidArgument(
      `${where}: maxDelayMs (${policy.maxDelayMs}) must not be below initialDelayMs (${policy.initialDelayMs})`,
    );
  }
  return policy;
}

/** The delay before retry number `retry` (1 for the first retry). */
export function backoffDelay(policy: BackoffPolicy, retry: number): number {
  const exact = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** Math.max(0, retry - 1));
  return policy.jitter === 'full' ? Math.round(exact / 2 + (Math.random() * exact) / 2) : Math.round(exact);
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no listener behind either way. */
export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** An AbortController whose signal may have any number of listeners (shared by many handlers or waits). */
export function unlimitedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
