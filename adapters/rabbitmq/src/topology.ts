// How the portable topology maps onto RabbitMQ objects, and the declarations that create them.
//
//   topic T                      → durable fanout exchange `T`
//   subscription S of T          → durable queue `T.S` (quorum by default) bound to `T`
//   dead letters of S            → durable fanout exchange `T.S.dlx` and durable queue `T.S.dlq` bound to it
//
// Core's names never contain a dot (letters, digits, '-', '_'), so `T.S` cannot collide with another topic's or
// subscription's objects. A fanout exchange because every subscription takes every message of its topic and
// routing is by binding, not by key: the message key travels in a header (it can be 1 KiB, a routing key only
// 255 bytes), and fanout skips routing-key matching altogether.
import {
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  type NormalizedTopic,
} from '@lossless/core/driver';
import type { Channel } from 'amqplib';

/** The exchange a topic publishes to. */
export function exchangeName(topic: string): string {
  return topic;
}

/** The queue of a subscription. */
export function queueName(topic: string, subscription: string): string {
  return `${topic}.${subscription}`;
}

/** The dead-letter queue of a subscription. */
export function deadLetterQueueName(topic: string, subscription: string): string {
  return `${queueName(topic, subscription)}.dlq`;
}

/** The dead-letter exchange of a subscription (what the broker itself dead-letters through). */
export function deadLetterExchangeName(topic: string, subscription: string): string {
  return `${queueName(topic, subscription)}.dlx`;
}

/**
 * RabbitMQ has no partitions or replica counts, and compares only an exchange's type and flags on
 * re-declaration, so the portable topic settings are recorded as a second, internal exchange whose name spells
 * them out. A declaration whose marker is missing while the topic exists contradicts an earlier one: CONFLICT,
 * as on Kafka and RocketMQ. The marker is declared before the topic, so a topic never exists without one (two
 * first declarations with different settings racing each other can both win: the only conflict not caught).
 */
export function specMarkerName(t: NormalizedTopic): string {
  const v = (n: number | undefined) => (n === undefined ? 'd' : String(n));
  return `${t.name}.lossless-spec.p${v(t.partitions)}.r${v(t.replicas)}.m${v(t.minInSyncReplicas)}.${t.ordering}`;
}

/**
 * Where a classic queue's `maxDeliveries` is kept so that a re-declaration with another value is a CONFLICT, as
 * it is on quorum queues (`x-delivery-limit`, compared by the broker: 406) and on RocketMQ (the group's
 * retryMaxTimes). RabbitMQ 3.10 refuses `x-delivery-limit` on a classic queue ("invalid arg … of queue type
 * rabbit_classic_queue") and does not compare arguments it does not know (an `x-lossless-…` argument is kept but
 * never checked), so the value is recorded as two internal, auto-delete exchanges bound to the queue: `present`
 * says the queue has markers (a queue declared before them is adopted, not refused), `value` spells the setting.
 * Bound to the queue, they are deleted with it (auto-delete goes with the last binding), so deleting the queue to
 * change its settings also clears them.
 */
export function subscriptionMarkerNames(s: NormalizedSubscription): { present: string; value: string } {
  const queue = queueName(s.topic, s.name);
  return { present: `${queue}.lossless-spec`, value: `${queue}.lossless-spec.d${s.maxDeliveries}` };
}

/** Existence checks that do not touch the declaring channel (a failed passive declare closes its channel). */
export interface ExistenceProbe {
  exchange(name: string): Promise<boolean>;
  queue(name: string): Promise<boolean>;
}

/** The driver resolves every subscription's queue type before declaring it (RabbitMqDriver.resolved). */
function queueTypeOf(s: NormalizedSubscription): 'quorum' | 'classic' {
  if (!s.queueType) throw new Error(`rabbitmq: subscription '${s.name}' reached topology with no queue type`);
  return s.queueType;
}

