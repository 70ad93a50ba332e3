// How a native error of RabbitMQ or amqplib becomes a LosslessError: ONE table, keyed by the AMQP 0-9-1 reply
// code (a number), the Node.js socket error code (a string) or, for amqplib's own errors that carry no code,
// the start of their message. Every row cites what the code means, so the mapping can be checked against the
// spec (AMQP 0-9-1, section 1.3 "Constants") and the client's source.
import {
  ErrorCode,
  type ErrorContext,
  type ErrorMapper,
  type ErrorRow,
  errorMapper,
  isTlsVerificationError,
  nativeCode,
  nativeMessage,
} from '@lossless/core/driver';

type Row = ErrorRow;

/** The one mapping table. Keys: AMQP reply codes, socket errnos, amqplib message prefixes ("amqplib:…"). */
export const ERROR_TABLE: ReadonlyMap<number | string, Row> = new Map<number | string, Row>([
  // --- AMQP 0-9-1 reply codes (spec section 1.3, "Constants") ---------------------------------------------
  // 311 content-too-large (soft error): "The client attempted to transfer content larger than the server could
  // accept at the present time." Retrying the same message does not make it smaller.
  [311, { code: ErrorCode.TOO_LARGE, meaning: 'content too large for the broker' }],
  // 312 no-route (soft error): "Returned when RabbitMQ sends back with 'basic.return' when a 'mandatory'
  // message cannot be delivered to any queue." Not retriable: a subscription must be declared first.
  [312, { code: ErrorCode.UNROUTABLE, retriable: false, meaning: 'no queue is bound to take the message' }],
  // 313 no-consumers (soft error): "When the exchange cannot deliver to a consumer when the immediate flag is
  // set." (RabbitMQ no longer supports `immediate`; kept for completeness.)
  [313, { code: ErrorCode.UNROUTABLE, retriable: false, meaning: 'no consumer could take the message' }],
  // 320 connection-forced (hard error): "An operator intervened to close the connection for some reason. The
  // client may retry at some later date." Sent on node shutdown and `rabbitmqctl close_connection`.
  [320, { code: ErrorCode.UNAVAILABLE, meaning: 'the broker closed the connection (node shutting down?)' }],
  // 402 invalid-path (hard error): "The client tried to work with an unknown virtual host."
  [402, { code: ErrorCode.NOT_FOUND, meaning: 'unknown virtual host' }],
  // 403 access-refused (soft error): "The client attempted to work with a server entity to which it has no
  // access due to security settings." Also a refused login.
  [403, { code: ErrorCode.PERMISSION_DENIED, meaning: 'access refused' }],
  // 404 not-found (soft error): "The client attempted to work with a server entity that does not exist."
  [404, { code: ErrorCode.NOT_FOUND, meaning: 'no such exchange or queue' }],
  // 405 resource-locked (soft error): "The client attempted to work with a server entity to which it has no
  // access because another client is working with it." (an exclusive queue or consumer) The lock may go away.
  [405, { code: ErrorCode.UNAVAILABLE, meaning: 'resource locked by another connection' }],
  // 406 precondition-failed (soft error): "The client requested a method that was not allowed because some
  // precondition failed." For queue/exchange declarations: it exists with other arguments (inequivalent arg).
  [406, { code: ErrorCode.CONFLICT, meaning: 'precondition failed (exists with other settings)' }],
  // 501 frame-error (hard error): "The sender sent a malformed frame that the recipient could not decode."
  [501, { code: ErrorCode.INTERNAL, meaning: 'malformed frame' }],
  // 502 syntax-error (hard error): "The sender sent a frame that contained illegal values for one or more
  // fields." (e.g. a header table amqplib could not encode)
  [502, { code: ErrorCode.INTERNAL, meaning: 'illegal field values' }],
  // 503 command-invalid (hard error): "The client sent an invalid sequence of frames."
  [503, { code: ErrorCode.INTERNAL, meaning: 'invalid sequence of frames' }],
  // 504 channel-error (hard error): "The client attempted to work with a channel that had not been correctly
  // opened." A client bug, not a broker state.
  [504, { code: ErrorCode.INTERNAL, meaning: 'channel not correctly opened' }],
  // 505 unexpected-frame (hard error): "The peer sent a frame that was not expected."
  [505, { code: ErrorCode.INTERNAL, meaning: 'unexpected frame' }],
  // 506 resource-error (hard error): "The server could not complete the method because it lacked sufficient
  // resources." (too many channels, memory) Retriable once resources free up.
  [506, { code: ErrorCode.RESOURCE_EXHAUSTED, meaning: 'the broker lacks resources' }],
  // 530 not-allowed (hard error): "The client tried to work with some entity in a manner that is prohibited
  // by the server, due to security settings or by some other criteria." (vhost limits, vhost access)
  [530, { code: ErrorCode.PERMISSION_DENIED, meaning: 'not allowed by the broker' }],
  // 530 as RabbitMQ answers connection.open for a virtual host that does not exist ("NOT_ALLOWED - vhost x not
  // found", rabbit_reader): a missing thing, not a refused permission. Matched on the reply text.
  ['530:not found', { code: ErrorCode.NOT_FOUND, meaning: 'unknown virtual host' }],
  // 540 not-implemented (hard error): "The client tried to use functionality that is not implemented in the
  // server."
  [540, { code: ErrorCode.UNSUPPORTED, meaning: 'not implemented by the broker' }],
  // 541 internal-error (hard error): "The server could not complete the method because of an internal
  // error." RabbitMQ answers it e.g. when a quorum queue has no leader yet or a header table was corrupt; the
  // channel or connection is gone, and re-sending on a new one with the same message id is safe.
  [541, { code: ErrorCode.UNAVAILABLE, meaning: 'internal error in the broker' }],

  // --- Node.js socket errors (the broker cannot be reached, or the TCP connection broke) -----------------
  // Nothing answers on the port (node down or restarting).
  ['ECONNREFUSED', { code: ErrorCode.UNAVAILABLE, meaning: 'connection refused' }],
  // The peer reset the TCP connection (node killed, proxy cut).
  ['ECONNRESET', { code: ErrorCode.UNAVAILABLE, meaning: 'connection reset' }],
  // The TCP connect or a write timed out.
  ['ETIMEDOUT', { code: ErrorCode.UNAVAILABLE, meaning: 'connection timed out' }],
  // Writing to a socket the peer has closed.
  ['EPIPE', { code: ErrorCode.UNAVAILABLE, meaning: 'broken pipe' }],
  // The connection was aborted locally.
  ['ECONNABORTED', { code: ErrorCode.UNAVAILABLE, meaning: 'connection aborted' }],
  // No route to the host or network (cable, firewall, partition).
  ['EHOSTUNREACH', { code: ErrorCode.UNAVAILABLE, meaning: 'host unreachable' }],
  ['ENETUNREACH', { code: ErrorCode.UNAVAILABLE, meaning: 'network unreachable' }],
  // DNS: temporary failure (retriable) vs unknown name (a configuration error, not retriable).
  ['EAI_AGAIN', { code: ErrorCode.UNAVAILABLE, meaning: 'temporary DNS failure' }],
  ['ENOTFOUND', { code: ErrorCode.UNAVAILABLE, retriable: false, meaning: 'unknown host name' }],

  // --- TLS (Node's tls module under amqplib; OpenSSL's alert codes) --------------------------------------------
  // The broker's certificate failed verification: a CA the client does not trust, a name it does not carry, out
  // of its validity (core's isTlsVerificationError knows the codes). The broker could not be authenticated, and
  // trying again will not change that: never retried, nothing is sent.
  [
    'tls:unverified',
    {
      code: ErrorCode.PERMISSION_DENIED,
      retriable: false,
      meaning:
        "the broker's TLS certificate failed verification: check tls.ca (the CA that signed it) and tls.servername",
    },
  ],
  // TLS 1.3 alert 116 certificate_required (RFC 8446 6.2): the listener has fail_if_no_peer_cert.
  [
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    {
      code: ErrorCode.PERMISSION_DENIED,
      retriable: false,
      meaning: 'the broker requires a client certificate: give tls.cert and tls.key',
    },
  ],
  // Alert 48 unknown_ca (RFC 8446 6.2): the broker does not trust the CA of the client certificate.
  [
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    {
      code: ErrorCode.PERMISSION_DENIED,
      retriable: false,
      meaning: "the broker does not trust the client certificate's CA",
    },
  ],
  // Alerts 42 bad_certificate, 45 certificate_expired, 49 access_denied: the client certificate was refused.
  [
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
    {
      code: ErrorCode.PERMISSION_DENIED,
      retriable: false,
      meaning: 'the broker refused the client certificate',
    },
  ],
  [
    'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
    { code: ErrorCode.PERMISSION_DENIED, retriable: false, meaning: 'the client certificate has expired' },
  ],
  [
    'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
    { code: ErrorCode.PERMISSION_DENIED, retriable: false, meaning: 'the broker denied the TLS handshake' },
  ],
  // Alert 40 handshake_failure: under TLS 1.2 also a missing client certificate; else no protocol version or
  // cipher in common. Configuration either way: not retried.
  [
    'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    {
      code: ErrorCode.PERMISSION_DENIED,
      retriable: false,
      meaning:
        'the broker refused the TLS handshake (it requires a client certificate, or shares no TLS version or cipher)',
    },
  ],
  // The answer to our TLS hello was not TLS: an amqps:// URL pointing at a plaintext AMQP port.
  [
    'ERR_SSL_WRONG_VERSION_NUMBER',
    {
      code: ErrorCode.INVALID_ARGUMENT,
      retriable: false,
      meaning: "the port does not speak TLS: use amqp:// for it, or the broker's TLS port (5671 by default)",
    },
  ],
  // The driver's own diagnosis (handshake-probe.ts speaksTls): an amqp:// URL pointing at a TLS-only listener,
  // which closes a plaintext socket without an answer however often it is tried.
  [
    'AMQP_ON_TLS_PORT',
    {
      code: ErrorCode.INVALID_ARGUMENT,
      retriable: false,
      meaning: 'the server closed the connection before the AMQP handshake: it is a TLS port, use amqps://',
    },
  ],

  // --- amqplib's own errors, which carry no code (matched on the start of their message) -------------------
  // A confirm callback when the channel closed before the broker answered: the message may or may not be
  // stored (BROKERS.md: a hard kill stored 22 more than were acked). Re-send with the same id.
  ['amqplib:channel closed', { code: ErrorCode.UNAVAILABLE, meaning: 'channel closed before the confirm' }],
  // An operation on a channel or connection amqplib already moved to the closed/closing state.
  ['amqplib:Channel closed', { code: ErrorCode.UNAVAILABLE, meaning: 'channel closed' }],
  ['amqplib:Channel closing', { code: ErrorCode.UNAVAILABLE, meaning: 'channel closing' }],
  ['amqplib:Channel ended', { code: ErrorCode.UNAVAILABLE, meaning: 'channel ended before the reply' }],
  ['amqplib:Connection closed', { code: ErrorCode.UNAVAILABLE, meaning: 'connection closed' }],
  ['amqplib:Connection closing', { code: ErrorCode.UNAVAILABLE, meaning: 'connection closing' }],
  // basic.nack on a confirm channel: the broker refused to take responsibility (e.g. x-overflow
  // reject-publish on a full queue, an unavailable quorum). Retriable.
  ['amqplib:message nacked', { code: ErrorCode.NACKED, meaning: 'the broker nacked the message' }],
  // No frame from the broker for two heartbeat intervals: a half-open TCP connection (amqplib #530).
  ['amqplib:Heartbeat timeout', { code: ErrorCode.UNAVAILABLE, meaning: 'heartbeat timeout' }],
  // The socket connect timeout of amqplib (option `timeout`).
  ['amqplib:connect ETIMEDOUT', { code: ErrorCode.UNAVAILABLE, meaning: 'connect timed out' }],
  // The socket ended without a connection.close (node killed, proxy cut): amqplib's 'end' handler.
  ['amqplib:Unexpected close', { code: ErrorCode.UNAVAILABLE, meaning: 'the connection ended unexpectedly' }],
  // The broker closed the socket during the AMQP handshake (a node still booting, or a refused login).
  [
    'amqplib:Socket closed abruptly',
    { code: ErrorCode.UNAVAILABLE, meaning: 'socket closed during handshake' },
  ],
  // The broker answered connection.open with connection.close; amqplib 2.3.1 drops the reason. The driver asks
  // again (handshake-probe.ts) and maps the real reply code; this row is the fallback when it cannot.
  [
    'amqplib:Expected ConnectionOpenOk; got <ConnectionClose',
    {
      code: ErrorCode.PERMISSION_DENIED,
      meaning: 'the broker refused to open the virtual host (it does not exist, or the user may not use it)',
    },
  ],
  // amqplib 2.3.1 throws a RangeError when the header table does not fit its 64 KiB encoding buffer.
  ['amqplib:RangeError', { code: ErrorCode.TOO_LARGE, meaning: 'header table larger than 64 KiB' }],
]);

