// The secured variant of the RocketMQ fixture (`rocketmq({ secure: true })`, cluster `rocketmq-<version>-secure`):
// what it adds to the plain one in rocketmq.ts. ACL 2.0 on the proxy, where clients connect (every request
// authenticated by its HMAC signature, then authorised against the user's policies; the broker keeps the users
// and ACLs but does not check its own remoting port, see authConfig), TLS enforced on the proxy's gRPC port (and its
// remoting port: the JVM-wide tls.server.mode) with the kit's throwaway PKI, and two users:
//   - lossless-admin, the super user (broker.conf initAuthenticationUser), which the proxy also uses for its own
//     calls to the broker (innerClientAuthenticationCredentials);
//   - lossless-limited, a normal user allowed Pub, Sub, Get and Update on topics and groups whose names begin with
//     `granted`, nothing else. The driver derives every broker object from the portable names with the topic name
//     first (consumer group `<topic>_<subscription>_<hash>`, dead-letter topic and group `<group>_dlq`, the
//     broker's `%RETRY%<group>` / `%DLQ%<group>`, which ACL 2.0 checks as the group), so the prefix covers them.
// Users and ACLs live in the broker's store (RocksDB under store/config): ensureUsers() creates or updates them
// over signed remoting at every up, so a changed password in secure.ts takes effect.
import { readFileSync } from 'node:fs';
import { type RemotingCredentials, RequestCode, ResponseCode, remotingCall } from '@lossless/rocketmq-admin';
import type { Pki } from './pki.js';
import { ADMIN_USER, LIMITED_PREFIX, LIMITED_USER, SERVERNAME } from './secure.js';

/** Ports of the secured fixture: none is used by the plain one (19876, 20909-20912, 18080-18081) or RocketMQ's defaults. */
export const SECURE_ROCKETMQ_PORTS = {
  namesrv: 29876,
  broker: 30911,
  brokerFast: 30909,
  brokerHa: 30912,
  grpc: 28081,
  proxyRemoting: 28080,
} as const;

/** The super user's credentials: access key = username, secret key = password. */
export const ADMIN_CREDENTIALS: RemotingCredentials = {
  accessKey: ADMIN_USER.username,
  secretKey: ADMIN_USER.password,
};

const SUPER_USER = JSON.stringify({ username: ADMIN_USER.username, password: ADMIN_USER.password });
const INNER_CREDENTIALS = JSON.stringify({ accessKey: ADMIN_USER.username, secretKey: ADMIN_USER.password });

/** ACL 2.0 settings the broker and the proxy share (AuthConfig, read from broker.conf and rmq-proxy.json). */
function authConfig(side: 'broker' | 'proxy'): Record<string, string | boolean | number> {
  const metadata =
    side === 'broker'
      ? {
          authenticationMetadataProvider:
            'org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider',
          authorizationMetadataProvider:
            'org.apache.rocketmq.auth.authorization.provider.LocalAuthorizationMetadataProvider',
        }
      : {
          // The proxy reads users and ACLs from the broker (over remoting, as the inner client).
          authenticationMetadataProvider:
            'org.apache.rocketmq.proxy.auth.ProxyAuthenticationMetadataProvider',
          authorizationMetadataProvider: 'org.apache.rocketmq.proxy.auth.ProxyAuthorizationMetadataProvider',
        };
  // The broker keeps the users and ACLs and the proxy checks every client request against them. The broker does
  // not check its own remoting port: RocketMQ 5.3.x cannot deliver through a cluster-mode proxy when it does
  // (apache/rocketmq#9518: with authentication on, the broker decodes a POP request's header before the proxy's
  // bornTime is filled in, so every POP is "timeout too much" and no message is ever received). The maintainers'
  // advice there is this split: authentication and authorisation on the proxy, the broker internal.
  const checks = side === 'proxy';
  return {
    authenticationEnabled: checks,
    authenticationProvider: 'org.apache.rocketmq.auth.authentication.provider.DefaultAuthenticationProvider',
    authorizationEnabled: checks,
    authorizationProvider: 'org.apache.rocketmq.auth.authorization.provider.DefaultAuthorizationProvider',
    ...metadata,
    initAuthenticationUser: SUPER_USER,
    innerClientAuthenticationCredentials: INNER_CREDENTIALS,
    // Users and ACLs changed at up are seen within seconds, not the default minute.
    ...(side === 'broker' ? { userCacheRefreshSecond: 5, aclCacheRefreshSecond: 5 } : {}),
  };
}

