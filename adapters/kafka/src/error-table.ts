// How a native error of Kafka or kafkajs becomes a LosslessError: ONE table, keyed by the Kafka protocol error
// name (kafkajs's `type`, e.g. "UNKNOWN_TOPIC_OR_PARTITION"; the codes are listed in the protocol guide,
// https://kafka.apache.org/protocol#protocol_error_codes), by kafkajs's own error class names (connection,
// timeout, broker discovery), or by the Node.js socket errno kafkajs carries as `code`. kafkajs wraps the error
// that made its retrier give up in KafkaJSNumberOfRetriesExceeded (or KafkaJSNonRetriableError): the table is
// applied to the innermost cause. A protocol error the table does not list keeps kafkajs's own `retriable`.
// Two things come before the table: a LosslessError the driver itself threw inside kafkajs (the OAuth token
// provider's wrapper) is kept as it is, and a TLS verification failure (kafkajs reports it as a retriable
// KafkaJSConnectionError carrying Node's code) is PERMISSION_DENIED, not retriable.
import {
  ErrorCode,
  type ErrorContext,
  type ErrorMapper,
  type ErrorRow,
  errorMapper,
  isLosslessError,
  isTlsVerificationError,
  type LosslessError,
  nativeCode,
} from '@lossless/core/driver';

type Row = ErrorRow;

/** The socket error code the driver sets when a plaintext connection is answered with TLS. */
export const TLS_REQUIRED = 'LOSSLESS_KAFKA_TLS_REQUIRED';