const MESSAGE_KEYS = [...ERROR_TABLE.keys()].filter(
  (k): k is string => typeof k === 'string' && k.startsWith('amqplib:'),
);

/** The table row for a native error, and the key it matched; undefined for errors the table does not know. */
export function lookup(error: unknown): { key: number | string; row: Row } | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  if (isTlsVerificationError(error)) return hit('tls:unverified');
  const code = nativeCode(error);
  const message = nativeMessage(error);
  if (code === 530 && VHOST_NOT_FOUND.test(message ?? '')) return hit('530:not found');
  if (code !== undefined) {
    const found = hit(code);
    if (found) return found;
  }
  if (error instanceof RangeError) return hit('amqplib:RangeError');
  if (message === undefined) return undefined;
  // "Handshake terminated by server: 403 (ACCESS-REFUSED)…" and friends carry the reply code in the text only.
  const handshake = /^Handshake terminated by server: (\d{3})/.exec(message);
  if (handshake?.[1] === '530' && VHOST_NOT_FOUND.test(message)) return hit('530:not found');
  if (handshake) {
    const found = hit(Number(handshake[1]));
    if (found) return found;
  }
  const key = MESSAGE_KEYS.find((k) => message.startsWith(k.slice('amqplib:'.length)));
  return key === undefined ? undefined : hit(key);
}

const VHOST_NOT_FOUND = /vhost .* not found/i;

/** The table's row for `key`, as lookup() answers it. */
function hit(key: number | string): { key: number | string; row: Row } | undefined {
  const row = ERROR_TABLE.get(key);
  return row ? { key, row } : undefined;
}

/** The table as core's error mapper: classify() for known errors, toError() for anything (INTERNAL otherwise). */
const mapper = errorMapper('rabbitmq', lookup);

export type { ErrorContext };

/** Maps a native error through ERROR_TABLE; undefined for errors it does not know. */
export const classifyNative: ErrorMapper['classify'] = mapper.classify;

/** Like classifyNative, but never undefined: what the table does not know becomes INTERNAL (not retriable). */
export const toError: ErrorMapper['toError'] = mapper.toError;
