// @lossless/rocketmq — the RocketMQ 5 driver for lossless (rocketmq-client-nodejs over the gRPC proxy): sends
// answered SEND_OK after the broker's SYNC_FLUSH, SimpleConsumer acks after the handler, leases kept alive while
// handlers run, dead letters with the last error, and topology (topics with message.type, groups, offsets)
// created from TypeScript over RocketMQ's remoting protocol (@lossless/rocketmq-admin, whose API is re-exported
// here). Use it with `connect(rocketmq({ endpoints, namesrv }))` from `@lossless/core`.

export {
  type CreateGroupOptions,
  type CreateTopicOptions,
  type GroupInfo,
  parseServerJson,
  RemotingConnectionError,
  type RemotingResponse,
  RequestCode,
  ResponseCode,
  RocketMqAdmin,
  type RocketMqAdminOptions,
  type RocketMqMessageType,
  remotingCall,
  type TopicInfo,
} from '@lossless/rocketmq-admin';
export { ERROR_TABLE, type ErrorRow } from './error-table.js';
export { EMPTY_BODY_PROPERTY, EMPTY_HEADERS_PROPERTY, messageGroupOf } from './message-mapping.js';
export {
  brokerDeadLetterTopicName,
  consumerGroupName,
  deadLetterGroupName,
  deadLetterTopicName,
} from './naming.js';
export type { RocketMqAuth, RocketMqDriverOptions } from './options.js';
export { DEFAULT_QUEUES, type RocketMqDriver, rocketmq } from './rocketmq-driver.js';
