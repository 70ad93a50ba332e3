// RocketMQ 5 (the kit's name server, broker and cluster-mode proxy JVMs) as a conformance adapter. A `route` (a
// fault proxy, or a port where nothing listens) replaces the gRPC proxy endpoint only: the admin keeps talking to
// the name server and broker directly, as an operator's tooling would.

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
  // A released or nacked message returns through the broker's revive scan (reviveScanTime, 10 s by default).
  redeliveryWindowMs: 15_000,
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
  // The kit's proxy runs in cluster mode with useEndpointPortFromRequest: a route answer names the address the
  // client dialled, so a client routed through the fault proxy sends, receives and acks through it too.
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
};
