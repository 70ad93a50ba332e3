// What a dead letter (and a retry copy) carries besides the message: the headers every driver writes, built in
// one place with one clipping rule, so that a dead letter looks the same on every broker.
import { ReservedHeader } from '../message.js';

/**
 * Longest `x-lossless-last-error` written, characters; longer texts are cut and end with "…". Small enough that
 * the dead-letter headers fit every broker's header limit beside the message's own (RocketMQ 15 KiB in all).
 */
export const LAST_ERROR_MAX = 4_096;

/** Why a message is in the dead-letter destination. */
export type DeadLetterReason = 'max-deliveries' | 'kept-in-dead-letters';

/** `error` cut to LAST_ERROR_MAX characters. */
export function clipError(error: string): string {
  return error.length > LAST_ERROR_MAX ? `${error.slice(0, LAST_ERROR_MAX)}…` : error;
}

/** The headers a message gets when it is dead-lettered. */
export function deadLetterHeaders(fields: {
  /** The last handler failure (clipped). */
  error: string;
  /** The delivery attempt that gave up. */
  attempt: number;
  /** The topic the message was published to. */
  originalTopic: string;
  /** Default 'max-deliveries'. */
  reason?: DeadLetterReason;
}): Record<string, string> {
  return {
    [ReservedHeader.ATTEMPT]: String(fields.attempt),
    [ReservedHeader.LAST_ERROR]: clipError(fields.error),
    [ReservedHeader.DEAD_LETTER_REASON]: fields.reason ?? 'max-deliveries',
    [ReservedHeader.ORIGINAL_TOPIC]: fields.originalTopic,
  };
}

/** The headers of a copy that brings a message back for attempt `nextAttempt` (a broker without nack: Kafka). */
export function retryHeaders(nextAttempt: number, error: string): Record<string, string> {
  return {
    [ReservedHeader.ATTEMPT]: String(nextAttempt),
    [ReservedHeader.LAST_ERROR]: clipError(error),
  };
}
