// Where each portable name lives on Kafka. Core's names never contain dots, so the dotted names below cannot
// collide with a user's topic made of portable names — except through Kafka's own rule that '.' and '_' are
// the same in metric names ("t.s.retry" collides with a topic "t_s_retry"; Kafka refuses to create the second).

/** The consumer group of subscription `subscription` of `topic`: it reads the topic and the retry topic. */
export function consumerGroupId(topic: string, subscription: string): string {
  return `${topic}.${subscription}`;
}

/** The topic a nacked message is re-produced to (attempt + 1), read by the subscription's own group. */
export function retryTopicName(topic: string, subscription: string): string {
  return `${topic}.${subscription}.retry`;
}

/** The topic a message goes to after maxDeliveries failed attempts (when the subscription keeps dead letters). */
export function deadLetterTopicName(topic: string, subscription: string): string {
  return `${topic}.${subscription}.dlq`;
}

/** The consumer group that reads the dead-letter topic (`subscribe(..., { deadLetters: true })`). */
export function deadLetterGroupId(topic: string, subscription: string): string {
  return `${topic}.${subscription}.dlq`;
}
