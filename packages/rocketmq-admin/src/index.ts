// @lossless/rocketmq-admin — RocketMQ's remoting protocol from Node: create, inspect and delete topics (with
// their message.type) and subscription groups, and set a new group's consumer offsets, on the name server and
// the master brokers of a cluster. The RocketMQ driver (@lossless/rocketmq) declares its topology with it and the
// broker kit (@lossless/brokers) administers its RocketMQ with it.

export {
  ACCESS_KEY_FIELD,
  type RemotingCredentials,
  SECURITY_TOKEN_FIELD,
  SIGNATURE_FIELD,
  signExtFields,
  signedContent,
} from './acl-signing.js';
export {
  type CreateGroupOptions,
  type CreateTopicOptions,
  type GroupInfo,
  RocketMqAdmin,
  type RocketMqAdminOptions,
  type RocketMqMessageType,
  type TopicInfo,
} from './admin.js';
export {
  parseServerJson,
  type RemotingCallOptions,
  RemotingConnectionError,
  type RemotingResponse,
  RequestCode,
  ResponseCode,
  remotingCall,
} from './remoting.js';
export { REMOTING_ERROR_TABLE, remotingErrorRow } from './remoting-errors.js';
