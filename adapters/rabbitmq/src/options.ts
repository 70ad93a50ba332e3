// The options of the RabbitMQ driver, their defaults, and their validation (once, in the factory).
import { consoleLogger, type Logger } from '@lossless/core';
import {
  addressSecrets,
  checkOptions,
  describeKind,
  ErrorCode,
  HOST,
  LOGGER_RULE,
  LosslessError,
  type NodeTlsOptions,
  nodeTlsOptions,
  type OptionShape,
  redactAddress,
  Secrets,
  TLS_RULE,
  type TlsOptions,
  tlsSecrets,
} from '@lossless/core/driver';

export interface RabbitMqDriverOptions {
  /** One broker, e.g. `amqp://user:pass@host:5672/vhost`. Give `url` or `urls`, not both. */
  url?: string;
  /**
   * Nodes of one cluster. The driver connects to the first that answers and, when the connection is lost,
   * tries the next one first (round robin), so publishing and consuming continue on the surviving nodes.
   */
  urls?: readonly string[];
  /**
   * AMQP heartbeat, seconds. A connection that shows no traffic for two intervals is declared dead, which is
   * what detects a half-open TCP connection (amqplib #530). Default 5. A `heartbeat=` in the URL wins.
   */
  heartbeatSeconds?: number;
  /** How long one TCP + AMQP handshake attempt may take, ms. Default 5,000. */
  connectAttemptTimeoutMs?: number;
  /** Reconnect backoff after a connection loss: first delay, ms (doubling, jittered). Default 100. */
  reconnectInitialDelayMs?: number;
  /** Reconnect backoff: longest delay between attempts, ms. Default 5,000. */
  reconnectMaxDelayMs?: number;
  /**
   * Largest message (body + headers) core lets through, bytes. Default 16 MiB: RabbitMQ 4.x's default
   * `max_message_size`, and the size above which RabbitMQ advises against messages (they block the channel
   * and, on quorum queues, the Raft log). Raise it only together with the broker's `max_message_size`.
   */
  maxMessageBytes?: number;
  /**
   * Whether every message is held by more than one node (the `replication` capability). Default: true when
   * more than one url is given. Only quorum queues replicate; classic queues live on one node.
   */
  replicated?: boolean;
  /**
   * Queue type of a subscription that does not name one. Default: 'quorum' when `replicated`, else 'classic'.
   * On a single node a quorum queue replicates nothing, and RabbitMQ 3.10 lost the entire log of a quorum queue
   * declared shortly before an unclean shutdown (measured here: SIGKILL, restart, the member back at log index
   * 0 with every confirmed message gone), while a classic durable queue kept every confirmed message.
   */
  defaultQueueType?: 'quorum' | 'classic';
  /** The client-provided connection name shown in the management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
  /** Where the driver reports reconnects and errors that have no caller. Default: core's console logger. */
  logger?: Logger;
  /**
   * TLS for `amqps://` URLs (INVALID_ARGUMENT with an `amqp://` one): the CA to trust instead of Node's roots,
   * a client certificate and key (a broker with `fail_if_no_peer_cert`, or EXTERNAL login), the name the broker's
   * certificate must carry. Verification is on unless `rejectUnauthorized: false`, which logs a warning once.
   * Without `tls`, an `amqps://` URL is verified against Node's bundled roots (public CAs: Amazon MQ, CloudAMQP).
   */
  tls?: TlsOptions;
  /**
   * How to log in. Default: PLAIN with the URL's user info (guest/guest when it has none). Given here, it wins
   * over any user info in the URLs, and the password needs no percent-encoding.
   */
  auth?: RabbitMqAuth;
}

/**
 * A login: `plain` (default) or `amqplain` send the user name and password (over TLS, or readable on the wire);
 * `external` sends nothing, and the broker takes the user from the client certificate `tls.cert` presents
 * (rabbitmq_auth_mechanism_ssl, by default its CN or DN).
 */
export type RabbitMqAuth =
  | { mechanism?: 'plain' | 'amqplain'; username: string; password: string }
  | { mechanism: 'external' };

/** A checked login, with the mechanism spelled out. */
export type ResolvedAuth =
  | { readonly mechanism: 'plain' | 'amqplain'; readonly username: string; readonly password: string }
  | { readonly mechanism: 'external' };

