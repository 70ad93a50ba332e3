// TLS with the driver's own CA and server name for rocketmq-client-nodejs 1.0.x, which cannot be told either:
// its `sslEnabled: true` makes every gRPC channel with grpc-js's `ChannelCredentials.createSsl()` and no
// arguments (grpc-js's default roots: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, read once per process, or Node's bundled
// CAs; the name checked is the host of the endpoint), and it passes no channel options (so no
// `grpc.ssl_target_name_override` either).
//
// What this file does, for one client at a time: the client creates a channel (an RpcClient) lazily, inside
// the synchronous first part of each RpcClientManager method (`#getRpcClient(endpoints)` runs before the method
// first awaits). secureChannels() wraps those methods on the client's own manager object so that, for exactly
// that synchronous stretch, grpc-js's `createSsl` called with no arguments returns this driver's credentials;
// it is put back before the method returns. No other code can run in between (JavaScript runs one stack at a
// time), so other gRPC users of the process, and other drivers with other CAs, are unaffected. The patched
// function is the one of the grpc-js copy the client itself loads (resolved from its own location).
//
// If a later client version creates channels elsewhere, its channels would get grpc-js's default roots and fail
// verification against a private CA: a loud PERMISSION_DENIED, never a silently unverified connection.
import { createRequire } from 'node:module';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { NodeTlsOptions } from '@lossless/core/driver';

/** The part of grpc-js's API used here (typed locally: grpc-js is the client's dependency, not ours). */
interface GrpcCredentialsApi {
  ChannelCredentials: {
    createSsl(
      rootCerts?: Buffer | null,
      privateKey?: Buffer | null,
      certChain?: Buffer | null,
      verifyOptions?: {
        checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined;
        rejectUnauthorized?: boolean;
      },
    ): unknown;
  };
}

let grpcApi: GrpcCredentialsApi | undefined;

/** grpc-js as rocketmq-client-nodejs resolves it. */
function grpc(): GrpcCredentialsApi {
  if (!grpcApi) {
    const fromHere = createRequire(import.meta.url);
    const fromClient = createRequire(fromHere.resolve('rocketmq-client-nodejs'));
    grpcApi = fromClient('@grpc/grpc-js') as GrpcCredentialsApi;
  }
  return grpcApi;
}

/** Opaque grpc-js ChannelCredentials. */
export type ChannelCredentials = { readonly __grpcChannelCredentials: unique symbol };

/** grpc-js credentials for the checked TLS options: the CA (or the default roots), the name to verify. */
export function channelCredentials(tls: NodeTlsOptions): ChannelCredentials {
  const roots =
    tls.ca === undefined
      ? null
      : Buffer.concat(tls.ca.map((pem) => Buffer.from(typeof pem === 'string' ? `${pem}\n` : pem)));
  const servername = tls.servername;
  const verify: Parameters<GrpcCredentialsApi['ChannelCredentials']['createSsl']>[3] = {};
  if (!tls.rejectUnauthorized) {
    verify.rejectUnauthorized = false;
    verify.checkServerIdentity = () => undefined;
  } else if (servername !== undefined) {
    // The name the certificate must carry instead of the endpoint's host (e.g. an IP, or a fault proxy's port).
    verify.checkServerIdentity = (_host, cert) => checkServerIdentity(servername, cert);
  }
  return grpc().ChannelCredentials.createSsl(roots, null, null, verify) as ChannelCredentials;
}

/** What secureChannels needs of a Producer or SimpleConsumer. */
interface ClientWithChannels {
  getRpcClientManager(): object;
}

/**
 * Makes every channel `client` creates from now on use `credentials` (the client must have been built with
 * `sslEnabled: true`, so that it asks for TLS at all). Call once, right after constructing the client.
 */
export function secureChannels<C extends ClientWithChannels>(client: C, credentials: ChannelCredentials): C {
  const manager = client.getRpcClientManager() as Record<string, unknown>;
  const proto = Object.getPrototypeOf(manager) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const method = proto[name];
    if (name === 'constructor' || name === 'close' || typeof method !== 'function') continue;
    manager[name] = function (this: unknown, ...args: unknown[]): unknown {
      return withCredentials(credentials, () =>
        (method as (...a: unknown[]) => unknown).apply(manager, args),
      );
    };
  }
  return client;
}

function withCredentials<T>(credentials: ChannelCredentials, run: () => T): T {
  const api = grpc().ChannelCredentials;
  const original = api.createSsl;
  api.createSsl = (...args: Parameters<typeof original>) =>
    args.length === 0 ? credentials : original.apply(api, args);
  try {
    return run();
  } finally {
    api.createSsl = original;
  }
}