/** The one mapping table. Keys: Kafka protocol error names, kafkajs error class names, socket errnos. */
export const ERROR_TABLE: ReadonlyMap<string, Row> = new Map<string, Row>([
  // --- Kafka protocol errors (kafkajs `type`; code in parentheses) ---------------------------------------
  // (3) "This server does not host this topic-partition." The broker kit and sane clusters run with
  // auto.create.topics.enable=false, so the topic was never declared. Not retriable: declare it first. (kafkajs
  // marks it retriable because it can also mean stale metadata; the driver waits at declare() until every
  // broker knows a new topic, so here it is conclusive.)
  [
    'UNKNOWN_TOPIC_OR_PARTITION',
    { code: ErrorCode.NOT_FOUND, retriable: false, meaning: 'the topic does not exist (declare it first)' },
  ],
  // (10) "The request included a message larger than the max message size the server will accept." The
  // broker's message.max.bytes (or the topic's max.message.bytes) applies to a whole record batch.
  ['MESSAGE_TOO_LARGE', { code: ErrorCode.TOO_LARGE, meaning: 'record batch larger than message.max.bytes' }],
  // (18) "The request included message batch larger than the configured segment size on the server."
  ['RECORD_LIST_TOO_LARGE', { code: ErrorCode.TOO_LARGE, meaning: 'record batch larger than a log segment' }],
  // (19) "Messages are rejected since there are fewer in-sync replicas than required." Nothing was written:
  // the broker refused the batch (acks=all with fewer than min.insync.replicas in sync). Retriable.
  [
    'NOT_ENOUGH_REPLICAS',
    { code: ErrorCode.NACKED, meaning: 'fewer in-sync replicas than min.insync.replicas: not stored' },
  ],
  // (20) "Messages are written to the log, but to fewer in-sync replicas than required." The leader has the
  // batch; it may or may not survive. Re-sending (same message id) may duplicate, never lose.
  [
    'NOT_ENOUGH_REPLICAS_AFTER_APPEND',
    { code: ErrorCode.UNAVAILABLE, meaning: 'written to the leader but to too few in-sync replicas' },
  ],
  // (7) "The request timed out." For a produce with acks=all: the replicas did not acknowledge within the
  // request's timeout; the leader may have the batch. Retriable (may duplicate).
  [
    'REQUEST_TIMED_OUT',
    { code: ErrorCode.UNAVAILABLE, meaning: 'the broker timed out waiting for replicas' },
  ],
  // (5) "There is no leader for this topic-partition as we are in the middle of a leadership election."
  ['LEADER_NOT_AVAILABLE', { code: ErrorCode.UNAVAILABLE, meaning: 'partition leader election in progress' }],
  // (6) "For requests intended only for the leader, this error indicates that the broker is not the current
  // leader." Metadata is stale (leadership moved, e.g. after a broker died).
  ['NOT_LEADER_FOR_PARTITION', { code: ErrorCode.UNAVAILABLE, meaning: 'the broker is not the leader' }],
  // (74) / (75) "The leader epoch in the request is older / newer than the epoch on the broker." Stale
  // metadata around a leader change.
  ['FENCED_LEADER_EPOCH', { code: ErrorCode.UNAVAILABLE, meaning: 'leader epoch fenced (leader moved)' }],
  ['UNKNOWN_LEADER_EPOCH', { code: ErrorCode.UNAVAILABLE, meaning: 'leader epoch unknown (leader moving)' }],
  // (13) "The server disconnected before a response was received."
  ['NETWORK_EXCEPTION', { code: ErrorCode.UNAVAILABLE, meaning: 'the broker disconnected before answering' }],
  // (56) "Disk error when trying to access log file on the disk." Another replica may take over.
  ['KAFKA_STORAGE_ERROR', { code: ErrorCode.UNAVAILABLE, meaning: 'disk error on the broker' }],
  // (2) "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted
  // topic, or is otherwise corrupt." In practice bytes damaged in transit: re-send.
  ['CORRUPT_MESSAGE', { code: ErrorCode.UNAVAILABLE, meaning: 'message corrupt in transit (CRC)' }],
  // (14) / (15) / (16) The group coordinator is loading, unavailable or moved (a broker restarted).
  ['GROUP_LOAD_IN_PROGRESS', { code: ErrorCode.UNAVAILABLE, meaning: 'group coordinator loading' }],
  [
    'GROUP_COORDINATOR_NOT_AVAILABLE',
    { code: ErrorCode.UNAVAILABLE, meaning: 'group coordinator not available' },
  ],
  ['NOT_COORDINATOR_FOR_GROUP', { code: ErrorCode.UNAVAILABLE, meaning: 'group coordinator moved' }],
  // (27) / (22) / (25) An offset commit from a consumer whose group is rebalancing, whose generation is over,
  // or that the coordinator no longer knows: its deliveries are stale and will be redelivered.
  ['REBALANCE_IN_PROGRESS', { code: ErrorCode.STALE_DELIVERY, meaning: 'the consumer group is rebalancing' }],
  ['ILLEGAL_GENERATION', { code: ErrorCode.STALE_DELIVERY, meaning: 'the consumer generation is over' }],
  ['UNKNOWN_MEMBER_ID', { code: ErrorCode.STALE_DELIVERY, meaning: 'the consumer left the group' }],
  // (45) / (46) / (47) / (59) Idempotent-producer state does not match the broker's (a batch whose outcome was
  // unknown, a producer id the broker expired). The driver replaces its producer after every failed send, so
  // a re-send goes out under a fresh producer id. Retriable (may duplicate).
  [
    'OUT_OF_ORDER_SEQUENCE_NUMBER',
    { code: ErrorCode.UNAVAILABLE, retriable: true, meaning: 'producer sequence out of order' },
  ],
  [
    'DUPLICATE_SEQUENCE_NUMBER',
    { code: ErrorCode.UNAVAILABLE, retriable: true, meaning: 'producer sequence duplicated' },
  ],
  ['INVALID_PRODUCER_EPOCH', { code: ErrorCode.UNAVAILABLE, retriable: true, meaning: 'producer fenced' }],
  ['UNKNOWN_PRODUCER_ID', { code: ErrorCode.UNAVAILABLE, retriable: true, meaning: 'producer id expired' }],
  // (36) "Topic with this name already exists." Only from createTopics; declare() treats it as a race.
  ['TOPIC_ALREADY_EXISTS', { code: ErrorCode.CONFLICT, meaning: 'the topic already exists' }],
  // (37) / (38) / (40) / (17) / (32) / (87) A declaration or a record the broker cannot accept as given
  // (e.g. a replication factor larger than the cluster, a timestamp outside the allowed window).
  ['INVALID_PARTITIONS', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invalid number of partitions' }],
  [
    'INVALID_REPLICATION_FACTOR',
    { code: ErrorCode.INVALID_ARGUMENT, meaning: 'replication factor larger than the cluster' },
  ],
  ['INVALID_CONFIG', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invalid topic configuration' }],
  ['INVALID_TOPIC_EXCEPTION', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invalid topic name' }],
  ['INVALID_TIMESTAMP', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'timestamp outside the broker window' }],
  ['INVALID_RECORD', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'the broker rejected the record' }],
  ['INVALID_REQUIRED_ACKS', { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invalid acks' }],
  // (44) "Request parameters do not satisfy the configured policy." (create.topic.policy.class.name)
  ['POLICY_VIOLATION', { code: ErrorCode.PERMISSION_DENIED, meaning: 'refused by the broker policy' }],
  // Authentication and authorisation (https://kafka.apache.org/protocol#protocol_error_codes; kafkajs
  // src/protocol/error.js marks every one of them not retriable). No retry changes credentials or ACLs: a
  // connect() that meets one ends at once (kafka-driver.ts), a publish or subscribe fails on that call.
  // (29) "Topic authorization failed." No Describe/Write/Read ACL on the topic.
  ['TOPIC_AUTHORIZATION_FAILED', { code: ErrorCode.PERMISSION_DENIED, meaning: 'topic not authorized' }],
  // (30) "Group authorization failed." No Read/Describe ACL on the consumer group.
  ['GROUP_AUTHORIZATION_FAILED', { code: ErrorCode.PERMISSION_DENIED, meaning: 'group not authorized' }],
  // (31) "Cluster authorization failed." e.g. IdempotentWrite or Create on the cluster resource.
  ['CLUSTER_AUTHORIZATION_FAILED', { code: ErrorCode.PERMISSION_DENIED, meaning: 'cluster not authorized' }],
  // (53) "The transactional id authorization failed." (transactional producers; not used by the driver yet)
  [
    'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'transactional id not authorized' },
  ],
  // (58) "SASL Authentication failed." Wrong user name or password, or a mechanism the user has no credential for.
  ['SASL_AUTHENTICATION_FAILED', { code: ErrorCode.PERMISSION_DENIED, meaning: 'authentication failed' }],
  // (33) "The broker does not support the requested SASL mechanism." A configuration mismatch.
  [
    'UNSUPPORTED_SASL_MECHANISM',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'the broker does not offer this SASL mechanism' },
  ],
  // (34) "Request is not valid given the current SASL state." (a SASL listener spoken to without SASL, or
  // the reverse.)
  [
    'ILLEGAL_SASL_STATE',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'SASL expected (or not expected) by this listener' },
  ],
  // (61)-(66) delegation tokens: disabled, unknown, expired, not the owner, not allowed, not authorized.
  [
    'DELEGATION_TOKEN_AUTH_DISABLED',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'delegation tokens are disabled on the broker' },
  ],
  [
    'DELEGATION_TOKEN_NOT_FOUND',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'delegation token not found' },
  ],
  [
    'DELEGATION_TOKEN_OWNER_MISMATCH',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'not the owner of the delegation token' },
  ],
  [
    'DELEGATION_TOKEN_REQUEST_NOT_ALLOWED',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'delegation token request not allowed' },
  ],
  [
    'DELEGATION_TOKEN_AUTHORIZATION_FAILED',
    { code: ErrorCode.PERMISSION_DENIED, meaning: 'delegation token not authorized' },
  ],
  ['DELEGATION_TOKEN_EXPIRED', { code: ErrorCode.PERMISSION_DENIED, meaning: 'delegation token expired' }],
  // (35) "The version of API is not supported." kafkajs speaks old protocol versions; a broker that removed
  // them (KIP-896) refuses.
  ['UNSUPPORTED_VERSION', { code: ErrorCode.UNSUPPORTED, meaning: 'protocol version not supported' }],

  // --- kafkajs's own errors (class names) --------------------------------------------------------------
  // A TCP connection failed or broke (kafkajs carries the errno as `code`, mapped below when known).
  ['KafkaJSConnectionError', { code: ErrorCode.UNAVAILABLE, meaning: 'connection to the broker failed' }],
  ['KafkaJSConnectionClosedError', { code: ErrorCode.UNAVAILABLE, meaning: 'connection closed' }],
  // No answer within requestTimeout: the request may or may not have been applied. Retriable (may duplicate).
  ['KafkaJSRequestTimeoutError', { code: ErrorCode.UNAVAILABLE, meaning: 'request timed out' }],
  // No broker of the cluster could be reached or found in the metadata.
  ['KafkaJSNoBrokerAvailableError', { code: ErrorCode.UNAVAILABLE, meaning: 'no broker available' }],
  ['KafkaJSBrokerNotFound', { code: ErrorCode.UNAVAILABLE, meaning: 'broker not found in metadata' }],
  ['KafkaJSGroupCoordinatorNotFound', { code: ErrorCode.UNAVAILABLE, meaning: 'no group coordinator' }],
  // Metadata for the topic not loaded yet (kafkajs raised it before sending anything).
  ['KafkaJSMetadataNotLoaded', { code: ErrorCode.UNAVAILABLE, meaning: 'metadata not loaded yet' }],
  ['KafkaJSTopicMetadataNotLoaded', { code: ErrorCode.UNAVAILABLE, meaning: 'topic metadata not loaded' }],
  // kafkajs waited too long for its own lock (a request stuck on a dead connection).
  ['KafkaJSLockTimeout', { code: ErrorCode.UNAVAILABLE, meaning: 'client lock timeout' }],
  // kafkajs's own SASL failure (src/broker/saslAuthenticator: "SASL PLAIN authentication failed: …"), thrown
  // before any protocol error code exists for it (old handshakes close the socket instead of answering 58).
  ['KafkaJSSASLAuthenticationError', { code: ErrorCode.PERMISSION_DENIED, meaning: 'SASL authentication' }],
  ['KafkaJSServerDoesNotSupportApiKey', { code: ErrorCode.UNSUPPORTED, meaning: 'API not supported' }],

  // --- the driver's own socket checks (kafka-driver.ts) ---------------------------------------------------
  // A driver without `tls` got a TLS record (a listener that speaks SSL/SASL_SSL answers plaintext with a TLS
  // alert and closes): every retry would meet the same. Not retriable: configure `tls`. INVALID_ARGUMENT, as on
  // RabbitMQ and RocketMQ: the driver's options do not fit the broker.
  [
    TLS_REQUIRED,
    {
      code: ErrorCode.INVALID_ARGUMENT,
      retriable: false,
      meaning: 'this broker listener speaks TLS and the driver has no tls option (set tls, e.g. tls: {})',
    },
  ],

  // --- Node.js socket errors (kafkajs's `code` on connection errors) ------------------------------------
  ['ECONNREFUSED', { code: ErrorCode.UNAVAILABLE, meaning: 'connection refused' }],
  ['ECONNRESET', { code: ErrorCode.UNAVAILABLE, meaning: 'connection reset' }],
  ['ETIMEDOUT', { code: ErrorCode.UNAVAILABLE, meaning: 'connection timed out' }],
  ['EPIPE', { code: ErrorCode.UNAVAILABLE, meaning: 'broken pipe' }],
  ['EHOSTUNREACH', { code: ErrorCode.UNAVAILABLE, meaning: 'host unreachable' }],
  ['ENETUNREACH', { code: ErrorCode.UNAVAILABLE, meaning: 'network unreachable' }],
  ['EAI_AGAIN', { code: ErrorCode.UNAVAILABLE, meaning: 'temporary DNS failure' }],
  // An unknown host name is a configuration error, not a transient one.
  ['ENOTFOUND', { code: ErrorCode.UNAVAILABLE, retriable: false, meaning: 'unknown host name' }],
]);