export interface ResolvedOptions {
  readonly urls: readonly string[];
  readonly heartbeatSeconds: number;
  readonly connectAttemptTimeoutMs: number;
  readonly reconnectInitialDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly maxMessageBytes: number;
  readonly replicated: boolean;
  readonly defaultQueueType: 'quorum' | 'classic';
  readonly connectionName: string;
  readonly logger: Logger | undefined;
  /** Node's `tls.connect` options for amqps:// URLs; undefined without `tls`. */
  readonly tls: NodeTlsOptions | undefined;
  /** Undefined: the URLs' user info. */
  readonly auth: ResolvedAuth | undefined;
}

export const DEFAULTS = {
  heartbeatSeconds: 5,
  connectAttemptTimeoutMs: 5_000,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 5_000,
  maxMessageBytes: 16 * 1024 * 1024,
  connectionName: 'lossless',
} as const;

/** Checked by hand (`urlList`): core's rules would quote a string given where an array belongs. */
const URL_RULE = { type: 'any' } as const;
const MAX_URLS = 64;
const MAX_URL_LENGTH = 4_096;

/** What `rabbitmq()` accepts: checked by core's checkOptions (unknown keys, types, ranges); urls by hand. */
export const OPTIONS_SHAPE: OptionShape = {
  url: URL_RULE,
  urls: URL_RULE,
  heartbeatSeconds: { type: 'integer', min: 1, max: 3_600 },
  connectAttemptTimeoutMs: { type: 'integer', min: 1, max: 600_000 },
  reconnectInitialDelayMs: { type: 'integer', min: 1, max: 600_000 },
  reconnectMaxDelayMs: { type: 'integer', min: 1, max: 600_000 },
  maxMessageBytes: { type: 'integer', min: 1, max: 512 * 1024 * 1024 },
  replicated: { type: 'boolean' },
  defaultQueueType: { type: 'enum', values: ['quorum', 'classic'] },
  connectionName: { type: 'string', minLength: 1, maxLength: 255 },
  logger: LOGGER_RULE,
  tls: TLS_RULE,
  auth: {
    type: 'object',
    shape: {
      mechanism: { type: 'enum', values: ['plain', 'amqplain', 'external'] },
      // RabbitMQ's user names and passwords are binaries without a length limit; AMQP carries them in a long
      // string. 4 KiB is far above any real one and keeps a pasted file out.
      username: { type: 'string', minLength: 1, maxLength: 4_096 },
      password: { type: 'string', minLength: 1, maxLength: 4_096, secret: true },
    },
  },
};

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `rabbitmq(): ${message}`, { broker: 'rabbitmq' });
}

/**
 * Every secret the options carry, also those of URLs that do not parse (what the driver must never print). Safe
 * on any input: never throws.
 */
export function optionSecrets(options: unknown): Secrets {
  const found: string[] = [];
  try {
    if (options !== null && typeof options === 'object') {
      const { url, urls, tls, auth } = options as {
        url?: unknown;
        urls?: unknown;
        tls?: unknown;
        auth?: unknown;
      };
      if (typeof url === 'string') found.push(...addressSecrets(url));
      if (Array.isArray(urls))
        for (const u of urls) if (typeof u === 'string') found.push(...addressSecrets(u));
      found.push(...tlsSecrets(tls));
      if (auth !== null && typeof auth === 'object') {
        const { password } = auth as { password?: unknown };
        if (typeof password === 'string' && password.length > 0) found.push(password);
      }
    }
  } catch {
    // a getter or Proxy that throws: checkOptions reports it
  }
  return new Secrets(found);
}

/**
 * The query parameters amqplib 2.3.1 reads from a URL (lib/connect.js `openFrames`), and what the broker takes.
 * amqplib parses them with parseInt and sends NaN or out-of-range values in the handshake, which the broker
 * answers by closing the socket: without this check `connect()` retried to its deadline ("could not connect …
 * within 10000 ms") for `?heartbeat=abc`, `?heartbeat=-1`, `?frameMax=1` or `?channelMax=-5`.
 */
