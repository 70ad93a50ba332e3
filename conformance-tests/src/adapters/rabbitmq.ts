// @lossless/rabbitmq as a conformance adapter: a single RabbitMQ node from the broker kit by default
// (`--nodes 3` for the quorum cluster, `--secure` for the TLS-only node with users). A route rewrites the first
// URL's host and port (fault proxy, dead port); over TLS the server name stays the fixture's, so the certificate
// check passes although the socket goes to the proxy's 127.0.0.1 port.
import type { RabbitMqSettings, SecureSettings } from '@lossless/brokers';
import { type RabbitMqDriverOptions, rabbitmq } from '@lossless/rabbitmq';
import type { ConformanceAdapter, SecurityRequest } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';
import { secureClient } from '../secure-client.js';

/**
 * The driver options for `request` on a secured fixture: PLAIN with the user's name and password as options,
 * and the kit's client certificate (the listener requires one of every client, whatever the login). Plaintext:
 * the same login without TLS, on amqp:// URLs to the same TLS port.
 */
function secureOptions(
  security: SecureSettings,
  request: SecurityRequest,
): Pick<RabbitMqDriverOptions, 'auth' | 'tls'> {
  const { username, password, tls } = secureClient(security, request);
  const auth = { mechanism: 'plain', username, password } as const;
  return tls ? { auth, tls } : { auth };
}

export const adapter: ConformanceAdapter = {
  name: 'rabbitmq',
  module: import.meta.url,
  broker: { kind: 'rabbitmq' },
  // What the driver offers, each proven against the secured kit node (adapters/rabbitmq/src/secure.test.ts).
  security: { mechanisms: ['PLAIN', 'AMQPLAIN', 'EXTERNAL'] },
  deliveryTimeoutMs: 30_000,
  createDriver({ settings, route, security }) {
    const given = settings as RabbitMqSettings | undefined;
    let urls = given?.urls ?? [process.env.LOSSLESS_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672'];
    const secured = given?.security && security ? secureOptions(given.security, security) : {};
    // Plaintext on purpose: the same port, spoken to without TLS.
    if (security?.plaintext) urls = urls.map((u) => u.replace(/^amqps:/i, 'amqp:'));
    if (!route) return rabbitmq({ urls, heartbeatSeconds: 2, ...secured });
    const [first] = urls;
    if (first === undefined) throw new Error('rabbitmq adapter: the broker settings list no URL to route');
    const url = new URL(first);
    url.hostname = route.host;
    url.port = String(route.port);
    return rabbitmq({ url: url.href, heartbeatSeconds: 2, connectAttemptTimeoutMs: 2_000, ...secured });
  },
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
  // A subscription's messages live in its quorum queue `<topic>.<subscription>`, whose leader the node cases kill.
  leaderResource: (topic, subscription) => `${topic}.${subscription}`,
};
