// @lossless/core/driver — the contract adapters implement, and the pieces of core they may use.
// Application code should use `@lossless/core` instead.

export type { BackoffPolicy } from '../backoff.js';
export { abortableDelay, backoffDelay } from '../backoff.js';
export type { LosslessErrorOptions } from '../errors.js';
export {
  describeError,
  ErrorCode,
  isLosslessError,
  isRetriable,
  LosslessError,
  toLosslessError,
} from '../errors.js';
export { LOGGER_RULE } from '../logger.js';
export type { Headers, MessageRecord } from '../message.js';
export { ReservedHeader } from '../message.js';
export type { NormalizedSubscription, NormalizedTopic, NormalizedTopology } from '../topology.js';
export type { CheckContext, OptionRule, OptionShape } from '../validate.js';
export { checkOptions, checkValue, describeValue, isSignal } from '../validate.js';
export type { DeadLetterReason } from './dead-letter.js';
export { clipError, deadLetterHeaders, LAST_ERROR_MAX, retryHeaders } from './dead-letter.js';
export { DeliveryBase } from './delivery-base.js';
export type {
  Capabilities,
  DeadLetterDestination,
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
export { HealthTracker } from './health.js';
export { causeChain, nativeCode, nativeMessage } from './native-code.js';
export { Credit, Outstanding } from './outstanding.js';
export { DRIVER_RETRY_BACKOFF, retryPause } from './retry-policy.js';
export {
  addressSecrets,
  describeKind,
  HOST,
  MIN_SECRET_LENGTH,
  REDACTED,
  redactAddress,
  Secrets,
} from './secrets.js';
export type { Claimable, DeliverySource } from './settle-once.js';
export { ALREADY_SETTLED, claimSettlement, staleDelivery } from './settle-once.js';
export type { NodeTlsOptions, Pem, TlsOptions } from './tls.js';
export {
  isTlsVerificationError,
  nodeTlsOptions,
  TLS_RULE,
  TLS_SHAPE,
  TLS_VERIFY_CODES,
  tlsSecrets,
} from './tls.js';
export { speaksCleartextHttp2, speaksTls } from './tls-probe.js';
