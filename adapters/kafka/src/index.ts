// @lossless/kafka — the Kafka driver for lossless (kafkajs): acks=all through an idempotent producer, topics
// with a replication factor and min.insync.replicas, consumer groups with manual commits of the settled
// watermark, retry and dead-letter topics per subscription. Use it with `connect(kafka({ brokers }))` from
// `@lossless/core`; `tls` and `sasl` for brokers that require them (SASL_SSL).

export { ERROR_TABLE } from './error-table.js';
export { type KafkaDriver, kafka } from './kafka-driver.js';
export { KafkaHeader } from './message-mapping.js';
export { consumerGroupId, deadLetterGroupId, deadLetterTopicName, retryTopicName } from './names.js';
export { DEFAULT_MAX_MESSAGE_BYTES, type KafkaDriverOptions } from './options.js';
export {
  type KafkaOauthBearerSasl,
  type KafkaOauthBearerToken,
  type KafkaPasswordMechanism,
  type KafkaPasswordSasl,
  type KafkaSasl,
  SASL_MECHANISMS,
} from './sasl.js';
export type { TopicDefaults } from './topology.js';
