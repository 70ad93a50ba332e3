// The secured Kafka fixture's own pieces (`kafka({ secure: true })`): the server.properties that make the node
// speak SASL_SSL only (SCRAM-SHA-512 over TLS with the kit's PEM certificate, the standard ACL authorizer), the
// SCRAM users stamped into the metadata log at format time, the client options the kit's own probes and admin use,
// and the limited user's ACLs. kafka.ts runs the node like any other; this file says what makes it secure.
//
// What the limited user may do follows from how the driver names broker objects (adapters/kafka/src/names.ts):
// topic T → retry topic `T.S.retry`, dead letters `T.S.dlq`, consumer groups `T.S` and `T.S.dlq`. Every one of
// them begins with the topic's name, so PREFIXED ACLs on `granted` (topics and groups) cover all that a topic named
// `granted…` needs and nothing else. The driver's idempotent producer needs no cluster ACL: since Kafka 2.8
// (KIP-679) InitProducerId is allowed to a principal with WRITE on any topic.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { Admin, SASLOptions } from 'kafkajs';
import { HOST } from './kafka-config.js';
import type { Pki } from './pki.js';
import { LIMITED_PREFIX } from './secure.js';
import type { KitUser, SecureSettings } from './types.js';

/** The secured node's ports (next to the plain fixtures' 19092/19192…; nothing else uses them). */
export const SECURE_PORTS = { client: 19292, controller: 19293 } as const;

/** The SASL mechanism of the secured node's users (and of the broker's own inter-broker login). */
export const SECURE_MECHANISM = 'SCRAM-SHA-512';

/**
 * OAUTHBEARER is offered too, with Kafka's built-in *unsecured* token validator (unsigned JWTs, `alg: none`;
 * the `sub` claim is the principal), so a test can prove the driver's token provider end to end without an
 * identity provider. It accepts any unsigned token: acceptable only because this is a throwaway broker on
 * 127.0.0.1 whose users' passwords are fixed in the repository anyway. The ACLs apply to its principals alike.
 */
export const SECURE_MECHANISMS = `${SECURE_MECHANISM},OAUTHBEARER`;

/** The secured fixture's cluster (and directory) name: what `fixturesOnDisk` recognises. */
export function secureClusterName(version: string): string {
  return `kafka-${version}-secure`;
}

/**
 * The node's PEM keystore: its private key followed by its certificate, one file (Kafka's `ssl.keystore.type=PEM`
 * with `ssl.keystore.location` reads both from it; the key is unencrypted PKCS#8, so no `ssl.key.password`).
 */
export function writeKeystore(dir: string, pki: Pki): string {
  const file = join(dir, 'keystore.pem');
  writeFileSync(
    file,
    `${readFileSync(pki.server.key, 'utf8').trim()}\n${readFileSync(pki.server.cert, 'utf8')}`,
    {
      mode: 0o600,
    },
  );
  return file;
}

/** JAAS text for a SCRAM login (Kafka's properties format: one line, double quotes inside). */
function scramJaas(user: KitUser): string {
  return `org.apache.kafka.common.security.scram.ScramLoginModule required username="${user.username}" password="${user.password}";`;
}

/**
 * The server.properties entries of the secured node, applied over the plain node's: clients reach a SASL_SSL
 * listener only; the controller listener stays PLAINTEXT on loopback (its principal is ANONYMOUS, hence a super
 * user with lossless-admin); the broker talks to itself over SASL_SSL as lossless-admin.
 */
export function secureProperties(options: {
  port: number;
  controllerPort: number;
  keystore: string;
  ca: string;
  admin: KitUser;
}): Record<string, string | number | boolean> {
  return {
    listeners: `SASL_SSL://${HOST}:${options.port},CONTROLLER://${HOST}:${options.controllerPort}`,
    'advertised.listeners': `SASL_SSL://${HOST}:${options.port}`,
    'inter.broker.listener.name': 'SASL_SSL',
    'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT',
    'sasl.enabled.mechanisms': SECURE_MECHANISMS,
    'sasl.mechanism.inter.broker.protocol': SECURE_MECHANISM,
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scramJaas(options.admin),
    // The broker never logs in with OAUTHBEARER (inter-broker is SCRAM); the login module is required anyway.
    'listener.name.sasl_ssl.oauthbearer.sasl.jaas.config': `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="${options.admin.username}";`,
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': options.keystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': options.ca,
    // The server certificate names 127.0.0.1: the broker's own client (inter-broker) checks it like any other.
    'ssl.endpoint.identification.algorithm': 'https',
    'ssl.client.auth': 'none',
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': `User:${options.admin.username};User:ANONYMOUS`,
    'allow.everyone.if.no.acl.found': false,
  };
}

/**
 * `kafka-storage format` arguments that stamp both users' SCRAM-SHA-512 credentials into the bootstrap metadata
 * (KIP-900), so the node authenticates them from its first start.
 */
export function scramFormatArgs(security: SecureSettings): string[] {
  return [security.admin, security.limited].flatMap((user) => [
    '--add-scram',
    `${SECURE_MECHANISM}=[name=${user.username},password=${user.password}]`,
  ]);
}

/** Replaces every password of `security` in `text` with `***` (errors of commands that carried them). */
export function hidePasswords(text: string, security: SecureSettings): string {
  return [security.admin.password, security.limited.password].reduce(
    (out, secret) => out.split(secret).join('***'),
    text,
  );
}

/** What a kafkajs client of the kit (probes, the ACL admin) needs to reach the secured node as admin. */
export interface KitClientSecurity {
  readonly ssl: ConnectionOptions;
  readonly sasl: SASLOptions;
}

/** kafkajs `ssl` and `sasl` for the kit's own clients: verified TLS against the kit CA, SCRAM as admin. */
export function kitClientSecurity(security: SecureSettings): KitClientSecurity {
  return {
    ssl: { ca: [readFileSync(security.caFile, 'utf8')], servername: security.servername },
    sasl: {
      mechanism: 'scram-sha-512',
      username: security.admin.username,
      password: security.admin.password,
    },
  };
}

// kafkajs's ACL enums (src/protocol/acl*.js), by value: Node's ESM loader does not see those CommonJS exports.
const TOPIC = 2;
const GROUP = 3;
const PREFIXED = 4;
const READ = 3;
const WRITE = 4;
const DESCRIBE = 8;
const ALLOW = 3;

/**
 * The limited user's ACLs: on topics whose names begin with `limitedPrefix`, READ (consume), WRITE (publish, and
 * the driver's retry and dead-letter copies) and DESCRIBE (metadata, offsets); on groups with that prefix, READ
 * (join, fetch and commit offsets) and DESCRIBE. Nothing on the cluster. Creating an ACL that exists is a no-op,
 * so this runs at every up.
 */
export async function ensureLimitedAcls(admin: Admin, security: SecureSettings): Promise<void> {
  const principal = `User:${security.limited.username}`;
  const prefix = security.limitedPrefix || LIMITED_PREFIX;
  const rules: [number, number][] = [
    [TOPIC, READ],
    [TOPIC, WRITE],
    [TOPIC, DESCRIBE],
    [GROUP, READ],
    [GROUP, DESCRIBE],
  ];
  await admin.createAcls({
    acl: rules.map(([resourceType, operation]) => ({
      resourceType,
      resourceName: prefix,
      resourcePatternType: PREFIXED,
      principal,
      host: '*',
      operation,
      permissionType: ALLOW,
    })),
  } as unknown as Parameters<Admin['createAcls']>[0]);
}