const URL_PARAMS: Readonly<Record<string, { min: number; max: number } | 'string'>> = {
  heartbeat: { min: 0, max: 65_535 },
  channelMax: { min: 0, max: 65_535 },
  frameMax: { min: 0, max: 4_294_967_295 },
  maxFrameSize: { min: 0, max: 4_294_967_295 },
  locale: 'string',
};
/** AMQP's smallest frame (spec 4.2.1, FRAME_MIN_SIZE); 0 means "no limit". */
const FRAME_MIN_SIZE = 4_096;

function checkQuery(parsed: URL, at: string, u: string): void {
  // The URL is shown without its query: the value of a parameter the driver does not know may be a credential.
  const shown = redactAddress(u.slice(0, u.indexOf('?') < 0 ? u.length : u.indexOf('?')));
  for (const [key, value] of parsed.searchParams) {
    const rule = Object.hasOwn(URL_PARAMS, key) ? URL_PARAMS[key] : undefined;
    if (rule === undefined) {
      throw invalid(
        `${at} has a query parameter amqplib does not read ('${key.slice(0, 40)}', in ${shown}): ` +
          `use ${Object.keys(URL_PARAMS).join(', ')}, or the driver's options`,
      );
    }
    if (rule === 'string') continue;
    const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
    const frame = key === 'frameMax' || key === 'maxFrameSize';
    if (!(n >= rule.min && n <= rule.max) || (frame && n !== 0 && n < FRAME_MIN_SIZE)) {
      throw invalid(
        `${at}: the query parameter '${key}' must be an integer from ${frame ? `${FRAME_MIN_SIZE} (or 0)` : rule.min} ` +
          `to ${rule.max} (${shown})`,
      );
    }
  }
}

/** `url` or `urls` as a list of strings; the messages say what is wrong without quoting any of it. */
function urlList(options: { url?: unknown; urls?: unknown }): string[] {
  const { url, urls } = options;
  if (url === undefined && urls === undefined) throw invalid('url or urls is required');
  const list: unknown[] = urls === undefined ? [url] : Array.isArray(urls) ? urls : [];
  if (urls !== undefined && !Array.isArray(urls)) {
    throw invalid(`urls must be an array of amqp:// URLs, got ${describeKind(urls)}`);
  }
  if (list.length === 0 || list.length > MAX_URLS) {
    throw invalid(`urls must hold 1 to ${MAX_URLS} URLs, got ${list.length}`);
  }
  return list.map((u, i) => {
    const at = urls === undefined ? 'url' : `urls[${i}]`;
    if (typeof u !== 'string' || u.length === 0 || u.length > MAX_URL_LENGTH) {
      throw invalid(
        `${at} must be an amqp:// URL of 1 to ${MAX_URL_LENGTH} characters, got ${describeKind(u)}`,
      );
    }
    return u;
  });
}

/** Checks one node URL as amqplib will read it; the message never holds the URL's user info. */
function checkUrl(u: string, at: string): void {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    const shown = /^[a-z][a-z0-9+.-]*:\/\//i.test(u) ? redactAddress(u) : 'no scheme; not shown';
    throw invalid(
      `${at} is not a URL (${shown}): percent-encode reserved characters (# / ? @ : %) in the user ` +
        "name and password, e.g. '#' as %23",
    );
  }
  if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') {
    throw invalid(`${at} must be an amqp:// or amqps:// URL, got ${redactAddress(u)}`);
  }
  // 'amqp://pa/ss@host' parses with host 'pa': an '@' after the authority is user info gone wrong.
  if (`${parsed.pathname}${parsed.search}${parsed.hash}`.includes('@') || parsed.hash !== '') {
    throw invalid(
      `${at} has '@' or '#' after the host (${redactAddress(u)}): percent-encode them in the user name, ` +
        'password and virtual host (%40, %23)',
    );
  }
  // A host amqplib would hand to DNS must look like one: a secret pasted there would come back in ENOTFOUND.
  if (parsed.hostname !== '' && !HOST.test(parsed.hostname)) {
    // Not shown: what stands where the host belongs may be a password that lost its '@'.
    throw invalid(`${at}: the host is not a DNS name or an IP address (not shown)`);
  }
  checkQuery(parsed, at, u);
  for (const [part, value] of [
    ['user name', parsed.username],
    ['password', parsed.password],
    ['virtual host', parsed.pathname.slice(1)],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      throw invalid(`${at}: the ${part} is not valid percent-encoding (${redactAddress(u)})`);
    }
  }
}

