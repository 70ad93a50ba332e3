// The Kafka example's target, for the demo.
export { kafkaExample } from './target.js';
