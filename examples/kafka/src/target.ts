// Kafka: the broker kit's single KRaft node and the Kafka driver, loaded on demand so this example says so
// when the adapter is not there yet.
import { type KafkaSettings, kafka as kafkaBroker } from '@lossless/brokers';
import type { Logger } from '@lossless/core';
import { type Driver, type ExampleTarget, entryBeside, loadAdapter } from '@lossless/example-order-warehouse';

type KafkaFactory = (options: { brokers: readonly string[]; logger?: Logger }) => Driver;

export const kafkaExample: ExampleTarget<KafkaSettings> = {
  name: 'Kafka',
  broker: (log) => kafkaBroker({ log }),
  adapter: async () => {
    const kafka = await loadAdapter<KafkaFactory>('@lossless/kafka', 'kafka', 'Kafka');
    return (settings, logger) => kafka({ brokers: settings.brokers, logger });
  },
  entry: entryBeside(import.meta.url),
};
