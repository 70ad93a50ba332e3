// Names of what the driver creates on the broker for a portable subscription. A portable subscription name is
// unique per topic, not globally, while a RocketMQ consumer group is global: the group is named from both, with
// a hash of the exact pair so that ('a_b', 'c') and ('a', 'b_c') never share a group. Names use only letters,
// digits, '_' and '-', and stay short enough for the broker's derived topics (`%RETRY%<group>`,
// `%DLQ%<group>`: a topic name is at most 127 characters).
import { createHash } from 'node:crypto';

const READABLE_MAX = 90;

function base(topic: string, subscription: string): string {
  const hash = createHash('sha256').update(`${topic}\u0000${subscription}`).digest('hex').slice(0, 8);
  return `${`${topic}_${subscription}`.slice(0, READABLE_MAX)}_${hash}`;
}

/** The consumer group of a subscription: `<topic>_<subscription>_<hash8>` (readable part cut at 90). */
export function consumerGroupName(topic: string, subscription: string): string {
  return base(topic, subscription);
}

/** The explicit dead-letter topic of a subscription: `<group>_dlq` (NORMAL, one queue). */
export function deadLetterTopicName(topic: string, subscription: string): string {
  return `${base(topic, subscription)}_dlq`;
}

/** The consumer group that reads the dead-letter topic (`subscribe(..., { deadLetters: true })`). */
export function deadLetterGroupName(topic: string, subscription: string): string {
  return `${base(topic, subscription)}_dlq`;
}

/** The broker's own dead-letter topic of a group, where it moves messages past retryMaxTimes + 1 deliveries. */
export function brokerDeadLetterTopicName(topic: string, subscription: string): string {
  return `%DLQ%${base(topic, subscription)}`;
}
