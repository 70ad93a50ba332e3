// The options of the RocketMQ driver, their defaults, and their validation (once, in the factory).
import type { Logger } from '@lossless/core';
import {
  addressSecrets,
  checkOptions,
  describeKind,
  ErrorCode,
  HOST,
  LOGGER_RULE,
  LosslessError,
  type OptionShape,
  redactAddress,
  Secrets,
  TLS_RULE,
  type TlsOptions,
  tlsSecrets,
} from '@lossless/core/driver';

export interface RocketMqDriverOptions {
  /** The gRPC proxy, `host:port` (several separated by ';'). What rocketmq-client-nodejs connects to. */
  endpoints: string;
  /** Name server address(es), `host:port` separated by ';'. declare() and subscribe() use it for the admin. */
  namesrv: string;
  /** Broker cluster whose master brokers get the topics and groups. Default 'DefaultCluster'. */
  cluster?: string;
  /** RocketMQ namespace of the clients (prefixes resource names on the proxy). Default ''. */
  namespace?: string;
  /**
   * Largest message (body + headers) core lets through, bytes. Default and maximum 4 MiB − 64 KiB: the broker
   * takes 4 MiB, but the client receives at most 4 MiB per gRPC frame (see MAX_DELIVERABLE_BYTES). Headers are
   * further limited to 15 KiB (the proxy takes 16 KiB of properties).
   */
  maxMessageBytes?: number;
  /**
   * How long a received message stays invisible to other consumers, ms (10,000 … 43,200,000). The driver
   * extends it while a delivery is unsettled (every half of it), so it bounds how soon a message held by a
   * consumer that died comes back, not how long a handler may run. Default 15,000 (the conformance catalog's
   * value; bench/README.md, "Failover").
   */
  invisibleDurationMs?: number;
  /** Long-polling time of one receive, ms (the proxy answers an empty poll after at least 5 s). Default 5,000. */
  awaitDurationMs?: number;
  /** gRPC request timeout of sends, acks and route queries, ms (≥ 1000). Default 5,000. */
  requestTimeoutMs?: number;
  /** Whether the cluster replicates every message (the `replication` capability). Default false. */
  replicated?: boolean;
  /**
   * TLS to the proxy (its presence turns TLS on; the proxy of a secured RocketMQ refuses plaintext). `ca`
   * replaces Node's roots for this driver's connections only, `servername` is the name the proxy's certificate
   * must carry (default: the host of `endpoints`), `rejectUnauthorized: false` turns verification off (logged).
   * `cert` / `key` / `passphrase` are refused: the RocketMQ 5 proxy's gRPC port never asks for a client
   * certificate (ClientAuth.NONE in ProxyAndTlsProtocolNegotiator, 5.3.x).
   */
  tls?: TlsOptions;
  /**
   * The credentials of a RocketMQ with ACL (ACL 2.0: a user's username and password; ACL 1.0 or a hosted
   * instance: its access key and secret key). They sign every gRPC request (rocketmq-client-nodejs's
   * `sessionCredentials`, an HMAC-SHA1 of the request time; the secret is never sent) and every remoting request
   * of declare() and subscribe() (the same HMAC over the request's fields).
   */
  auth?: RocketMqAuth;
  /**
   * Where the driver and the RocketMQ client log. Default: the client's messages are dropped (it would
   * otherwise write to $HOME/logs/rocketmq) and the driver's warnings go to core's console logger.
   */
  logger?: Logger;
}

/** ACL credentials: access key = ACL 2.0 username, secret key = its password. */
export interface RocketMqAuth {
  accessKey: string;
  /** Never printed, never sent (only its HMAC is). */
  secretKey: string;
  /** The token of temporary (STS) credentials. Never printed. */
  securityToken?: string;
}

export interface ResolvedOptions {
  readonly endpoints: string;
  readonly namesrv: string;
  readonly cluster: string;
  readonly namespace: string;
  readonly maxMessageBytes: number;
  readonly invisibleDurationMs: number;
  readonly awaitDurationMs: number;
  readonly requestTimeoutMs: number;
  readonly replicated: boolean;
  readonly logger: Logger | undefined;
  readonly tls: TlsOptions | undefined;
  readonly auth: RocketMqAuth | undefined;
}

/**
 * The largest message (body + headers) a consumer can receive. rocketmq-client-nodejs opens its gRPC channel with
 * grpc-js's default 4 MiB receive limit, and a received message carries its body, properties and system
 * properties in one frame: a message of exactly the broker's 4 MiB was confirmed and then never delivered
 * (conformance P1). 64 KiB below 4 MiB leaves room for the 15 KiB of headers and the system properties.
 */
export const MAX_DELIVERABLE_BYTES = 4 * 1024 * 1024 - 64 * 1024;

export const DEFAULTS = {
  cluster: 'DefaultCluster',
  namespace: '',
  maxMessageBytes: MAX_DELIVERABLE_BYTES,
  invisibleDurationMs: 15_000,
  awaitDurationMs: 5_000,
  requestTimeoutMs: 5_000,
} as const;

/** The proxy's bounds for a receive's invisible duration (ProxyConfig minInvisibleTimeMillsForRecv, max). */
export const MIN_INVISIBLE_MS = 10_000;
export const MAX_INVISIBLE_MS = 12 * 3600_000;

/** Checked by hand (`addressList`): an address may carry user info or a token pasted by mistake. */
const ADDRESSES = { type: 'any' } as const;

