// RocketMQ 5 (the kit's name server + proxy/broker JVMs) as a conformance adapter. A `route` (a fault proxy, or a
// port where nothing listens) replaces the gRPC proxy endpoint only: the admin keeps talking to the name server
// and broker directly, as an operator's tooling would.

import { silentLogger } from '@lossless/core';
import { rocketmq } from '@lossless/rocketmq';
import type { ConformanceAdapter } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';

export const adapter: ConformanceAdapter = {
  name: 'rocketmq',
  broker: { kind: 'rocketmq' },
  module: import.meta.url,
  // Redelivery after a nack or a dead consumer goes through the broker's revive scan (seconds), and a message a
  // killed consumer held returns only after its invisible time (15 s here).
  deliveryTimeoutMs: 60_000,
  createDriver({ settings, route }) {
    if (settings?.kind !== 'rocketmq') throw new Error('the rocketmq adapter needs RocketMQ broker settings');
    return rocketmq({
      endpoints: route ? `${route.host}:${route.port}` : settings.endpoints,
      namesrv: settings.namesrv,
      cluster: settings.cluster,
      invisibleDurationMs: 15_000,
      logger: silentLogger,
    });
  },
  // The kit's TCP fault proxy in front of the gRPC proxy port (the admin's remoting connections stay direct).
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
};
