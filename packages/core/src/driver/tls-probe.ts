// Which protocol does a port speak? A plaintext client on a TLS-only listener gets no answer it can read — the
// broker drops it, or sends a TLS alert its client library swallows — which looks like a node still booting and
// would be retried to the connect deadline. One TLS hello of our own tells the two apart, so a driver can say at
// once that its `tls` option is missing. Sends no credentials and verifies nothing.
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import { isIP } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';

/** OpenSSL's codes for a TLS alert the peer sent: whatever it objected to, the peer speaks TLS. */
const PEER_ALERT = /^ERR_SSL_.*ALERT/;

/**
 * True when `host:port` answers a TLS hello as a TLS server (a handshake, or a TLS alert such as "certificate
 * required"): a plaintext amqp:// client will never get an AMQP answer there. False when it does not (no TLS,
 * refused, nothing within `timeoutMs`). Sends no credentials and verifies nothing: it only asks which protocol
 * the port speaks. Never throws.
 */
export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let socket: TLSSocket | undefined;
    let settled = false;
    const done = (tls: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(tls);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    try {
      const bare = host.replace(/^\[|\]$/g, '');
      socket = tlsConnect(
        { host: bare, port, rejectUnauthorized: false, ...(isIP(bare) ? {} : { servername: bare }) },
        () => done(true),
      );
    } catch {
      done(false);
      return;
    }
    socket.on('error', (error: Error & { code?: unknown }) =>
      done(typeof error.code === 'string' && PEER_ALERT.test(error.code)),
    );
    socket.on('close', () => done(false));
  });
}

/**
 * True when `host:port` answers an HTTP/2 cleartext (h2c, "prior knowledge") connection preface with its SETTINGS:
 * a gRPC server that takes plaintext. Some servers take both on one port — RocketMQ's proxy does by default
 * (`tlsTestModeEnable`) — so a TLS answer alone does not mean a plaintext client is on the wrong port; ask this
 * first. False for a TLS-only port, a closed one, or nothing within `timeoutMs`. Sends no request. Never throws.
 */
export function speaksCleartextHttp2(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let session: ClientHttp2Session | undefined;
    let settled = false;
    const done = (h2c: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session?.destroy();
      resolve(h2c);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    try {
      const bare = host.replace(/^\[|\]$/g, '');
      session = http2Connect(`http://${isIP(bare) === 6 ? `[${bare}]` : bare}:${port}`);
    } catch {
      done(false);
      return;
    }
    session.once('remoteSettings', () => done(true));
    session.on('error', () => done(false));
    session.once('close', () => done(false));
  });
}
