// One validation layer for every options object of the public API and of every driver factory. An options
// object is checked against a shape, a small table of rules: unknown keys are INVALID_ARGUMENT naming the key
// and the closest valid one; a key set to `undefined` is absent (the default applies); numbers are checked for
// type, integer-ness and range; enums for their values. Nothing a user passes can make it throw anything but a
// LosslessError: getters that throw and Proxies are reported as such, and values of secret rules are never
// printed. Hand-written rather than a schema library: see bench/src/validation.ts for the measurement.
import { ErrorCode, isLosslessError, LosslessError } from './errors.js';

export type OptionRule =
  | { readonly type: 'integer'; readonly min: number; readonly max: number }
  | { readonly type: 'number'; readonly min: number; readonly max: number }
  | { readonly type: 'boolean' }
  | {
      readonly type: 'string';
      readonly minLength?: number;
      readonly maxLength?: number;
      /** The value is never printed (passwords, tokens, secret keys). */
      readonly secret?: boolean;
    }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'function' }
  /** A nested options object, checked as strictly as the outer one. */
  | { readonly type: 'object'; readonly shape: OptionShape }
  /** An object with any keys, each value checked by `of`. */
  | { readonly type: 'record'; readonly of: OptionRule }
  | {
      readonly type: 'array';
      readonly of: OptionRule;
      readonly minLength?: number;
      readonly maxLength?: number;
    }
  /** An AbortSignal (or an object that behaves as one: `aborted`, `addEventListener`, `removeEventListener`). */
  | { readonly type: 'signal' }
  /** Anything at all; the caller checks it (e.g. a Buffer or a user's store object). */
  | { readonly type: 'any' }
  /** `check` returns undefined when the value is fine, else what it should be ("a Logger with warn()…"). */
  | { readonly type: 'custom'; readonly check: (value: unknown) => string | undefined };

export type OptionShape = Readonly<Record<string, OptionRule>>;

export interface CheckContext {
  /** Set on the error, when a driver factory checks its options. */
  readonly broker?: string | undefined;
  readonly topic?: string | undefined;
  readonly subscription?: string | undefined;
}

class Invalid {
  constructor(readonly message: string) {}
}

/**
 * Checks `value` against `shape` and returns a copy holding only the keys that are set (not undefined).
 * Throws INVALID_ARGUMENT, whose message starts with `where` ("connect()", "rabbitmq()", …), for a non-object,
 * an unknown key, or a value its rule refuses. `undefined` and a missing object are both "no options".
 */
export function checkOptions<T>(
  where: string,
  value: unknown,
  shape: OptionShape,
  context?: CheckContext,
): T {
  try {
    if (value === undefined) return {} as T;
    return checkObject(value, shape, '') as T;
  } catch (error) {
    throw asInvalid(where, error, context);
  }
}

/** Checks one value against one rule (for arguments that are not option objects). Same errors as checkOptions. */
export function checkValue<T>(
  where: string,
  name: string,
  value: unknown,
  rule: OptionRule,
  context?: CheckContext,
): T {
  try {
    return checkRule(value, rule, name) as T;
  } catch (error) {
    throw asInvalid(where, error, context);
  }
}

function asInvalid(where: string, error: unknown, context: CheckContext | undefined): LosslessError {
  if (isLosslessError(error)) return error;
  const text =
    error instanceof Invalid
      ? error.message
      : 'could not be read (a getter or Proxy threw while checking it)';
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `${where}: ${text}`, {
    broker: context?.broker,
    topic: context?.topic,
    subscription: context?.subscription,
  });
}

function checkObject(value: unknown, shape: OptionShape, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Invalid(`${path || 'options'} must be an object, got ${describeValue(value)}`);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const rule = Object.hasOwn(shape, key) ? shape[key] : undefined;
    const at = path ? `${path}.${key}` : key;
    if (rule === undefined) {
      const near = closest(key, Object.keys(shape));
      throw new Invalid(
        `unknown option '${at}'${near ? ` (did you mean '${path ? `${path}.` : ''}${near}'?)` : ''}; valid: ${Object.keys(
          shape,
        ).join(', ')}`,
      );
    }
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out[key] = checkRule(v, rule, at);
  }
  return out;
}