/** The arguments of a subscription's queue. A change of any of them is a CONFLICT on re-declaration. */
export function queueArguments(s: NormalizedSubscription): Record<string, string | number> {
  const args: Record<string, string | number> = { 'x-queue-type': queueTypeOf(s) };
  if (s.deadLetter) args['x-dead-letter-exchange'] = deadLetterExchangeName(s.topic, s.name);
  if (s.queueType === 'quorum') {
    // A safety net only: core dead-letters on delivery number maxDeliveries itself (with the last error). A
    // limit L lets the broker deliver L + 1 times, so L = maxDeliveries leaves core one delivery to spare (a
    // consumer that crashed between its dead-letter copy and the ack) before the broker steps in. Without a
    // dead-letter exchange (deadLetter: false) the broker drops a message over the limit, as asked.
    args['x-delivery-limit'] = s.maxDeliveries;
    if (s.deadLetter) {
      // Quorum dead-lettering is at-most-once unless the strategy says otherwise; at-least-once requires
      // reject-publish, which makes a publish to a full queue a nack (NACKED, retriable) instead of dropping
      // the oldest message.
      args['x-dead-letter-strategy'] = 'at-least-once';
      args['x-overflow'] = 'reject-publish';
    }
  }
  return args;
}

/** The dead-letter queue: same type as the live queue, no limit, no further dead-lettering. */
export function deadLetterQueueArguments(s: NormalizedSubscription): Record<string, string | number> {
  return { 'x-queue-type': queueTypeOf(s) };
}

/**
 * Declares a topic's exchange (and its settings marker) on `ch`. Idempotent; CONFLICT when the topic exists with
 * other settings. `exists` probes an exchange without touching `ch` (a failed passive declare closes a channel).
 */
export async function declareTopic(
  ch: Channel,
  t: NormalizedTopic,
  exists: (exchange: string) => Promise<boolean>,
): Promise<void> {
  const marker = specMarkerName(t);
  if ((await exists(exchangeName(t.name))) && !(await exists(marker))) {
    throw new LosslessError(
      ErrorCode.CONFLICT,
      `rabbitmq: topic '${t.name}' exists with other settings than ${JSON.stringify({ partitions: t.partitions, replicas: t.replicas, minInSyncReplicas: t.minInSyncReplicas, ordering: t.ordering })}: ` +
        'keep the declaration identical, or delete the exchange first',
      { broker: 'rabbitmq', topic: t.name },
    );
  }
  await ch.assertExchange(marker, 'fanout', { durable: true, autoDelete: false, internal: true });
  await ch.assertExchange(exchangeName(t.name), 'fanout', { durable: true, autoDelete: false });
}

/**
 * Declares a subscription's queue, binding and dead-letter objects on `ch`. A 406/404 closes `ch`. CONFLICT when
 * the queue exists with other arguments (406), or, for a classic queue, with another maxDeliveries (markers).
 */
export async function declareSubscription(
  ch: Channel,
  s: NormalizedSubscription,
  exists: ExistenceProbe,
): Promise<void> {
  const markers = queueTypeOf(s) === 'classic' ? subscriptionMarkerNames(s) : undefined;
  if (
    markers &&
    (await exists.queue(queueName(s.topic, s.name))) &&
    (await exists.exchange(markers.present)) &&
    !(await exists.exchange(markers.value))
  ) {
    throw new LosslessError(
      ErrorCode.CONFLICT,
      `rabbitmq: subscription '${s.name}' of topic '${s.topic}' exists with another maxDeliveries than ` +
        `${s.maxDeliveries}: keep the declaration identical, or delete queue '${queueName(s.topic, s.name)}' first ` +
        '(its messages go with it)',
      { broker: 'rabbitmq', topic: s.topic, subscription: s.name },
    );
  }
  if (markers) {
    for (const marker of [markers.present, markers.value]) {
      await ch.assertExchange(marker, 'fanout', { durable: true, autoDelete: true, internal: true });
    }
  }
  if (s.deadLetter) {
    const dlx = deadLetterExchangeName(s.topic, s.name);
    const dlq = deadLetterQueueName(s.topic, s.name);
    await ch.assertExchange(dlx, 'fanout', { durable: true, autoDelete: false });
    await ch.assertQueue(dlq, { durable: true, autoDelete: false, arguments: deadLetterQueueArguments(s) });
    await ch.bindQueue(dlq, dlx, '');
  }
  const queue = queueName(s.topic, s.name);
  await ch.assertQueue(queue, { durable: true, autoDelete: false, arguments: queueArguments(s) });
  await ch.bindQueue(queue, exchangeName(s.topic), '');
  if (markers) {
    for (const marker of [markers.present, markers.value]) await ch.bindQueue(queue, marker, '');
  }
}
