// RocketMQ 5: the broker kit's name server + broker + proxy and the RocketMQ driver, loaded on demand so this
// example says so when the adapter is not there yet.
import { type RocketMqSettings, rocketmq as rocketmqBroker } from '@lossless/brokers';
import type { Logger } from '@lossless/core';
import { type Driver, type ExampleTarget, entryBeside, loadAdapter } from '@lossless/example-order-warehouse';

type RocketMqFactory = (options: {
  endpoints: string;
  namesrv: string;
  cluster?: string;
  logger?: Logger;
}) => Driver;

export const rocketmqExample: ExampleTarget<RocketMqSettings> = {
  name: 'RocketMQ',
  broker: (log) => rocketmqBroker({ log }),
  adapter: async () => {
    const rocketmq = await loadAdapter<RocketMqFactory>('@lossless/rocketmq', 'rocketmq', 'RocketMQ');
    return ({ endpoints, namesrv, cluster }, logger) => rocketmq({ endpoints, namesrv, cluster, logger });
  },
  entry: entryBeside(import.meta.url),
};
