// @lossless/kafka as a conformance adapter: the kit's single KRaft node by default (`--nodes 3` for the
// replicated cluster, `--version 3.9` for the 3.x line, `--secure` for the SASL_SSL node). A route sends every
// broker connection to the route's address whatever host and port the cluster advertises, which is right for a
// single node (the fault proxy sits in front of it); on a 3-node cluster the cases that need a route are not run.
// On the secured node a case's `security` request becomes `tls` (the kit CA, or the impostor's; the certificate's
// name, or a wrong one) and `sasl` (SCRAM-SHA-512 as the admin or the limited user); a route then opens TLS
// through the proxy with the same servername, so the certificate check is the one a direct connection makes.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { KafkaSettings } from '@lossless/brokers';
import type { Logger, TlsOptions } from '@lossless/core';
import { type KafkaSasl, kafka, SASL_MECHANISMS } from '@lossless/kafka';
import type { ConformanceAdapter, SecurityRequest } from '../adapter.js';
import { proxyLink } from '../faulty-link.js';
import { secureClient } from '../secure-client.js';

const noop = () => {};
/** kafkajs is loud while a broker is down (every retry is an error line): keep only the driver's own errors. */
const quiet: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: (m, meta) => console.error(`[kafka] ${m}`, ...(meta ? [meta] : [])),
};

/** The driver's `tls` and `sasl` for a case's request on the secured fixture. */
function securityOptions(
  settings: KafkaSettings,
  request: SecurityRequest,
): { tls?: TlsOptions; sasl: KafkaSasl } {
  const security = settings.security;
  if (!security)
    throw new Error('kafka adapter: a security request on a broker that has no security settings');
  const { username, password, tls } = secureClient(security, request);
  const sasl: KafkaSasl = { mechanism: security.mechanism, username, password };
  // The secured Kafka asks for no client certificate.
  return tls ? { tls: { ca: tls.ca, servername: tls.servername }, sasl } : { sasl };
}

export const adapter: ConformanceAdapter = {
  name: 'kafka',
  module: import.meta.url,
  broker: { kind: 'kafka' },
  deliveryTimeoutMs: 45_000,
  security: { mechanisms: SASL_MECHANISMS.map((m) => m.toUpperCase()) },
  createDriver({ settings, route, security }) {
    const kafkaSettings = settings as KafkaSettings | undefined;
    const brokers = kafkaSettings?.brokers ??
      process.env.LOSSLESS_KAFKA_BROKERS?.split(',') ?? ['127.0.0.1:19092'];
    const secured = security && kafkaSettings ? securityOptions(kafkaSettings, security) : {};
    // The driver's defaults for the consumer group (session 10 s, heartbeat 1 s): the catalog runs what users get.
    const common = { logger: quiet, ...secured } as const;
    if (!route) return kafka({ brokers, ...common });
    return kafka({
      brokers: [`${route.host}:${route.port}`],
      connectionTimeout: 2_000,
      requestTimeout: 10_000,
      // kafkajs hands the factory its `ssl` (the driver's tls options, servername included) when TLS is on.
      socketFactory: ({ ssl, onConnect }) => {
        const socket: Socket = ssl
          ? tlsConnect({ host: route.host, port: route.port, ...ssl }, onConnect)
          : netConnect({ host: route.host, port: route.port }, onConnect);
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