/** broker.conf entries of the secured broker. */
export function secureBrokerProperties(): Record<string, string | boolean | number> {
  return authConfig('broker');
}

/** rmq-proxy.json entries of the secured proxy: ACL 2.0, and the kit's server certificate on the gRPC port. */
export function secureProxyConfig(pki: Pki): Record<string, unknown> {
  return {
    ...authConfig('proxy'),
    tlsTestModeEnable: false,
    tlsCertPath: pki.server.cert,
    tlsKeyPath: pki.server.key,
    // How often the proxy re-reads users and ACLs from the broker (both cached), seconds.
    userCacheRefreshSecond: 5,
    aclCacheRefreshSeconds: 5,
  };
}

/**
 * JVM properties of the secured proxy (TlsSystemConfig): TLS required, plaintext refused, on every port it
 * listens on; the remoting port uses the same certificate. Its client connections to the broker stay plaintext.
 */
export function secureProxyJvmFlags(pki: Pki): string[] {
  return [
    '-Dtls.server.mode=enforcing',
    `-Dtls.server.certPath=${pki.server.cert}`,
    `-Dtls.server.keyPath=${pki.server.key}`,
    '-Dtls.server.need.client.auth=none',
    '-Dtls.enable=false',
  ];
}

/** Node TLS options that trust the kit's CA and expect the certificate's name (for the proxy's remoting port). */
export function kitTls(pki: Pki): { ca: string; servername: string } {
  return { ca: readFileSync(pki.ca, 'utf8'), servername: SERVERNAME };
}

async function call(
  broker: string,
  what: string,
  code: number,
  extFields: Record<string, string>,
  body?: unknown,
): Promise<{ code: number; remark: string | undefined }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const r = await remotingCall(broker, code, extFields, payload, 5_000, { credentials: ADMIN_CREDENTIALS });
  return { code: r.code, remark: r.remark ? `${what}: ${r.remark}` : what };
}

/** Creates the request, or updates it when the create is refused because it exists. Throws on any other error. */
async function createOrUpdate(
  broker: string,
  what: string,
  codes: { create: number; update: number },
  extFields: Record<string, string>,
  body: unknown,
): Promise<void> {
  const created = await call(broker, what, codes.create, extFields, body);
  if (created.code === ResponseCode.SUCCESS) return;
  const updated = await call(broker, what, codes.update, extFields, body);
  if (updated.code === ResponseCode.SUCCESS) return;
  throw new Error(
    `rocketmq secure: ${what} failed: create answered ${created.code} (${created.remark}), update ` +
      `${updated.code} (${updated.remark})`,
  );
}

/** The limited user's policy: everything a producer and a consumer need, on names beginning with the prefix. */
function limitedAcl(): unknown {
  const subject = `User:${LIMITED_USER.username}`;
  const actions = ['Pub', 'Sub', 'Get', 'Update'];
  return {
    subject,
    policies: [
      {
        policyType: 'Custom',
        entries: [
          { resource: `Topic:${LIMITED_PREFIX}*`, actions, decision: 'Allow' },
          { resource: `Group:${LIMITED_PREFIX}*`, actions, decision: 'Allow' },
        ],
      },
    ],
  };
}

/** Creates (or updates) the limited user and its ACL on the broker, signed as the super user. Idempotent. */
export async function ensureUsers(broker: string): Promise<void> {
  await createOrUpdate(
    broker,
    `user ${LIMITED_USER.username}`,
    { create: RequestCode.AUTH_CREATE_USER, update: RequestCode.AUTH_UPDATE_USER },
    { username: LIMITED_USER.username },
    {
      username: LIMITED_USER.username,
      password: LIMITED_USER.password,
      userType: 'Normal',
      userStatus: 'enable',
    },
  );
  await createOrUpdate(
    broker,
    `acl of ${LIMITED_USER.username}`,
    { create: RequestCode.AUTH_CREATE_ACL, update: RequestCode.AUTH_UPDATE_ACL },
    { subject: `User:${LIMITED_USER.username}` },
    limitedAcl(),
  );
}
