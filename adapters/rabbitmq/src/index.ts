// @lossless/rabbitmq — the RabbitMQ driver for lossless (amqplib): quorum queues, publisher confirms with
// `mandatory`, manual acks, dead letters with the last error, reconnect with failover across cluster nodes.
// Use it with `connect(rabbitmq({ url }))` from `@lossless/core`.

export { ERROR_TABLE } from './error-table.js';
export type { RabbitMqAuth, RabbitMqDriverOptions } from './options.js';
export { type RabbitMqDriver, rabbitmq } from './rabbitmq-driver.js';
export { deadLetterExchangeName, deadLetterQueueName, exchangeName, queueName } from './topology.js';
