// @lossless/inversify — an InversifyJS (8.x) module for lossless: the bus connected from configuration, typed
// JSON publishers and subscription handlers bound by token, started on resolution and closed in order
// (subscriptions, then the bus) on shutdown or unload.

export type {
  BusConfig,
  Driver,
  LosslessModuleConfig,
  MessageHandler,
  PublisherBinding,
  PublisherConfig,
  SubscriptionBinding,
  SubscriptionConfig,
} from './lossless-module.js';
export { losslessModule, publisher, subscription } from './lossless-module.js';
export type { Publisher, PublisherSettings, PublishValueOptions } from './publisher.js';
export type { Token } from './tokens.js';
export { LosslessRuntime, publisherToken, subscriptionToken } from './tokens.js';
