// Keeping secrets out of errors, logs and health reasons, for every driver. A driver knows which
// strings are secret (the password of each URL, a SASL password, an access-key secret): `Secrets` replaces each
// of them with `***` in any text, in a copy of any error (message, stack, own properties and causes, recursively,
// so `util.inspect(error, { depth: 10 })` shows none), and in every line and meta a logger receives. Addresses
// are redacted structurally as well (`redactAddress`), which also covers strings that do not parse as URLs.
import { isIP } from 'node:net';
import { inspect } from 'node:util';
import { type Logger, logTo } from '../logger.js';

export const REDACTED = '***';

/**
 * Secrets shorter than this are not searched for in free text: a two-character password would mangle every
 * message. They are still kept out structurally (an address's user info is never printed).
 */
export const MIN_SECRET_LENGTH = 3;

const MAX_DEPTH = 10;

/** Query parameters whose values are credentials (`?password=`, `?token=`, `?access_key_secret=`…). */
const SECRET_PARAM = /pass|secret|token|cred|auth|signature|key/i;

/** The strings one driver must never print, and the means to scrub them from what it hands out. */
export class Secrets {
  private readonly values: readonly string[];

  constructor(values: Iterable<string | undefined>) {
    const set = new Set<string>();
    for (const v of values) {
      if (typeof v !== 'string' || v.length < MIN_SECRET_LENGTH) continue;
      set.add(v);
      // The forms a secret takes when it travels in a URL or JSON.
      for (const form of [encodeURIComponent(v), JSON.stringify(v).slice(1, -1), safeDecode(v)]) {
        if (form !== undefined && form.length >= MIN_SECRET_LENGTH) set.add(form);
      }
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.values = [...set].sort((a, b) => b.length - a.length);
  }

  /** True when no secret is known (every method then returns its input). */
  get empty(): boolean {
    return this.values.length === 0;
  }

  /** True when `text` contains a secret. */
  holds(text: string): boolean {
    return this.values.some((v) => text.includes(v));
  }

  /** `text` with every secret replaced by `***`. */
  text(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join(REDACTED);
    return out;
  }

  /**
   * Runs `f`; whatever it throws — or, when it returns a promise, whatever that rejects with — is rethrown
   * scrubbed (validation code that may quote what it was given, a connect that may quote an address).
   */
  guard<T>(f: () => T): T {
    let result: T;
    try {
      result = f();
    } catch (error) {
      throw this.scrub(error);
    }
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        throw this.scrub(error);
      }) as T;
    }
    return result;
  }

  /**
   * The value itself when it holds no secret, else a copy without them: errors keep their prototype (so
   * `code`, `name`, the LosslessError brand and `instanceof` still work) with message, stack, every own
   * property and the `cause` chain scrubbed; plain objects and arrays are copied; other objects that print a
   * secret are replaced by a placeholder.
   */
  scrub<T>(value: T): T {
    if (this.empty) return value;
    return this.walk(value, 0, new Map()) as T;
  }

  /** A logger that scrubs every message and meta before passing them on, and never throws. */
  logger(target: Logger): Logger {
    const level =
      (name: keyof Logger) =>
      (message: string, meta?: Record<string, unknown>): void => {
        try {
          const m = this.text(String(message));
          logTo(target, name, m, meta === undefined ? undefined : this.scrub(meta));
        } catch {
          // a logger that throws must not break the driver that logs
        }
      };
    return { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
  }

  private walk(value: unknown, depth: number, seen: Map<object, unknown>): unknown {
    if (typeof value === 'string') return this.holds(value) ? this.text(value) : value;
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return seen.get(value);
    if (depth > MAX_DEPTH) return this.printsSecret(value) ? '[redacted: nested too deep]' : value;
    const proto = Object.getPrototypeOf(value) as object | null;
    const copyable =
      value instanceof Error ||
      Array.isArray(value) ||
      proto === Object.prototype ||
      proto === null ||
      // An error from another realm, or an error-like object thrown by a client.
      (typeof (value as { message?: unknown }).message === 'string' &&
        typeof (value as { stack?: unknown }).stack === 'string');
    if (!copyable) {
      const hidden = this.printsSecret(value);
      seen.set(value, hidden ? `[${proto?.constructor?.name ?? 'object'}, redacted]` : value);
      return seen.get(value);
    }
    if (Array.isArray(value)) {
      const items: unknown[] = [];
      seen.set(value, items);
      let changedItem = false;
      for (const item of value) {
        const scrubbed = this.walk(item, depth + 1, seen);
        if (scrubbed !== item) changedItem = true;
        items.push(scrubbed);
      }
      if (!changedItem) seen.set(value, value);
      return changedItem ? items : value;
    }
    const copy: Record<PropertyKey, unknown> = Object.create(proto);
    seen.set(value, copy);
    let changed = false;
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (!descriptor) continue;
      let inner: unknown;
      try {
        inner = 'value' in descriptor ? descriptor.value : Reflect.get(value, key);
      } catch {
        inner = '[unreadable]';
        changed = true;
      }
      const scrubbed = this.walk(inner, depth + 1, seen);
      if (scrubbed !== inner || !('value' in descriptor)) changed = true;
      Object.defineProperty(copy, key, {
        value: scrubbed,
        writable: true,
        enumerable: descriptor.enumerable ?? false,
        configurable: true,
      });
    }
    if (!changed) {
      seen.set(value, value);
      return value;
    }
    return copy;
  }

  private printsSecret(value: object): boolean {
    try {
      return this.holds(inspect(value, { depth: 4, breakLength: Number.POSITIVE_INFINITY }));
    } catch {
      return true; // what cannot be printed cannot be shown to be clean
    }
  }
}

