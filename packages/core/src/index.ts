// @lossless/core — the portable API applications use: connect a driver, declare topology, publish with durable
// confirms, consume with ack after the handler. Adapters implement `@lossless/core/driver`.

export type { BackoffPolicy } from './backoff.js';
export { BACKOFF_SHAPE, backoffDelay, mergeBackoff } from './backoff.js';
export type { BusSubscribeOptions, ConnectOptions } from './bus.js';
export { Bus, connect } from './bus.js';
export type { Capabilities, Health, HealthState } from './driver/driver.js';
export type { NodeTlsOptions, Pem, TlsOptions } from './driver/tls.js';
export type { LosslessErrorOptions } from './errors.js';
export {
  cancelledError,
  closedError,
  describeError,
  ErrorCode,
  invalidArgument,
  isLosslessError,
  isRetriable,
  LosslessError,
  toLosslessError,
} from './errors.js';
export type { Logger } from './logger.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Headers, MessageRecord, OutgoingMessage } from './message.js';
export {
  buildRecord,
  decodeJson,
  decodeText,
  json,
  Limits,
  RESERVED_HEADER_PREFIX,
  ReservedHeader,
  text,
  validateName,
} from './message.js';
export type { OutboxEntry, OutboxOptions, OutboxStore } from './outbox.js';
export { memoryOutbox } from './outbox.js';
export type { PublishConfig, PublishReceipt } from './publish-config.js';
export { DEFAULT_PUBLISH_CONFIG } from './publish-config.js';
export type { PublishOptions, PublishResult } from './publisher.js';
export type { Delivery, Handler, HandlerContext, SubscribeOptions, SubscriptionStats } from './subscriber.js';
export { DEFAULT_REDELIVERY_BACKOFF, Subscription } from './subscriber.js';
export type { TelemetryOptions, TraceContextStore } from './telemetry.js';
export { TELEMETRY_METRIC, TRACE_CONTEXT_SHAPE, traceContextStore } from './telemetry.js';
export type {
  NormalizedSubscription,
  NormalizedTopic,
  NormalizedTopology,
  SubscriptionSpec,
  TopicSpec,
  Topology,
} from './topology.js';
export { DEFAULT_MAX_DELIVERIES, normalizeTopology } from './topology.js';
export type { CheckContext, OptionRule, OptionShape } from './validate.js';
export { checkOptions, checkValue, describeValue } from './validate.js';
