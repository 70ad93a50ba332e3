// How a native error of RocketMQ or rocketmq-client-nodejs becomes a LosslessError: ONE table. Keys:
//   - a number ≥ 20000: a status code of RocketMQ's gRPC protocol (apache.rocketmq.v2.Code, definition.proto),
//     which the client throws as ClientException subclasses (BadRequestException, NotFoundException, …);
//   - 'grpc:N': a gRPC transport status (grpc-js ServiceError.code, https://grpc.github.io/grpc/core/md_doc_statuscodes.html);
//   - 'remoting:N': a response code of the remoting protocol (org.apache.rocketmq.remoting.protocol.ResponseCode),
//     from the admin; these rows live in @lossless/rocketmq-admin (REMOTING_ERROR_TABLE) and are spread in here;
//   - an errno ('ECONNREFUSED', …): the admin's TCP connection to a name server or broker;
//   - 'client:<message start>': the client's own errors, which carry no code (plain Error / TypeError).
// Every row says what the code means, so the mapping can be checked against the proto and the proxy's source.
import {
  causeChain,
  describeError,
  ErrorCode,
  type ErrorMapper,
  type ErrorRow,
  errorMapper,
  isTlsVerificationError,
  LosslessError,
  nativeCode,
  nativeMessage,
} from '@lossless/core/driver';
import { REMOTING_ERROR_TABLE } from '@lossless/rocketmq-admin';

/** One row of the table (core's shape: code, meaning, optional retriable override). */
export type { ErrorRow };