/** What `rocketmq()` accepts: checked by core's checkOptions (unknown keys, types, ranges; addresses hidden). */
export const OPTIONS_SHAPE: OptionShape = {
  endpoints: ADDRESSES,
  namesrv: ADDRESSES,
  cluster: { type: 'string', minLength: 1, maxLength: 255 },
  namespace: { type: 'string', minLength: 0, maxLength: 255 },
  maxMessageBytes: { type: 'integer', min: 1, max: MAX_DELIVERABLE_BYTES },
  invisibleDurationMs: { type: 'integer', min: MIN_INVISIBLE_MS, max: MAX_INVISIBLE_MS },
  awaitDurationMs: { type: 'integer', min: 1_000, max: 60_000 },
  requestTimeoutMs: { type: 'integer', min: 1_000, max: 120_000 },
  replicated: { type: 'boolean' },
  logger: LOGGER_RULE,
  tls: TLS_RULE,
  auth: {
    type: 'object',
    shape: {
      accessKey: { type: 'string', minLength: 1, maxLength: 1024 },
      secretKey: { type: 'string', minLength: 1, maxLength: 1024, secret: true },
      securityToken: { type: 'string', minLength: 1, maxLength: 8192, secret: true },
    },
  },
};

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `rocketmq(): ${message}`, { broker: 'rocketmq' });
}

/**
 * Every secret the options may carry: `auth.secretKey` and `auth.securityToken`, the TLS key and passphrase
 * (refused, but possibly given), and user info pasted into an address. Never throws.
 */
export function optionSecrets(options: unknown): Secrets {
  const found: string[] = [];
  try {
    const o = options as { endpoints?: unknown; namesrv?: unknown; auth?: unknown; tls?: unknown } | null;
    for (const v of [o?.endpoints, o?.namesrv]) {
      if (typeof v === 'string') for (const part of v.split(';')) found.push(...addressSecrets(part));
    }
    const auth = o?.auth as { secretKey?: unknown; securityToken?: unknown } | null | undefined;
    for (const v of [auth?.secretKey, auth?.securityToken]) if (typeof v === 'string') found.push(v);
    found.push(...tlsSecrets(o?.tls));
  } catch {
    // a getter or Proxy that throws: checkOptions reports it
  }
  return new Secrets(found);
}

/** Checks `host:port[;host:port…]` and returns it; the message quotes only the parts that are a plain `host:port`. */
function addressList(key: string, v: unknown): string {
  if (v === undefined) throw invalid(`${key} is required: 'host:port' (several separated by ';')`);
  if (typeof v !== 'string' || v.length > 4_096) {
    throw invalid(`${key} must be a 'host:port' string (several separated by ';'), got ${describeKind(v)}`);
  }
  const ok = v.split(';').every((part) => {
    const colon = part.lastIndexOf(':');
    const port = part.slice(colon + 1);
    return colon > 0 && HOST.test(part.slice(0, colon)) && /^\d{1,5}$/.test(port) && Number(port) <= 65_535;
  });
  if (!ok) {
    throw invalid(
      `${key} must be 'host:port' (several separated by ';'), got ${v.split(';').map(redactAddress).join(';')}`,
    );
  }
  return v;
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT, whose text holds no secret. */
export function resolveOptions(input: RocketMqDriverOptions): ResolvedOptions {
  return optionSecrets(input).guard(() => resolve(input));
}

function resolve(input: RocketMqDriverOptions): ResolvedOptions {
  const options = checkOptions<Partial<RocketMqDriverOptions>>('rocketmq()', input, OPTIONS_SHAPE, {
    broker: 'rocketmq',
  });
  return {
    endpoints: addressList('endpoints', options.endpoints),
    namesrv: addressList('namesrv', options.namesrv),
    cluster: options.cluster ?? DEFAULTS.cluster,
    namespace: options.namespace ?? DEFAULTS.namespace,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
    invisibleDurationMs: options.invisibleDurationMs ?? DEFAULTS.invisibleDurationMs,
    awaitDurationMs: options.awaitDurationMs ?? DEFAULTS.awaitDurationMs,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    replicated: options.replicated ?? false,
    logger: options.logger,
    tls: checkTls(options.tls),
    auth: checkAuth(options.auth),
  };
}

/** What the proxy cannot take: a client certificate (it never asks for one). */
function checkTls(tls: TlsOptions | undefined): TlsOptions | undefined {
  if (tls === undefined) return undefined;
  for (const key of ['cert', 'key', 'passphrase'] as const) {
    if (tls[key] !== undefined) {
      throw invalid(
        `tls.${key}: a client certificate is not supported by the RocketMQ proxy (its gRPC port never asks ` +
          'for one); authenticate with auth: { accessKey, secretKey } instead',
      );
    }
  }
  return tls;
}

function checkAuth(auth: Partial<RocketMqAuth> | undefined): RocketMqAuth | undefined {
  if (auth === undefined) return undefined;
  if (auth.accessKey === undefined || auth.secretKey === undefined) {
    throw invalid(
      `auth needs both accessKey and secretKey (missing: ${auth.accessKey === undefined ? 'accessKey' : 'secretKey'})`,
    );
  }
  return {
    accessKey: auth.accessKey,
    secretKey: auth.secretKey,
    ...(auth.securityToken === undefined ? {} : { securityToken: auth.securityToken }),
  };
}
