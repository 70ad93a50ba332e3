// @lossless/rabbitmq as a conformance adapter: a single RabbitMQ node from the broker kit by default
// (`--nodes 3` for the quorum cluster). A route rewrites the first URL's host and port (fault proxy, dead port).
import type { RabbitMqSettings } from '@lossless/brokers';
import { rabbitmq } from '@lossless/rabbitmq';
import type { ConformanceAdapter } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';

export const adapter: ConformanceAdapter = {
  name: 'rabbitmq',
  module: import.meta.url,
  broker: { kind: 'rabbitmq' },
  deliveryTimeoutMs: 30_000,
  createDriver({ settings, route }) {
    const urls = (settings as RabbitMqSettings | undefined)?.urls ?? [
      process.env.LOSSLESS_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    ];
    if (!route) return rabbitmq({ urls, heartbeatSeconds: 2 });
    const [first] = urls;
    if (first === undefined) throw new Error('rabbitmq adapter: the broker settings list no URL to route');
    const url = new URL(first);
    url.hostname = route.host;
    url.port = String(route.port);
    return rabbitmq({ url: url.href, heartbeatSeconds: 2, connectAttemptTimeoutMs: 2_000 });
  },
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
};