interface NativeError {
  name?: unknown;
  type?: unknown;
  code?: unknown;
  retriable?: unknown;
  cause?: unknown;
  message?: unknown;
}

/** The innermost error of kafkajs's retry wrappers (NumberOfRetriesExceeded, NonRetriableError with a cause). */
export function innermost(error: unknown): unknown {
  let e = error;
  for (let depth = 0; depth < 8; depth++) {
    if (e === null || typeof e !== 'object') return e;
    const { name, cause } = e as NativeError;
    // createTopics and friends report per-topic failures as an aggregate: the first one speaks for it.
    const first = (e as { errors?: unknown[] }).errors?.[0];
    if (name === 'KafkaJSAggregateError' && first !== undefined) {
      e = first;
      continue;
    }
    const wrapper = name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSNonRetriableError';
    if (!wrapper || cause === undefined || cause === e) return e;
    e = cause;
  }
  return e;
}

/** Where kafkajs puts what the table is keyed by: the protocol error name, the socket errno, the class name. */
const KEY_FIELDS = ['type', 'code', 'name'] as const;

/**
 * An untrusted server certificate, a name it does not carry, an expired one (Node's code on kafkajs's connection
 * error, see core's isTlsVerificationError). The broker could not be authenticated: no retry changes that.
 */
