// @lossless/core/driver — the contract adapters implement, and the pieces of core they may use.
// Application code should use `@lossless/core` instead.

export type { LosslessErrorOptions } from '../errors.js';
export {
  describeError,
  ErrorCode,
  isLosslessError,
  isRetriable,
  LosslessError,
  toLosslessError,
} from '../errors.js';
export type { Headers, MessageRecord } from '../message.js';
export { ReservedHeader } from '../message.js';
export type { NormalizedSubscription, NormalizedTopic, NormalizedTopology } from '../topology.js';
export type { CheckContext, OptionRule, OptionShape } from '../validate.js';
export { checkOptions, checkValue, describeValue, isSignal } from '../validate.js';
export type {
  Capabilities,
  DeliverySink,
  Driver,
  DriverDelivery,
  DriverSubscribeOptions,
  DriverSubscription,
  Health,
  HealthState,
  SendOutcome,
  SendProgress,
} from './driver.js';
export type { ErrorContext, ErrorMapper, ErrorRow } from './error-mapping.js';
export { errorMapper } from './error-mapping.js';
export {
  addressSecrets,
  describeKind,
  HOST,
  MIN_SECRET_LENGTH,
  REDACTED,
  redactAddress,
  Secrets,
} from './secrets.js';
