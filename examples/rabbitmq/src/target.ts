// RabbitMQ: the broker kit's single node (AMQP on 5682) and the RabbitMQ driver.
import { type RabbitMqSettings, rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { type ExampleTarget, entryBeside } from '@lossless/example-order-warehouse';
import { rabbitmq } from '@lossless/rabbitmq';

export const rabbitmqExample: ExampleTarget<RabbitMqSettings> = {
  name: 'RabbitMQ',
  broker: (log) => rabbitmqBroker({ log }),
  adapter: async () => (settings, logger) => rabbitmq({ urls: settings.urls, logger }),
  entry: entryBeside(import.meta.url),
};
