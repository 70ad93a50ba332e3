// Is the proxy a TLS port? Asked once, when a driver without `tls` cannot reach the proxy: grpc-js hides the
// socket, so a plaintext client on a TLS-only proxy sees only "connection dropped" and would retry to the connect
// deadline. A TLS handshake to the same address (nothing verified, nothing sent after it) tells the two apart, and
// the driver answers at once that `tls` is missing. No credential ever crosses the probe.
import { connect } from 'node:tls';

/** How long the probe may take: a TLS server answers a ClientHello within a round trip. */
const PROBE_MS = 1_500;

/** True when something at `address` ("host:port"; the first of a ';' list) completes a TLS handshake. */
export function speaksTls(address: string, timeoutMs = PROBE_MS): Promise<boolean> {
  const first = address.split(';')[0] ?? '';
  const colon = first.lastIndexOf(':');
  const host = first.slice(0, colon);
  const port = Number(first.slice(colon + 1));
  return new Promise((resolve) => {
    let done = false;
    const finish = (answer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    // rejectUnauthorized: false — the question is only "does it speak TLS"; nothing is sent over this socket.
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () =>
      finish(true),
    );
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
  });
}
