// `npm run example -w @lossless/example-rabbitmq [-- --orders N]`: the order → warehouse story on RabbitMQ.
import { exampleMain } from '@lossless/example-order-warehouse';
import { rabbitmqExample } from './target.js';

await exampleMain(rabbitmqExample);