function safeDecode(v: string): string | undefined {
  try {
    const d = decodeURIComponent(v);
    return d === v ? undefined : d;
  } catch {
    return undefined;
  }
}

/**
 * The user info (user, and password if any) a connection string carries, also when it does not parse as a
 * URL: everything between `scheme://` and the last `@` (a password may hold unencoded `@`, `#`, `/`), or,
 * without any `@`, what follows the first `:` after the scheme (`amqp://user:pass`, no host).
 */
export function addressSecrets(address: string): string[] {
  if (typeof address !== 'string') return [];
  const out: string[] = [];
  // A URL that parses, with no user info and no query, whose host is an IP address, a dotted name or localhost
  // (`amqps://127.0.0.1:5686`, what TLS URLs with the login in options look like), holds no password: the guess
  // below that takes what follows a colon for one that lost its '@host' (`amqp://user:1234`) does not apply, or
  // every port number in a driver's messages would print as `***`.
  let plainHost = false;
  try {
    const u = new URL(address);
    if (u.password) out.push(u.password, safeDecode(u.password) ?? u.password);
    for (const [key, value] of u.searchParams) if (SECRET_PARAM.test(key)) out.push(value);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    plainHost =
      u.username === '' &&
      u.search === '' &&
      (isIP(host) !== 0 || host.includes('.') || host === 'localhost');
  } catch {
    // fall through to the textual split, which is what matters for a string that does not parse
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(address)?.[0] ?? '';
  const rest = address.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    if (colon >= 0) out.push(info.slice(colon + 1));
    out.push(info);
  } else if (scheme && !plainHost) {
    const colon = rest.indexOf(':');
    if (colon >= 0) out.push(rest.slice(colon + 1).replace(/[/?#].*$/s, ''));
  }
  return out.filter((s) => s.length > 0);
}

/**
 * An address that is safe to print: a parseable URL with its password replaced by `***`; anything else with
 * its user info replaced (`amqp://***@host:5672/vhost`), or, when nothing can be told apart, only its scheme.
 */
export function redactAddress(address: string): string {
  if (typeof address !== 'string') return '(not a string)';
  try {
    const u = new URL(address);
    // An '@' after the authority means user info with an unencoded reserved character ('amqp://pa/ss@host'
    // parses with host 'pa'): only the textual split below is safe then.
    if (!`${u.pathname}${u.search}${u.hash}`.includes('@')) {
      if (u.password) u.password = REDACTED;
      for (const key of [...u.searchParams.keys()]) {
        if (SECRET_PARAM.test(key)) u.searchParams.set(key, REDACTED);
      }
      return u.toString();
    }
  } catch {
    // not a URL: redact by text
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(address)?.[0] ?? '';
  const rest = address.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  // A query after a host that did not parse is not shown either: its values may be credentials.
  if (at >= 0) return `${scheme}${REDACTED}@${rest.slice(at + 1).replace(/\?.*$/s, '?…')}`;
  // Without a scheme only a plain host[:port] is shown: anything else may be a pasted password.
  if (!scheme)
    return /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(address)
      ? address
      : '(not shown)';
  const colon = rest.indexOf(':');
  return colon >= 0 ? `${scheme}${rest.slice(0, colon)}:${REDACTED}` : `${scheme}${rest}`;
}

/**
 * What kind of value `v` is, without any of its content ("a number", "an array of 3", "an object"): for messages
 * about values that may hold a secret, where core's describeValue would quote a string.
 */
export function describeKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return `a string of ${v.length} characters (not shown)`;
  return typeof v === 'object' ? 'an object' : `${/^[aeiou]/.test(typeof v) ? 'an' : 'a'} ${typeof v}`;
}

/** A DNS name, an IPv4 address or a bracketed IPv6 address (what a broker address may name as its host). */
export const HOST =
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?|\[[0-9A-Fa-f:.]+\])$/;
