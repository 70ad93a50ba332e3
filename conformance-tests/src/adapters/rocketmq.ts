// RocketMQ 5 (the kit's name server + proxy/broker JVMs) as a conformance adapter. A `route` (a fault proxy, or a
// port where nothing listens) replaces the gRPC proxy endpoint only: the admin keeps talking to the name server
// and broker directly, as an operator's tooling would.

import { silentLogger } from '@lossless/core';
import { rocketmq } from '@lossless/rocketmq';
import type { ConformanceAdapter } from '../adapter.js';
import { CaseSkipped } from '../context.js';

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
  // No network cut: in local mode (the kit's fixture: broker inside the proxy JVM) the proxy routes every client
  // to its own gRPC address, whatever address the client dialled, so a TCP fault proxy in front of it carries the
  // route lookup only — a cut would not touch sends and receives, and F3/F5/F6/L1 would prove nothing.
  async createFaultyLink() {
    throw new CaseSkipped(
      'the RocketMQ proxy in local mode routes clients to its own address, around any TCP fault proxy: ' +
        'cutting the network needs the proxy in cluster mode, which the kit does not run yet',
    );
  },
};
