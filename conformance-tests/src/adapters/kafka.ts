// @lossless/kafka as a conformance adapter: the kit's single KRaft node by default (`--nodes 3` for the
// replicated cluster, `--version 3.9` for the 3.x line). A route sends every broker connection to the route's
// address whatever host and port the cluster advertises, which is right for a single node (the fault proxy sits
// in front of it); on a 3-node cluster the cases that need a route are not run.
import { connect as netConnect } from 'node:net';
import type { KafkaSettings } from '@lossless/brokers';
import type { Logger } from '@lossless/core';
import { kafka } from '@lossless/kafka';
import type { ConformanceAdapter } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';

const noop = () => {};
/** kafkajs is loud while a broker is down (every retry is an error line): keep only the driver's own errors. */
const quiet: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: (m, meta) => console.error(`[kafka] ${m}`, ...(meta ? [meta] : [])),
};

export const adapter: ConformanceAdapter = {
  name: 'kafka',
  module: import.meta.url,
  broker: { kind: 'kafka' },
  deliveryTimeoutMs: 45_000,
  createDriver({ settings, route }) {
    const brokers = (settings as KafkaSettings | undefined)?.brokers ??
      process.env.LOSSLESS_KAFKA_BROKERS?.split(',') ?? ['127.0.0.1:19092'];
    // Short sessions so that a consumer that died is replaced within seconds (R1, F2).
    const common = { logger: quiet, sessionTimeout: 10_000, heartbeatInterval: 1_000 } as const;
    if (!route) return kafka({ brokers, ...common });
    return kafka({
      brokers: [`${route.host}:${route.port}`],
      connectionTimeout: 2_000,
      requestTimeout: 10_000,
      socketFactory: ({ onConnect }) => {
        const socket = netConnect({ host: route.host, port: route.port }, onConnect);
        socket.setKeepAlive(true, 10_000);
        return socket;
      },
      ...common,
    });
  },
  createFaultyLink(settings) {
    return proxyLink(adapter, settings);
  },
};
