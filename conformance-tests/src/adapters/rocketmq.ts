// RocketMQ 5 (the kit's name server, broker and cluster-mode proxy JVMs) as a conformance adapter. A `route` (a
// fault proxy, or a port where nothing listens) replaces the gRPC proxy endpoint only: the admin keeps talking to
// the name server and broker directly, as an operator's tooling would. On the secured fixture (`--secure`) the
// request's `security` becomes the driver's `tls` and `auth`: the user's access key and secret key (ACL 2.0
// username and password), the kit's CA (or the impostor's), the certificate's name (kept when routed through the
// fault proxy, whose address is 127.0.0.1 too), or no `tls` at all for a plaintext client on the TLS port.
import type { SecureSettings } from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import { type RocketMqDriverOptions, rocketmq } from '@lossless/rocketmq';
import type { ConformanceAdapter, SecurityRequest } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';
import { secureClient } from '../secure-client.js';

/** The driver's tls and auth options for a case's security request on the secured fixture. */
function secureOptions(
  security: SecureSettings,
  request: SecurityRequest,
): Pick<RocketMqDriverOptions, 'tls' | 'auth'> {
  const { username, password, tls } = secureClient(security, request);
  const auth = { accessKey: username, secretKey: password };
  // The proxy takes no client certificate.
  return tls ? { auth, tls: { ca: tls.ca, servername: tls.servername } } : { auth };
}

export const adapter: ConformanceAdapter = {
  name: 'rocketmq',
  broker: { kind: 'rocketmq' },
  module: import.meta.url,
  security: { mechanisms: ['ACL 2.0 access key / secret key (HMAC-SHA1)'] },
  // Redelivery after a nack or a dead consumer goes through the broker's revive scan (seconds), and a message a
  // killed consumer held returns only after its invisible time (15 s, the driver's default).
  deliveryTimeoutMs: 60_000,
  // A released or nacked message returns through the broker's revive scan (reviveScanTime, 10 s by default).
  redeliveryWindowMs: 15_000,
  createDriver({ settings, route, security }) {
    if (settings?.kind !== 'rocketmq') throw new Error('the rocketmq adapter needs RocketMQ broker settings');
    const secured =
      settings.security !== undefined ? secureOptions(settings.security, security ?? { user: 'admin' }) : {};
    return rocketmq({
      endpoints: route ? `${route.host}:${route.port}` : settings.endpoints,
      namesrv: settings.namesrv,
      cluster: settings.cluster,
      // The kit's replicated fixture: a broker group of three, a send confirmed once two or more have it.
      replicated: (settings.replicas ?? 1) > 1,
      // The kit's proxy allows 1 s long polls (grpcClientConsumerMinLongPollingTimeoutMillis): a consumer's
      // close() waits for its receive in flight, so this is what closing one costs (5 s with the defaults).
      awaitDurationMs: 1_000,
      logger: silentLogger,
      ...secured,
    });
  },
  // The kit's proxy runs in cluster mode with useEndpointPortFromRequest: a route answer names the address the
  // client dialled, so a client routed through the fault proxy sends, receives and acks through it too.
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
};
