// The RabbitMQ example's target, for the demo and the example's test.
export { rabbitmqExample } from './target.js';