function checkRule(v: unknown, rule: OptionRule, at: string): unknown {
  switch (rule.type) {
    case 'integer':
    case 'number': {
      const ok =
        typeof v === 'number' &&
        !Number.isNaN(v) &&
        (rule.type === 'number' ? Number.isFinite(v) || v === rule.max : Number.isInteger(v)) &&
        v >= rule.min &&
        v <= rule.max;
      if (!ok) {
        throw new Invalid(
          `${at} must be ${rule.type === 'integer' ? 'an integer' : 'a number'} from ${rule.min} to ${rule.max}, got ${describeValue(v)}`,
        );
      }
      return v;
    }
    case 'boolean':
      if (typeof v !== 'boolean') throw new Invalid(`${at} must be true or false, got ${describeValue(v)}`);
      return v;
    case 'string': {
      const shown = rule.secret ? describeSecret(v) : describeValue(v);
      if (typeof v !== 'string') throw new Invalid(`${at} must be a string, got ${shown}`);
      if (v.length < (rule.minLength ?? 0) || v.length > (rule.maxLength ?? Number.MAX_SAFE_INTEGER)) {
        throw new Invalid(
          `${at} must be ${rule.minLength ?? 0} to ${rule.maxLength ?? 'any number of'} characters long, got ${shown}`,
        );
      }
      return v;
    }
    case 'enum':
      if (typeof v !== 'string' || !rule.values.includes(v)) {
        const near = typeof v === 'string' ? closest(v, rule.values) : undefined;
        throw new Invalid(
          `${at} must be one of ${rule.values.map((x) => `'${x}'`).join(', ')}, got ${shownEnum(v)}${
            near ? ` (did you mean '${near}'?)` : ''
          }`,
        );
      }
      return v;
    case 'function':
      if (typeof v !== 'function') throw new Invalid(`${at} must be a function, got ${describeValue(v)}`);
      return v;
    case 'object':
      return checkObject(v, rule.shape, at);
    case 'record': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        throw new Invalid(`${at} must be an object, got ${describeValue(v)}`);
      }
      const out: Record<string, unknown> = Object.create(null);
      for (const key of Object.keys(v))
        out[key] = checkRule((v as Record<string, unknown>)[key], rule.of, `${at}.${key}`);
      return out;
    }
    case 'array': {
      if (!Array.isArray(v)) throw new Invalid(`${at} must be an array, got ${describeValue(v)}`);
      if (v.length < (rule.minLength ?? 0) || v.length > (rule.maxLength ?? Number.MAX_SAFE_INTEGER)) {
        throw new Invalid(
          `${at} must hold ${rule.minLength ?? 0} to ${rule.maxLength ?? 'any number of'} entries, got ${v.length}`,
        );
      }
      return v.map((item, i) => checkRule(item, rule.of, `${at}[${i}]`));
    }
    case 'signal':
      if (!isSignal(v)) throw new Invalid(`${at} must be an AbortSignal, got ${describeValue(v)}`);
      return v;
    case 'any':
      return v;
    case 'custom': {
      const wanted = rule.check(v);
      if (wanted !== undefined) throw new Invalid(`${at} must be ${wanted}, got ${describeValue(v)}`);
      return v;
    }
  }
}

/** An AbortSignal, or an object that behaves as one (another realm's, a polyfill's). Never throws. */
export function isSignal(v: unknown): v is AbortSignal {
  if (v instanceof AbortSignal) return true;
  try {
    return (
      typeof v === 'object' &&
      v !== null &&
      typeof (v as AbortSignal).aborted === 'boolean' &&
      typeof (v as AbortSignal).addEventListener === 'function' &&
      typeof (v as AbortSignal).removeEventListener === 'function'
    );
  } catch {
    return false;
  }
}

/**
 * A short, safe description of any value for an error message: never throws (whatever its toString does),
 * never longer than about 60 characters.
 */
export function describeValue(v: unknown): string {
  try {
    if (v === null) return 'null';
    if (v === undefined) return 'undefined';
    switch (typeof v) {
      case 'string':
        // Never the text: a string in the wrong place may be a password (`brokers: 'user:secret@host'`).
        return `a string of ${v.length} characters`;
      case 'number':
      case 'boolean':
      case 'bigint':
        return `${typeof v} ${String(v)}`;
      case 'symbol':
        return 'a symbol';
      case 'function':
        return 'a function';
      default:
        if (Array.isArray(v)) return `an array of ${v.length}`;
        return 'an object';
    }
  } catch {
    return 'an unreadable value';
  }
}

/** An enum's wrong value is shown (it is usually a typo of a valid one), short strings only. */
function shownEnum(v: unknown): string {
  return typeof v === 'string' && v.length <= 24 ? JSON.stringify(v) : describeValue(v);
}

function describeSecret(v: unknown): string {
  return typeof v === 'string' ? `a string of ${v.length} characters (not shown)` : describeValue(v);
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.toLowerCase() === lower ? 0 : distance(lower, c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  const allowed = Math.max(2, Math.floor(word.length / 3));
  return bestDistance <= allowed ? best : undefined;
}

/** Levenshtein distance (words here are option names: short). */
function distance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Number.POSITIVE_INFINITY;
  // The table row by row: each row is built left to right from the one above (`up`), the cell above-left
  // (`diag`) and the cell just built (`left`). `last` is the row's final cell, the distance so far.
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let last = b.length;
  for (let i = 1; i <= a.length; i++) {
    let diag = i - 1;
    let left = i;
    prev = prev.map((up, j) => {
      if (j === 0) return i;
      const cell = Math.min(up + 1, left + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
      left = cell;
      return cell;
    });
    last = left;
  }
  return last;
}
