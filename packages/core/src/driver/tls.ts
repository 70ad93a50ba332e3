// TLS options, the same shape on every adapter: `tls: { ca, cert, key, passphrase, servername,
// rejectUnauthorized }`. Checked once by core's rules (PEM strings or buffers, the key and passphrase never
// printed), turned into Node's `tls.connect` options here, and a verification failure (an untrusted certificate,
// a name it does not cover) recognised in one place, so every driver reports it as the same typed error.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ErrorCode, LosslessError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { OptionRule, OptionShape } from '../validate.js';
import { causeChain, nativeCode, nativeMessage } from './native-code.js';

/** A PEM text or its bytes. */
export type Pem = string | Uint8Array;

export interface TlsOptions {
  /** CAs to trust instead of Node's bundled roots (PEM). Default: Node's roots. */
  ca?: Pem | readonly Pem[];
  /** Client certificate (PEM), for brokers that require one (mutual TLS, RabbitMQ EXTERNAL). Needs `key`. */
  cert?: Pem;
  /** The client certificate's private key (PEM). Never printed. */
  key?: Pem;
  /** Passphrase of an encrypted `key`. Never printed. */
  passphrase?: string;
  /** The name the server certificate must carry (SNI). Default: the host connected to. */
  servername?: string;
  /**
   * Verify the server certificate against `ca` and the name. Default true; `false` (explicitly) accepts any
   * certificate, which makes TLS worthless against an attacker in the middle: a warning is logged once per driver.
   */
  rejectUnauthorized?: boolean;
}

const MAX_PEM = 1024 * 1024;

function pemProblem(value: unknown): string | undefined {
  if (typeof value === 'string')
    return value.length > 0 && value.length <= MAX_PEM ? undefined : 'a PEM string';
  if (value instanceof Uint8Array)
    return value.length > 0 && value.length <= MAX_PEM ? undefined : 'PEM bytes';
  return 'a PEM string or Buffer (up to 1 MiB)';
}

const PEM_RULE: OptionRule = { type: 'custom', check: pemProblem };

/** What `tls` accepts, for a driver's option shape. */
export const TLS_SHAPE: OptionShape = {
  ca: {
    type: 'custom',
    check: (value) => {
      if (Array.isArray(value)) {
        if (value.length === 0 || value.length > 100) return 'a PEM, or an array of 1 to 100 PEMs';
        return value.some((v) => pemProblem(v) !== undefined)
          ? 'an array of PEM strings or Buffers'
          : undefined;
      }
      return pemProblem(value);
    },
  },
  cert: PEM_RULE,
  key: PEM_RULE,
  passphrase: { type: 'string', minLength: 1, maxLength: 1024, secret: true },
  servername: { type: 'string', minLength: 1, maxLength: 253 },
  rejectUnauthorized: { type: 'boolean' },
};

export const TLS_RULE: OptionRule = { type: 'object', shape: TLS_SHAPE };

/** The secrets a `tls` option may carry (the passphrase and a key given as text), for a driver's `Secrets`. */
export function tlsSecrets(tls: unknown): string[] {
  const found: string[] = [];
  try {
    if (tls === null || typeof tls !== 'object') return found;
    const { key, passphrase } = tls as { key?: unknown; passphrase?: unknown };
    if (typeof passphrase === 'string') found.push(passphrase);
    if (typeof key === 'string') found.push(key);
    else if (key instanceof Uint8Array) found.push(Buffer.from(key).toString('utf8'));
  } catch {
    // a getter that throws: checkOptions reports it
  }
  return found;
}

/** Node's `tls.connect` options for a checked `tls` option (only the keys that are set). */
export interface NodeTlsOptions {
  ca?: (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

const asNode = (pem: Pem): string | Buffer => (typeof pem === 'string' ? pem : Buffer.from(pem));

/**
 * Node's options for `tls` (already checked against TLS_RULE). Throws INVALID_ARGUMENT when `cert` and `key` do
 * not come together. Logs the "verification is off" warning when `rejectUnauthorized` is false: call it once
 * per driver.
 */
export function nodeTlsOptions(
  tls: TlsOptions,
  context: { where: string; broker: string; logger?: Logger | undefined },
): NodeTlsOptions {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new LosslessError(
      ErrorCode.INVALID_ARGUMENT,
      `${context.where}: tls.cert and tls.key go together (a client certificate needs its private key)`,
      { broker: context.broker },
    );
  }
  checkKeyPair(tls, context);
  const out: NodeTlsOptions = { rejectUnauthorized: tls.rejectUnauthorized !== false };
  if (tls.ca !== undefined) out.ca = (Array.isArray(tls.ca) ? tls.ca : [tls.ca as Pem]).map(asNode);
  if (tls.cert !== undefined) out.cert = asNode(tls.cert);
  if (tls.key !== undefined) out.key = asNode(tls.key);
  if (tls.passphrase !== undefined) out.passphrase = tls.passphrase;
  if (tls.servername !== undefined) out.servername = tls.servername;
  if (!out.rejectUnauthorized) {
    context.logger?.warn(
      `${context.where}: tls.rejectUnauthorized is false — the broker's certificate is NOT verified, so anyone ` +
        'between this process and the broker can read and change every message',
      { broker: context.broker },
    );
  }
  return out;
}

/**
 * A client certificate that does not parse, or a key that does not parse or open with the passphrase, is the
 * caller's mistake: INVALID_ARGUMENT now, naming the option, instead of a TLS error at every connect. Neither the
 * key nor the passphrase is ever quoted (OpenSSL's reason is not passed on: it can echo input).
 */
function checkKeyPair(tls: TlsOptions, context: { where: string; broker: string }): void {
  const invalid = (what: string) =>
    new LosslessError(ErrorCode.INVALID_ARGUMENT, `${context.where}: ${what}`, { broker: context.broker });
  if (tls.cert !== undefined) {
    try {
      new X509Certificate(asNode(tls.cert));
    } catch {
      throw invalid('tls.cert is not a PEM certificate');
    }
  }
  if (tls.key !== undefined) {
    try {
      createPrivateKey({
        key: asNode(tls.key),
        ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
      });
    } catch {
      throw invalid(
        tls.passphrase === undefined
          ? 'tls.key is not a PEM private key (or it is encrypted: give tls.passphrase)'
          : 'tls.key is not a PEM private key, or tls.passphrase does not open it',
      );
    }
  }
}

/** OpenSSL's and Node's codes for "the server's certificate is not one to trust" (never retried). */
export const TLS_VERIFY_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Texts of TLS clients that carry no Node code (gRPC's C-core wording, OpenSSL's reason strings). */
const TLS_VERIFY_TEXT =
  /certificate verify failed|unable to verify|self[- ]signed certificate|does not match certificate|altnames|unable to get (local )?issuer|Hostname\/IP does not match/i;

/**
 * True when `error` (or a cause) says the server's certificate failed verification: an untrusted CA, a name the
 * certificate does not cover, an expired certificate. Drivers answer PERMISSION_DENIED at once — the broker could
 * not be authenticated, and trying again will not change that. Never throws.
 */
export function isTlsVerificationError(error: unknown): boolean {
  for (const e of causeChain(error)) {
    const code = nativeCode(e);
    if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) return true;
    const message = nativeMessage(e) ?? (typeof e === 'string' ? e : undefined);
    if (message !== undefined && TLS_VERIFY_TEXT.test(message)) return true;
    const details = nativeCode(e, ['details']);
    if (typeof details === 'string' && TLS_VERIFY_TEXT.test(details)) return true;
  }
  return false;
}
