// `npm run example -w @lossless/example-kafka [-- --orders N]`: the order → warehouse story on Kafka.
import { exampleMain } from '@lossless/example-order-warehouse';
import { kafkaExample } from './target.js';

await exampleMain(kafkaExample);