/** Validates the options and fills in defaults. Throws INVALID_ARGUMENT, whose text holds no secret. */
export function resolveOptions(input: RabbitMqDriverOptions): ResolvedOptions {
  return optionSecrets(input).guard(() => resolve(input));
}

function resolve(input: RabbitMqDriverOptions): ResolvedOptions {
  const options = checkOptions<RabbitMqDriverOptions>('rabbitmq()', input, OPTIONS_SHAPE, {
    broker: 'rabbitmq',
  });
  if (input === undefined) throw invalid('options are required: give url or urls');
  if (options.url !== undefined && options.urls !== undefined) throw invalid('give url or urls, not both');
  const urls = urlList(options as { url?: unknown; urls?: unknown });
  for (const [i, u] of urls.entries()) checkUrl(u, options.url === undefined ? `urls[${i}]` : 'url');
  const auth = resolveAuth(options.auth, options.tls);
  if (options.tls !== undefined) {
    const plain = urls.findIndex((u) => u.toLowerCase().startsWith('amqp:'));
    if (plain >= 0) {
      const at = options.url === undefined ? `urls[${plain}]` : 'url';
      throw invalid(
        `tls is given but ${at} is amqp:// (plaintext, never TLS): use amqps:// (port 5671 by default) for TLS`,
      );
    }
  }
  const tls =
    options.tls === undefined
      ? undefined
      : // The warning goes where the driver logs (core's console logger unless one is given).
        nodeTlsOptions(options.tls, {
          where: 'rabbitmq()',
          broker: 'rabbitmq',
          logger: options.logger ?? consoleLogger,
        });
  const replicated = options.replicated ?? urls.length > 1;
  const reconnectInitialDelayMs = options.reconnectInitialDelayMs ?? DEFAULTS.reconnectInitialDelayMs;
  return {
    urls: [...urls],
    heartbeatSeconds: options.heartbeatSeconds ?? DEFAULTS.heartbeatSeconds,
    connectAttemptTimeoutMs: options.connectAttemptTimeoutMs ?? DEFAULTS.connectAttemptTimeoutMs,
    reconnectInitialDelayMs,
    reconnectMaxDelayMs: Math.max(
      reconnectInitialDelayMs,
      options.reconnectMaxDelayMs ?? DEFAULTS.reconnectMaxDelayMs,
    ),
    maxMessageBytes: options.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
    replicated,
    defaultQueueType: options.defaultQueueType ?? (replicated ? 'quorum' : 'classic'),
    connectionName: options.connectionName ?? DEFAULTS.connectionName,
    logger: options.logger,
    tls,
    auth,
  };
}

/** The login `auth` asks for (checked by OPTIONS_SHAPE already); the combinations the shape cannot say. */
function resolveAuth(auth: RabbitMqAuth | undefined, tls: TlsOptions | undefined): ResolvedAuth | undefined {
  if (auth === undefined) return undefined;
  const {
    mechanism = 'plain',
    username,
    password,
  } = auth as {
    mechanism?: 'plain' | 'amqplain' | 'external';
    username?: string;
    password?: string;
  };
  if (mechanism === 'external') {
    if (username !== undefined || password !== undefined) {
      throw invalid(
        "auth.mechanism 'external' takes no username or password: the broker reads the user from the client " +
          'certificate (tls.cert)',
      );
    }
    if (tls?.cert === undefined) {
      throw invalid(
        "auth.mechanism 'external' needs a client certificate: give tls.cert and tls.key (the broker takes the " +
          "user from the certificate's CN), and an amqps:// URL",
      );
    }
    return { mechanism };
  }
  if (username === undefined || password === undefined) {
    throw invalid(
      `auth.mechanism '${mechanism}' needs auth.username and auth.password (or leave auth out and put them in the URL)`,
    );
  }
  return { mechanism, username, password };
}

/** The URL without its password (or, for a string that does not parse, without its user info). */
export function redact(url: string): string {
  return redactAddress(url);
}
