// The secured RabbitMQ fixture's own pieces (`rabbitmq({ secure: true })`): the node's TLS-only configuration,
// the readiness check that speaks AMQP over verified mutual TLS (an open port alone says nothing about the TLS
// listener), and the two users with their permissions. rabbitmq.ts runs the node like any other; this file says
// what makes it secure.
//
// What the limited user may do follows from how the driver names broker objects (adapters/rabbitmq/src/topology.ts):
// topic T → exchange `T`, subscription S → queue `T.S`, dead letters → `T.S.dlx` / `T.S.dlq`, settings markers
// `T.lossless-spec…` and `T.S.lossless-spec…`. Every one of them begins with the topic's name, so the patterns
// `^granted` cover all that a topic named `granted…` needs and nothing else. The default exchange (`amq.default`)
// is deliberately not granted: write there would let the user publish to ANY queue by name (RabbitMQ checks write
// on the exchange only, and the default exchange routes to every queue). The driver's dead-letter copies go
// through the subscription's own `T.S.dlx` exchange for that reason (adapters/rabbitmq/src/rabbitmq-driver.ts).

import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import type { Pki } from './pki.js';
import { LIMITED_PREFIX } from './secure.js';
import type { SecureSettings } from './types.js';

/** The secured fixture's name, directory and ports (next to LAYOUT's plain fixtures; nothing else uses them). */
export const SECURE_LAYOUT = {
  cluster: 'rabbitmq-secure',
  nodes: [{ name: 'lossless-rmq-secure', amqp: 5686, dist: 25686 }],
} as const;

/** The permission patterns (configure, write, read) of the limited user on vhost '/'. */
export const LIMITED_PERMISSIONS = [
  `^${LIMITED_PREFIX}`,
  `^${LIMITED_PREFIX}`,
  `^${LIMITED_PREFIX}`,
] as const;

/** rabbitmq.conf of the secured node: a TLS listener only, client certificates required, EXTERNAL offered. */
export function secureConfig(host: string, port: number, pki: Pki): string[] {
  return [
    // No plaintext listener at all: a client that does not speak TLS reaches nothing but the TLS port.
    'listeners.tcp = none',
    `listeners.ssl.default = ${host}:${port}`,
    `ssl_options.cacertfile = ${pki.ca}`,
    `ssl_options.certfile = ${pki.server.cert}`,
    `ssl_options.keyfile = ${pki.server.key}`,
    'ssl_options.verify = verify_peer',
    // Mutual TLS: a client without a certificate signed by the kit CA is refused during the handshake.
    'ssl_options.fail_if_no_peer_cert = true',
    // EXTERNAL (rabbitmq_auth_mechanism_ssl) takes the user name from the client certificate's CN.
    'ssl_cert_login_from = common_name',
    'auth_mechanisms.1 = PLAIN',
    'auth_mechanisms.2 = AMQPLAIN',
    'auth_mechanisms.3 = EXTERNAL',
  ];
}

/** The enabled_plugins file of the secured node. */
export const SECURE_PLUGINS = '[rabbitmq_auth_mechanism_ssl].\n';

/**
 * True once the node answers the AMQP protocol header with connection.start over TLS verified against the kit
 * CA and with the kit's client certificate: the listener is up and its certificates are the ones we made.
 */
export function tlsAmqpReady(
  host: string,
  port: number,
  security: SecureSettings,
  timeoutMs = 3_000,
): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const socket = tlsConnect({
      host,
      port,
      servername: security.servername,
      ca: readFileSync(security.caFile),
      cert: readFileSync(security.clientCertFile),
      key: readFileSync(security.clientKeyFile),
    });
    const timer = setTimeout(() => finish(false), timeoutMs);
    let received = Buffer.alloc(0);
    socket.on('secureConnect', () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // A method frame (type 1) on channel 0 whose class/method ids are 10/10: connection.start.
      if (received.length >= 11) {
        finish(received[0] === 1 && received.readUInt16BE(7) === 10 && received.readUInt16BE(9) === 10);
      }
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

type Ctl = (args: string[]) => Promise<{ ok: boolean; output: string }>;

/**
 * Makes the users of `security` exist with their passwords, tags and permissions, and removes guest. Idempotent
 * (safe on every up). The commands carry passwords, so a failure names the command without its arguments.
 */
export async function ensureUsers(ctl: Ctl, security: SecureSettings): Promise<void> {
  const must = async (args: string[], what: string, tolerate?: RegExp) => {
    const result = await ctl(args);
    if (!result.ok && !(tolerate?.test(result.output) ?? false)) {
      const shown = result.output
        .split(security.admin.password)
        .join('***')
        .split(security.limited.password)
        .join('***');
      throw new Error(`rabbitmq-secure: rabbitmqctl ${args[0]} (${what}) failed:\n${shown}`);
    }
    return result;
  };
  await must(['delete_user', 'guest'], 'removing guest', /no such user|not found|does not exist/i);
  for (const [user, tags, perms] of [
    [security.admin, ['administrator'], ['.*', '.*', '.*']],
    [security.limited, [], [...LIMITED_PERMISSIONS]],
  ] as const) {
    const added = await must(
      ['add_user', user.username, user.password],
      `adding ${user.username}`,
      /already exists/i,
    );
    if (!added.ok)
      await must(['change_password', user.username, user.password], `password of ${user.username}`);
    await must(['set_user_tags', user.username, ...tags], `tags of ${user.username}`);
    await must(['set_permissions', '-p', '/', user.username, ...perms], `permissions of ${user.username}`);
  }
}
