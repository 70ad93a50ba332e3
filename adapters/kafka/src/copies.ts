// Kafka has no nack and no broker-side dead-lettering: a failed message goes on as a copy — to the retry topic
// with attempt + 1, or to the dead-letter topic with the dead-letter headers — and the original counts as
// settled (committable) only once the broker confirmed the copy. The copy is produced again with backoff while
// the original is still owned: this is one of the driver's own retries (see "Decisions" in the README), because
// a Kafka message cannot be handed back to the broker — an unsettled original would hold its partition's commit
// position until the next rebalance.
import type { Logger } from '@lossless/core';
import {
  type DeliverySource,
  deadLetterHeaders,
  type NormalizedSubscription,
  retryHeaders,
  retryPause,
  type SendOutcome,
  staleDelivery,
} from '@lossless/core/driver';
import { type IncomingFields, KafkaHeader, type Outgoing, toCopy } from './message-mapping.js';
import { deadLetterTopicName, retryTopicName } from './names.js';

/** What copying needs from the driver. */
export interface CopyHost {
  readonly logger: Logger;
  /** Produces through the driver's idempotent producer lanes; one outcome per record. */
  produce(topic: string, records: readonly Outgoing[]): Promise<SendOutcome[]>;
}

/** Where a copy goes and what it carries. */
export interface Copy {
  readonly topic: string;
  readonly record: Outgoing;
  /** For logs: "the retry topic". */
  readonly what: string;
}

/** A live message that failed: back through the retry topic as attempt + 1. */
export function retryCopy(
  spec: NormalizedSubscription,
  fields: IncomingFields,
  attempt: number,
  error: string,
): Copy {
  return {
    topic: retryTopicName(spec.topic, spec.name),
    record: toCopy(fields, retryHeaders(attempt + 1, error)),
    what: 'the retry topic',
  };
}

/**
 * A dead letter whose handler failed: back to the dead-letter topic with its dead-letter data intact and its
 * own attempt count + 1 (after maxDeliveries of those, deadLetter() drops it).
 */
export function deadLetterRetryCopy(
  spec: NormalizedSubscription,
  fields: IncomingFields,
  attempt: number,
): Copy {
  return {
    topic: deadLetterTopicName(spec.topic, spec.name),
    record: toCopy(fields, { [KafkaHeader.DEAD_LETTER_ATTEMPT]: String(attempt + 1) }, true),
    what: 'the dead-letter topic',
  };
}

/** A live message that reached maxDeliveries: to the dead-letter topic, with where it was read. */
export function deadLetterCopy(
  spec: NormalizedSubscription,
  fields: IncomingFields,
  attempt: number,
  error: string,
  at: { topic: string; partition: number; offset: number },
): Copy {
  return {
    topic: deadLetterTopicName(spec.topic, spec.name),
    record: toCopy(fields, {
      ...deadLetterHeaders({ error, attempt, originalTopic: spec.topic }),
      [KafkaHeader.ORIGINAL_PARTITION]: String(at.partition),
      [KafkaHeader.ORIGINAL_OFFSET]: `${at.topic}@${at.offset}`,
    }),
    what: 'the dead-letter topic',
  };
}

/**
 * Produces `copy` and resolves once the broker confirmed it. A retriable failure is tried again with backoff
 * while `staleWhy()` is undefined (the original is still owned); a non-retriable one is thrown. When the original
 * went stale, STALE_DELIVERY is thrown: the original is redelivered to its new owner, no copy is needed.
 */
export async function produceCopy(
  host: CopyHost,
  copy: Copy,
  source: DeliverySource,
  staleWhy: () => string | undefined,
  signal: AbortSignal,
): Promise<void> {
  for (let retry = 1; ; retry++) {
    const [outcome] = await host.produce(copy.topic, [copy.record]);
    if (outcome?.ok) return;
    const e = outcome?.error;
    const why = staleWhy();
    if (why !== undefined) {
      throw staleDelivery(
        source,
        copy.record.id,
        `could not be copied to ${copy.what} before it went stale (${why}): ${e?.message ?? 'unknown'}`,
      );
    }
    if (e && !e.retriable) throw e;
    host.logger.warn(
      `kafka: copying message ${copy.record.id} to ${copy.what} failed (${e?.message ?? 'unknown'}); retrying`,
    );
    await retryPause(retry, signal);
  }
}
