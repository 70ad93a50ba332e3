// The conformance suite against the RocketMQ driver and a real RocketMQ 5 from the broker kit.
import { rocketmq as rocketmqBroker } from '@lossless/brokers';
import { adapter } from './adapters/rocketmq.js';
import { runConformance } from './suite.js';

runConformance({ adapter, broker: rocketmqBroker(), reportFile: 'reports/conformance-rocketmq.json' });