const TLS_VERIFICATION: Row = {
  code: ErrorCode.PERMISSION_DENIED,
  retriable: false,
  meaning:
    "TLS: the broker's certificate is not trusted or does not carry its name (check tls.ca and tls.servername)",
};

/** The table row for a native error, and the key it matched; undefined for errors the table does not know. */
export function lookup(error: unknown): { key: string; row: Row; native: NativeError } | undefined {
  const e = innermost(error);
  if (e === null || typeof e !== 'object') return undefined;
  const native = e as NativeError;
  if (isTlsVerificationError(e)) {
    const code = nativeCode(e, ['code']);
    return { key: typeof code === 'string' ? code : 'TLS_VERIFICATION', row: TLS_VERIFICATION, native };
  }
  for (const field of KEY_FIELDS) {
    const key = nativeCode(e, [field]);
    if (typeof key !== 'string') continue;
    const row = ERROR_TABLE.get(key);
    if (row) return { key, row, native };
  }
  // A protocol error the table does not list: keep kafkajs's judgement of whether it is transient.
  if (native.name === 'KafkaJSProtocolError' && typeof native.type === 'string') {
    const retriable = native.retriable === true;
    return {
      key: native.type,
      native,
      row: {
        code: retriable ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
        retriable,
        meaning: `broker error ${native.type}`,
      },
    };
  }
  return undefined;
}

export type { ErrorContext };

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const mapper = errorMapper('kafka', (error) => {
  const hit = lookup(error);
  if (!hit) return undefined;
  const inner = innermost(error);
  return { row: hit.row, detail: inner === error ? text(error) : `${text(error)}: ${text(inner)}` };
});

/** The driver's own error thrown inside kafkajs and wrapped by its retrier, when that is what `error` is. */
function ownError(error: unknown): LosslessError | undefined {
  const inner = innermost(error);
  return inner !== error && isLosslessError(inner) ? inner : undefined;
}

/** Maps a native error through ERROR_TABLE; undefined for errors it does not know. */
export const classifyNative: ErrorMapper['classify'] = (error, context) =>
  ownError(error) ?? mapper.classify(error, context);

/** Like classifyNative, but never undefined: what the table does not know becomes INTERNAL (not retriable). */
export const toError: ErrorMapper['toError'] = (error, context) =>
  ownError(error) ?? mapper.toError(error, context);
