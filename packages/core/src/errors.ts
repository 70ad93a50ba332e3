// The one error hierarchy of lossless. Programs act on `code` and `retriable`, never on the message text.
// Drivers map their broker's native errors onto these codes (each through one table); core wraps anything
// else once, keeping the original in `cause`. Unknown errors are not retriable.

export const ErrorCode = {
  /** The caller passed something invalid (a name, a header, an option). Nothing was sent. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The topic or subscription does not exist on the broker (declare it first). */
  NOT_FOUND: 'NOT_FOUND',
  /** The broker accepted the message but no subscription was bound to take it (RabbitMQ `mandatory` return). */
  UNROUTABLE: 'UNROUTABLE',
  /** The broker refused to store the message (RabbitMQ nack, a full quorum queue, a non-OK send status). */
  NACKED: 'NACKED',
  /** No confirm arrived in time: the message may or may not be stored. Re-send with the same id. */
  CONFIRM_TIMEOUT: 'CONFIRM_TIMEOUT',
  /** The broker cannot be reached or the connection was lost. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** Too much is outstanding (pending confirms, a broker alarm): the bounded wait ran out. */
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  /** The bus, publisher or subscription was closed. */
  CLOSED: 'CLOSED',
  /** The caller's AbortSignal fired. */
  CANCELLED: 'CANCELLED',
  /** The message is larger than the broker (or the configured limit) takes. */
  TOO_LARGE: 'TOO_LARGE',
  /** A declaration contradicts what exists on the broker (e.g. other partitions or queue type). */
  CONFLICT: 'CONFLICT',
  /** An ack or nack came after its channel, generation or receipt handle went stale; the message returns. */
  STALE_DELIVERY: 'STALE_DELIVERY',
  /** The credentials were refused or the operation is not allowed. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The broker or adapter does not support what was asked. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** Anything not mapped above. Not retriable. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.NACKED,
  ErrorCode.CONFIRM_TIMEOUT,
  ErrorCode.UNAVAILABLE,
  ErrorCode.RESOURCE_EXHAUSTED,
  ErrorCode.STALE_DELIVERY,
]);

export interface LosslessErrorOptions {
  /** Overrides the code's default (NACKED, CONFIRM_TIMEOUT, UNAVAILABLE, RESOURCE_EXHAUSTED are retriable). */
  retriable?: boolean;
  cause?: unknown;
  /** Which broker the error came from ("rabbitmq", "kafka", …), when it came from one. */
  broker?: string | undefined;
  topic?: string | undefined;
  subscription?: string | undefined;
  /** The id of the message concerned, when one message is concerned. */
  messageId?: string | undefined;
}

/**
 * The brand every LosslessError carries, shared across copies of @lossless/core (an adapter's own dependency and
 * the application's or the conformance runner's): `Symbol.for` returns the same symbol in every copy, where
 * `instanceof` would see two unrelated classes.
 */
const BRAND: unique symbol = Symbol.for('lossless.error') as never;

/** Every error lossless throws or rejects with. Recognise one with isLosslessError(), not instanceof. */
export class LosslessError extends Error {
  override readonly name = 'LosslessError';
  readonly code: ErrorCode;
  /** True when the same operation may succeed if tried again (core's own re-sends rely on this). */
  readonly retriable: boolean;
  readonly broker: string | undefined;
  readonly topic: string | undefined;
  readonly subscription: string | undefined;
  readonly messageId: string | undefined;

  constructor(code: ErrorCode, message: string, options: LosslessErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
    this.broker = options.broker;
    this.topic = options.topic;
    this.subscription = options.subscription;
    this.messageId = options.messageId;
  }

  /** A copy of this error that names the topic, subscription or message it concerns. */
  withContext(context: Pick<LosslessErrorOptions, 'topic' | 'subscription' | 'messageId'>): LosslessError {
    const copy = new LosslessError(this.code, this.message, {
      retriable: this.retriable,
      cause: this.cause,
      broker: this.broker,
      topic: context.topic ?? this.topic,
      subscription: context.subscription ?? this.subscription,
      messageId: context.messageId ?? this.messageId,
    });
    if (this.stack !== undefined) copy.stack = this.stack;
    return copy;
  }
}

// On the prototype, not each instance: util.inspect and JSON stay as they were.
Object.defineProperty(LosslessError.prototype, BRAND, { value: true });

/**
 * True for an error made by any copy of @lossless/core (checked by brand and a known `code`), so an adapter that
 * brings its own copy of core is understood by the application's copy.
 */
export function isLosslessError(error: unknown): error is LosslessError {
  if (error instanceof LosslessError) return true;
  if (typeof error !== 'object' || error === null) return false;
  try {
    const e = error as Record<PropertyKey, unknown>;
    return e[BRAND] === true && typeof e.code === 'string' && Object.hasOwn(ErrorCode, e.code);
  } catch {
    return false; // a Proxy or a throwing getter is not one of ours
  }
}

/** True for a LosslessError marked retriable; false for everything else (unknown errors are not retriable). */
export function isRetriable(error: unknown): boolean {
  return isLosslessError(error) && error.retriable === true;
}

/**
 * Turns anything thrown by a driver into a LosslessError, exactly once: a LosslessError passes through,
 * anything else goes through the driver's classifier, and what the classifier does not know becomes INTERNAL.
 */
export function toLosslessError(
  error: unknown,
  classify?: (error: unknown) => LosslessError | undefined,
  broker?: string,
): LosslessError {
  if (isLosslessError(error)) return error;
  let classified: LosslessError | undefined;
  try {
    classified = classify?.(error);
  } catch {
    classified = undefined; // a classifier that throws knows nothing about this error
  }
  if (classified && isLosslessError(classified)) return classified;
  return new LosslessError(
    ErrorCode.INTERNAL,
    `unexpected error${broker ? ` from ${broker}` : ''}: ${describeError(error)}`,
    {
      cause: error,
      retriable: false,
      ...(broker ? { broker } : {}),
    },
  );
}

/**
 * A one-line description of anything thrown — an Error, a string, `Object.create(null)`, an object whose
 * toString or message getter throws — that never throws itself and is at most 1,000 characters long.
 */
export function describeError(error: unknown, fallback = 'an unknown failure'): string {
  let text: string;
  try {
    if (error === undefined) text = fallback;
    else if (error === null) text = 'null';
    else if (typeof error === 'string') text = error;
    else if (error instanceof Error) text = String(error.message) || String(error.name) || 'Error';
    else if (typeof error === 'object') {
      const message = (error as { message?: unknown }).message;
      text = typeof message === 'string' ? message : Object.prototype.toString.call(error);
    } else text = String(error);
  } catch {
    text = 'a value that cannot be described (its toString or message threw)';
  }
  return text.length > 1_000 ? `${text.slice(0, 1_000)}…` : text;
}

export function invalidArgument(message: string, context: LosslessErrorOptions = {}): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, message, context);
}

export function closedError(what: string, context: LosslessErrorOptions = {}): LosslessError {
  return new LosslessError(ErrorCode.CLOSED, `${what} is closed: create a new one to continue`, context);
}

export function cancelledError(reason: unknown, context: LosslessErrorOptions = {}): LosslessError {
  const why = describeError(reason, 'aborted');
  return new LosslessError(ErrorCode.CANCELLED, `cancelled by the caller's signal: ${why}`, {
    ...context,
    cause: reason,
  });
}
