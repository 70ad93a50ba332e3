// The RocketMQ example's target, for the demo.
export { rocketmqExample } from './target.js';
