// `npm run example -w @lossless/example-rocketmq [-- --orders N]`: the order → warehouse story on RocketMQ.
import { exampleMain } from '@lossless/example-order-warehouse';
import { rocketmqExample } from './target.js';

await exampleMain(rocketmqExample);
