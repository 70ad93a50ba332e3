// The secured runs (`--secure`): what both sides of a benchmark need to reach a secured fixture of the broker kit
// — the SAME TLS (the kit's CA, its client certificate where the broker asks for one, the name in the broker's
// certificate) and the SAME login (the kit's admin user) for the library and for the raw client — the TLS
// parameters the broker negotiated (for the report), the passwords kept out of every printed line, and the rows
// that set a secured run beside the plain run of the same process (`--with-plain`).
import { readFileSync } from 'node:fs';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import type { SecureSettings } from '@lossless/brokers';
import { within } from './harness.js';
import { fmt, markdown, type ResultRow } from './stats.js';

/** A secured fixture's PEM files (read once) and the user both sides log in as. */
export interface SecureMaterial {
  /** The kit's test CA: the only one either side trusts. */
  readonly ca: Buffer;
  /** The admin user's client certificate and key (RabbitMQ's listener requires one; Kafka's does not ask). */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The DNS name in the broker's certificate (SNI and the name verified). */
  readonly servername: string;
  readonly username: string;
  /** Never printed: `scrub()` replaces it in every progress and report line. */
  readonly password: string;
}

const secrets = new Set<string>();

/** Remembers a secured fixture's passwords, which scrub() then replaces: call it before the fixture's `up()`. */
export function rememberSecrets(security: SecureSettings | undefined): void {
  if (security === undefined) return;
  secrets.add(security.admin.password);
  secrets.add(security.limited.password);
}

/**
 * Reads the PEM files a secured fixture's settings name (and remembers its passwords). The files exist once the
 * fixture is up (its first `up` makes the PKI): call it after `up()`.
 */
export function secureMaterial(security: SecureSettings | undefined, broker: string): SecureMaterial {
  if (security === undefined) {
    throw new Error(
      `bench: the ${broker} fixture reports no security settings: --secure needs the kit's secured fixture ` +
        '(LOSSLESS_BROKERS=local, the default)',
    );
  }
  rememberSecrets(security);
  return {
    ca: readFileSync(security.caFile),
    cert: readFileSync(security.clientCertFile),
    key: readFileSync(security.clientKeyFile),
    servername: security.servername,
    username: security.admin.username,
    password: security.admin.password,
  };
}

/** `text` with every password a secured fixture reported replaced by `***`. */
export function scrub(text: string): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/**
 * The protocol and cipher the broker's TLS listener negotiates with Node's defaults — what both clients get, as
 * both open their sockets with Node's `tls.connect` and no cipher or version settings of their own. A probe
 * connection of its own (handshake only, nothing sent), before any side runs; never throws.
 */
export async function negotiatedTls(host: string, port: number, options: ConnectionOptions): Promise<string> {
  try {
    return await within(
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host, port, ...options }, () => {
          const protocol = socket.getProtocol() ?? 'TLS';
          const cipher = socket.getCipher().standardName;
          socket.destroy();
          resolve(`${protocol} ${cipher}`);
        });
        socket.on('error', (error) => {
          socket.destroy();
          reject(error);
        });
      }),
      10_000,
      `TLS handshake with ${host}:${port}`,
    );
  } catch (error) {
    return `TLS (parameters unknown: ${scrub((error as Error).message)})`;
  }
}

/** How a secured report says what its sides went through (the JSON's `security`). */
export interface SecurityNote {
  /** Protocol and cipher, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384". */
  tls: string;
  /** Whether both sides presented the kit's client certificate. */
  clientCertificate: boolean;
  /** The mechanism and user both sides logged in with (never the password). */
  login: string;
}

/** One scenario of a secured run beside the same scenario of the plain run in the same process. */
export interface TlsCostRow {
  scenario: string;
  unit: string;
  library: { plain: number; tls: number; kept: number };
  raw: { plain: number; tls: number; kept: number };
  /** The library/raw ratio (oriented as the tables': above 1 favours the library) in each run. */
  ratio: { plain: number; tls: number };
}

/**
 * The share of its plain figure each side keeps over TLS — tls/plain for msg/s, plain/tls for ms, µs and MiB — so
 * 1 means TLS costs that side nothing and 0.80 that it reaches 80 % of its plain throughput (or needs 1.25× the
 * latency, CPU or memory). Rows are matched by scenario; a scenario missing from either run has no row.
 */
export function tlsCost(plain: readonly ResultRow[], secured: readonly ResultRow[]): TlsCostRow[] {
  const byScenario = new Map(plain.map((r) => [r.scenario, r]));
  const rows: TlsCostRow[] = [];
  for (const s of secured) {
    const p = byScenario.get(s.scenario);
    if (p === undefined) continue;
    const kept = (plainValue: number, tlsValue: number) =>
      s.unit === 'msg/s' ? tlsValue / plainValue : plainValue / tlsValue;
    rows.push({
      scenario: s.scenario,
      unit: s.unit,
      library: { plain: p.library, tls: s.library, kept: kept(p.library, s.library) },
      raw: { plain: p.raw, tls: s.raw, kept: kept(p.raw, s.raw) },
      ratio: { plain: p.ratio, tls: s.ratio },
    });
  }
  return rows;
}

/** The markdown table of tlsCost() rows. */
export function tlsCostTable(rows: readonly TlsCostRow[]): string {
  const head = [
    'scenario',
    'library plain',
    'library TLS',
    'library kept',
    'raw plain',
    'raw TLS',
    'raw kept',
    'ratio plain',
    'ratio TLS',
    'unit',
  ];
  const body = rows.map((r) => [
    r.scenario,
    fmt(r.library.plain),
    fmt(r.library.tls),
    r.library.kept.toFixed(3),
    fmt(r.raw.plain),
    fmt(r.raw.tls),
    r.raw.kept.toFixed(3),
    r.ratio.plain.toFixed(3),
    r.ratio.tls.toFixed(3),
    r.unit,
  ]);
  return markdown(head, body);
}
