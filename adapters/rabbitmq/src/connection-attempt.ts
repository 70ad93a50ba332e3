// One connection attempt to one node URL: the TCP (+ TLS) + AMQP handshake with the driver's TLS options and
// login, and, when it fails, why — in the words of the broker where amqplib dropped them. The driver's connect
// and reconnect loops (rabbitmq-driver.ts) decide what to do with the answer: REFUSALS end connect() at once.
import { ErrorCode, speaksTls } from '@lossless/core/driver';
import { connect as amqpConnect, type ChannelModel, credentials } from 'amqplib';
import { type ProbeCredentials, probeCloseReason } from './handshake-probe.js';
import { type ResolvedAuth, type ResolvedOptions, redact } from './options.js';

/**
 * What a connect attempt may be refused with that no retry can change: bad credentials, a certificate that
 * failed verification, no access to the virtual host, no such virtual host. connect() rejects with it at once
 * instead of retrying to its deadline.
 */
export const REFUSALS: ReadonlySet<string> = new Set([
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.NOT_FOUND,
  // The URL's scheme does not fit the port (amqp:// on a TLS listener, amqps:// on a plaintext one).
  ErrorCode.INVALID_ARGUMENT,
]);

/** amqplib's message when the broker answers connection.open with connection.close (the reason is dropped). */
const OPEN_REFUSED = /^Expected ConnectionOpenOk; got <ConnectionClose/;

/** amqplib's message when the socket closes before the broker's connection.start (a booting node, a TLS port). */
const CLOSED_BEFORE_START = /^Socket closed abruptly during opening handshake/;
/** A socket reset instead of closed: what a TLS-only listener may do to a plaintext hello, as a busy node may. */
const RESET_CODES: ReadonlySet<unknown> = new Set(['ECONNRESET', 'EPIPE']);

/** amqplib's SASL credentials for a login given as options. */
function amqpCredentials(auth: ResolvedAuth): ProbeCredentials {
  if (auth.mechanism === 'external') return credentials.external();
  if (auth.mechanism === 'amqplain') return credentials.amqplain(auth.username, auth.password);
  return credentials.plain(auth.username, auth.password);
}

/** One TCP (+ TLS for amqps://) + AMQP handshake to `url`, with the driver's heartbeat, TLS and login. */
export function openConnection(url: string, options: ResolvedOptions): Promise<ChannelModel> {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(options.heartbeatSeconds));
  return amqpConnect(u.toString(), {
    // TLS first: amqplib hands these options to tls.connect for amqps:// URLs (resolveOptions refuses `tls`
    // with an amqp:// one), and its own keys below must not be overridden by them.
    ...options.tls,
    ...(options.auth ? { credentials: amqpCredentials(options.auth) } : {}),
    timeout: options.connectAttemptTimeoutMs,
    noDelay: true,
    clientProperties: { connection_name: options.connectionName },
  });
}

/**
 * The error of a failed connect attempt, with the reason amqplib could not give: a refused connection.open is
 * asked again by a minimal handshake (handshake-probe.ts) to learn its reply code and text; a plaintext socket
 * closed before any answer is checked for a TLS-only port. Other errors come back as they are. Never throws.
 */
export async function explainFailure(
  url: string,
  error: unknown,
  options: ResolvedOptions,
): Promise<unknown> {
  if (!(error instanceof Error)) return error;
  const probeMs = Math.min(options.connectAttemptTimeoutMs, 3_000);
  const dropped =
    CLOSED_BEFORE_START.test(error.message) || RESET_CODES.has((error as { code?: unknown }).code);
  if (dropped && url.toLowerCase().startsWith('amqp:')) {
    // A TLS-only listener drops (or resets) a plaintext socket without a word, as a booting node does: ask which
    // it is.
    const u = new URL(url);
    if (await speaksTls(u.hostname, Number(u.port || 5672), probeMs)) {
      return Object.assign(
        new Error(`${redact(url)} is a TLS port (it answers a TLS hello); nothing was sent`, {
          cause: error,
        }),
        { code: 'AMQP_ON_TLS_PORT' },
      );
    }
    return error;
  }
  if (!OPEN_REFUSED.test(error.message)) return error;
  const reason = await probeCloseReason(url, probeMs, {
    tls: options.tls,
    credentials: options.auth && amqpCredentials(options.auth),
  });
  if (!reason) return error;
  const vhost = new URL(url).pathname.slice(1) || '/';
  return Object.assign(
    new Error(
      `the broker refused to open virtual host '${decodeURIComponent(vhost)}': ${reason.replyCode} ${reason.replyText}`,
      { cause: error },
    ),
    { code: reason.replyCode, replyText: reason.replyText },
  );
}