/** The one mapping table. */
export const ERROR_TABLE: ReadonlyMap<number | string, ErrorRow> = new Map<number | string, ErrorRow>([
  // --- apache.rocketmq.v2.Code (the proxy's answer status) ----------------------------------------------------
  // 40000 BAD_REQUEST: generic invalid request; the proxy also answers it for a polling time too short.
  [40000, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'bad request' }],
  // 40002 ILLEGAL_TOPIC / 40003 ILLEGAL_CONSUMER_GROUP: a name the proxy's validator refuses (length, charset,
  // system topic).
  [40002, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal topic name' }],
  [40003, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal consumer group name' }],
  // 40005 ILLEGAL_MESSAGE_KEY / 40006 ILLEGAL_MESSAGE_GROUP: a key that is blank or has control characters,
  // a message group longer than maxMessageGroupSize (64 by default). The driver avoids both (see message-mapping).
  [40005, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal message key' }],
  [40006, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal message group' }],
  // 40007 ILLEGAL_MESSAGE_PROPERTY_KEY: a header name used by the system (KEYS, TAGS, UNIQ_KEY, …) or a
  // header with control characters in its name or value. Re-sending does not help.
  [
    40007,
    { code: ErrorCode.INVALID_ARGUMENT, meaning: 'header name reserved by RocketMQ or control character' },
  ],
  // 40011 ILLEGAL_INVISIBLE_TIME: invisible duration below the proxy's minimum for receive (10 s) or above 12 h.
  [40011, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'invisible duration out of range (10 s … 12 h)' }],
  // 40012 ILLEGAL_DELIVERY_TIME: a delay beyond the broker's maximum.
  [40012, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'delivery time out of range' }],
  // 40013 INVALID_RECEIPT_HANDLE: ack / changeInvisibleDuration after the message's invisible time passed (or
  // with a handle a later change replaced). The broker makes the message visible again: it is redelivered.
  [
    40013,
    { code: ErrorCode.STALE_DELIVERY, meaning: 'receipt handle expired; the message will be redelivered' },
  ],
  // 40014 MESSAGE_PROPERTY_CONFLICT_WITH_TYPE: e.g. a message group on a message of another type.
  [40014, { code: ErrorCode.CONFLICT, meaning: 'message properties conflict with the topic message type' }],
  // 40016 MESSAGE_CORRUPTED: the proxy could not decode the message.
  [40016, { code: ErrorCode.INTERNAL, meaning: 'message corrupted' }],
  // 40018 ILLEGAL_POLLING_TIME: the request deadline leaves too little time for long polling.
  [40018, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal polling time' }],
  // 40001 ILLEGAL_ACCESS_POINT: the endpoint or namespace given does not match the proxy's (ACL 2.0 / a
  // namespaced instance). A configuration error.
  [40001, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'illegal access point (endpoint or namespace)' }],
  // 40100 UNAUTHORIZED (client: UnauthorizedException): the proxy's ACL refused the credentials — no access key,
  // an unknown one, or a wrong signature (a wrong secret). Not retriable: connect() ends on it at once.
  [40100, { code: ErrorCode.PERMISSION_DENIED, meaning: 'unauthorized (credentials refused)' }],
  // 40200 PAYMENT_REQUIRED (PaymentRequiredException): a hosted instance refuses an account in arrears.
  [40200, { code: ErrorCode.PERMISSION_DENIED, meaning: 'payment required by the service' }],
  // 40300 FORBIDDEN (ForbiddenException): authenticated, but the ACL does not allow the operation on this
  // topic or group (Pub on a send, Sub on a receive or an ack).
  [40300, { code: ErrorCode.PERMISSION_DENIED, meaning: 'forbidden (the ACL refuses this operation)' }],
  // 40400 NOT_FOUND / 40402 TOPIC_NOT_FOUND / 40403 CONSUMER_GROUP_NOT_FOUND: declare the topology first.
  // Not retriable: a re-send cannot create the topic (gRPC clients never auto-create topics). The driver makes a
  // send's NOT_FOUND retriable for a topic it has seen exist: the broker holding it is restarting behind the proxy.
  [40400, { code: ErrorCode.NOT_FOUND, meaning: 'not found' }],
  [40402, { code: ErrorCode.NOT_FOUND, meaning: 'topic not found: declare it first' }],
  [40403, { code: ErrorCode.NOT_FOUND, meaning: 'consumer group not found: declare the subscription first' }],
  // 40800 REQUEST_TIMEOUT: the proxy gave up waiting for the broker; the outcome is unknown.
  [40800, { code: ErrorCode.UNAVAILABLE, meaning: 'request timed out in the proxy' }],
  // 41300 PAYLOAD_TOO_LARGE / 41301 MESSAGE_BODY_TOO_LARGE: body above the proxy's maxMessageSize (4 MiB).
  [41300, { code: ErrorCode.TOO_LARGE, meaning: 'payload too large' }],
  [
    41301,
    { code: ErrorCode.TOO_LARGE, meaning: 'message body larger than the proxy accepts (4 MiB default)' },
  ],
  // 41302 MESSAGE_BODY_EMPTY: the proxy refuses empty bodies (the driver sends a marker instead).
  [41302, { code: ErrorCode.INVALID_ARGUMENT, meaning: 'empty message body' }],
  // 42800 PRECONDITION_FAILED.
  [42800, { code: ErrorCode.CONFLICT, meaning: 'precondition failed' }],
  // 42900 TOO_MANY_REQUESTS: the broker throttles (flow control, a busy page cache). Retriable after a pause.
  [42900, { code: ErrorCode.RESOURCE_EXHAUSTED, meaning: 'throttled by the broker' }],
  // 43100 REQUEST_HEADER_FIELDS_TOO_LARGE / 43101 MESSAGE_PROPERTIES_TOO_LARGE: more than 128 headers or more
  // than 16 KiB of headers (the proxy's userPropertyMaxNum / maxUserPropertySize).
  [43100, { code: ErrorCode.TOO_LARGE, meaning: 'request headers too large' }],
  [43101, { code: ErrorCode.TOO_LARGE, meaning: 'message headers larger than the proxy accepts (16 KiB)' }],
  // 50000 INTERNAL_ERROR / 50001 INTERNAL_SERVER_ERROR: also a send status other than SEND_OK that the proxy
  // has no code for. The message may or may not be stored: re-send with the same id (duplicates possible).
  [50000, { code: ErrorCode.UNAVAILABLE, meaning: 'internal error in the proxy or broker' }],
  [50001, { code: ErrorCode.UNAVAILABLE, meaning: 'internal server error' }],
  // 50002 HA_NOT_AVAILABLE: send status SLAVE_NOT_AVAILABLE — stored on the master, no slave to copy to.
  [50002, { code: ErrorCode.NACKED, meaning: 'SLAVE_NOT_AVAILABLE: no in-sync replica took the message' }],
  // 50100 NOT_IMPLEMENTED / 50500 UNSUPPORTED / 50501 VERSION_UNSUPPORTED.
  [50100, { code: ErrorCode.UNSUPPORTED, meaning: 'not implemented by the proxy' }],
  [50500, { code: ErrorCode.UNSUPPORTED, meaning: 'unsupported' }],
  [50501, { code: ErrorCode.UNSUPPORTED, meaning: 'protocol version unsupported' }],
  // 50400 PROXY_TIMEOUT: the proxy timed out talking to the broker; outcome unknown.
  [50400, { code: ErrorCode.UNAVAILABLE, meaning: 'proxy timed out waiting for the broker' }],
  // 50401 MASTER_PERSISTENCE_TIMEOUT: send status FLUSH_DISK_TIMEOUT — the SYNC_FLUSH did not finish within
  // syncFlushTimeout. The message may be stored; core re-sends with the same id.
  [50401, { code: ErrorCode.NACKED, meaning: 'FLUSH_DISK_TIMEOUT: the broker did not fsync in time' }],
  // 50402 SLAVE_PERSISTENCE_TIMEOUT: send status FLUSH_SLAVE_TIMEOUT — the slave did not confirm in time.
  [50402, { code: ErrorCode.NACKED, meaning: 'FLUSH_SLAVE_TIMEOUT: the replica did not confirm in time' }],

  // --- gRPC transport status (grpc-js) -------------------------------------------------------------------
  // 1 CANCELLED: the call was cancelled (client shutting down).
  ['grpc:1', { code: ErrorCode.UNAVAILABLE, meaning: 'gRPC call cancelled' }],
  // 4 DEADLINE_EXCEEDED: no answer within the request timeout (network cut, broker stalled). Outcome unknown.
  ['grpc:4', { code: ErrorCode.UNAVAILABLE, meaning: 'no answer from the proxy within the request timeout' }],
  // 8 RESOURCE_EXHAUSTED: message larger than gRPC's max receive size, or a server-side limit.
  ['grpc:8', { code: ErrorCode.RESOURCE_EXHAUSTED, meaning: 'gRPC resource exhausted' }],
  // 13 INTERNAL / 2 UNKNOWN: the stream broke mid-call.
  ['grpc:13', { code: ErrorCode.UNAVAILABLE, meaning: 'gRPC internal error (stream broken)' }],
  ['grpc:2', { code: ErrorCode.UNAVAILABLE, meaning: 'gRPC unknown error' }],
  // 14 UNAVAILABLE: no connection to the proxy (refused, reset, or grpc-js still backing off its reconnect).
  ['grpc:14', { code: ErrorCode.UNAVAILABLE, meaning: 'the proxy cannot be reached' }],
  // 16 UNAUTHENTICATED / 7 PERMISSION_DENIED.
  ['grpc:16', { code: ErrorCode.PERMISSION_DENIED, meaning: 'unauthenticated' }],
  ['grpc:7', { code: ErrorCode.PERMISSION_DENIED, meaning: 'permission denied' }],
  // 12 UNIMPLEMENTED: the endpoint is not a RocketMQ 5 proxy.
  ['grpc:12', { code: ErrorCode.UNSUPPORTED, meaning: 'not a RocketMQ 5 gRPC proxy' }],

  // --- remoting ResponseCode (admin calls): the rows of @lossless/rocketmq-admin's REMOTING_ERROR_TABLE ---
  ...REMOTING_ERROR_TABLE,

  // --- TCP errors of admin connections --------------------------------------------------------------------
  ['ECONNREFUSED', { code: ErrorCode.UNAVAILABLE, meaning: 'connection refused' }],
  ['ECONNRESET', { code: ErrorCode.UNAVAILABLE, meaning: 'connection reset' }],
  ['ETIMEDOUT', { code: ErrorCode.UNAVAILABLE, meaning: 'connection timed out' }],
  ['EHOSTUNREACH', { code: ErrorCode.UNAVAILABLE, meaning: 'host unreachable' }],
  ['ENOTFOUND', { code: ErrorCode.UNAVAILABLE, retriable: false, meaning: 'unknown host name' }],

  // --- the client's own errors (no code; matched on the start of the message) ----------------------------------
  // PublishingMessage: body above the maxBodySize the proxy announced in its settings (4 MiB).
  [
    'client:Message body size exceeds the threshold',
    { code: ErrorCode.TOO_LARGE, meaning: 'body too large' },
  ],
  // Producer.#send0: the message type (NORMAL / FIFO) does not match the topic's message.type, e.g. a message
  // group sent to a NORMAL topic. The topic exists with another type than this driver assumed.
  [
    'client:Current message type not match with topic accept message types',
    { code: ErrorCode.CONFLICT, meaning: 'message type does not match the topic message.type' },
  ],
  // Producer / consumer used after shutdown().
  ['client:Producer is not running now', { code: ErrorCode.CLOSED, meaning: 'producer not running' }],
  // Load balancers: the route has no readable / writable queue (perm changed, broker being removed).
  ['client:No writable message queue found', { code: ErrorCode.UNAVAILABLE, meaning: 'no writable queue' }],
  ['client:No readable message queue found', { code: ErrorCode.UNAVAILABLE, meaning: 'no readable queue' }],
]);

const MESSAGE_KEYS = [...ERROR_TABLE.keys()].filter(
  (k): k is string => typeof k === 'string' && k.startsWith('client:'),
);

/**
 * 40300 FORBIDDEN is also what a cluster-mode proxy answers a send with when the topic's route has no writable
 * queue ("no writable queue", ProducerProcessor): the broker group holding it has no master at this moment — a
 * failover in a replicated group, before the controller promoted a slave — or every master was made read-only.
 * That passes; no ACL is involved: retriable, so core re-sends until the confirm deadline.
 */
const NO_WRITABLE_QUEUE_ROW: ErrorRow = {
  code: ErrorCode.UNAVAILABLE,
  retriable: true,
  meaning: 'no writable queue: the broker group has no master now (a failover)',
};

/** The table row for one native error (not its causes), and the key it matched. */
function lookupOne(error: unknown): { key: number | string; row: ErrorRow } | undefined {
  const code = nativeCode(error);
  if (code === 40300 && /no writable queue/.test(nativeMessage(error) ?? '')) {
    return { key: 40300, row: NO_WRITABLE_QUEUE_ROW };
  }
  if (typeof code === 'number') {
    // ClientException codes are RocketMQ's (≥ 20000); grpc-js ServiceError codes are 0-16.
    const key = code >= 20_000 ? code : `grpc:${code}`;
    const row = ERROR_TABLE.get(key);
    if (row) return { key, row };
  }
  if (typeof code === 'string') {
    const row = ERROR_TABLE.get(code);
    if (row) return { key: code, row };
  }
  const message = nativeMessage(error);
  if (message === undefined) return undefined;
  for (const key of MESSAGE_KEYS) {
    const row = ERROR_TABLE.get(key);
    if (row && message.startsWith(key.slice('client:'.length))) return { key, row };
  }
  return undefined;
}

/**
 * The table row for a native error. The client wraps startup failures ("Startup the rocketmq client failed")
 * and route failures in plain Errors with the real error as `cause`, so the cause chain is searched too.
 */
export function lookup(error: unknown): { key: number | string; row: ErrorRow; native: unknown } | undefined {
  for (const current of causeChain(error, 6)) {
    const found = lookupOne(current);
    if (found) return { ...found, native: current };
  }
  return undefined;
}

/**
 * The proxy's certificate failed verification (an untrusted CA, a name it does not carry, expired): grpc-js
 * reports it as 14 UNAVAILABLE ("No connection established. Last error: … unable to get local issuer
 * certificate"), which would be retried as a lost connection. No retry changes a certificate: refused at once.
 */
const TLS_VERIFICATION_ROW: ErrorRow = {
  code: ErrorCode.PERMISSION_DENIED,
  retriable: false,
  meaning: "the proxy's TLS certificate is not trusted or does not carry the expected name",
};

const mapper = errorMapper('rocketmq', (error) => {
  if (isTlsVerificationError(error)) {
    return { row: TLS_VERIFICATION_ROW, detail: `(tls) ${describeError(error)}` };
  }
  const found = lookup(error);
  if (!found) return undefined;
  return { row: found.row, detail: `(${String(found.key)}) ${describeError(error)}` };
});

/** Maps a native error through the table to a LosslessError; undefined for errors the table does not know. */
export const classifyNative: ErrorMapper['classify'] = mapper.classify;

/** Like classifyNative, but an unknown error becomes INTERNAL (not retriable). */
export const toError: ErrorMapper['toError'] = mapper.toError;

/**
 * What a send to a topic the driver has seen exist is told while the broker holding it restarts behind a live
 * proxy, made retriable so core re-sends until the confirm deadline: the name server dropped the broker's routes
 * (TOPIC_NOT_FOUND until the proxy's route cache refreshes), or the proxy refreshed its topic-config cache while
 * the broker was away and validates sends against an unknown (UNSPECIFIED) message type until its next refresh
 * (40014; the client's own check against a route fetched then fails the same way). Every message-type conflict
 * on a known topic is retried: the driver asks the proxy for the topic's type again after one, so a topic really
 * re-created with another type is sent with that type on the next attempt. A topic deleted for good fails the
 * same way, only at the deadline. Other errors are returned as given.
 */
export function whileBrokerRestarts(error: LosslessError, topic: string, messageId: string): LosslessError {
  let why: string;
  if (error.code === ErrorCode.NOT_FOUND) why = 'is not routed now';
  else if (error.code === ErrorCode.CONFLICT) why = "has another or no message type in the proxy's view now";
  else return error;
  return new LosslessError(
    error.code,
    `topic '${topic}' existed but ${why}: the broker holding it is restarting behind the proxy, or the topic ` +
      `was deleted or re-created; re-sending until the confirm deadline (${error.message})`,
    { broker: 'rocketmq', topic, messageId, cause: error, retriable: true },
  );
}
