// Turning a broker's native errors into LosslessErrors, once for every driver: a driver keeps only its table
// (native code → row) and a lookup that finds a row for an error; this builds the error with the same message
// shape, context and retriable rule everywhere. Unknown errors become INTERNAL, not retriable.
import { ErrorCode as Codes, type ErrorCode, isLosslessError, LosslessError } from '../errors.js';

/** One row of a driver's error table. */
export interface ErrorRow {
  code: ErrorCode;
  /** What the native error means, in a few words ("the broker nacked the message"). */
  meaning: string;
  /** Overrides the code's default retriable rule. */
  retriable?: boolean;
}

/** What the driver was doing when the error happened, and to which topic / subscription / message. */
export interface ErrorContext {
  topic?: string | undefined;
  subscription?: string | undefined;
  messageId?: string | undefined;
  /** e.g. "publishing to topic 'orders'". */
  doing?: string | undefined;
}

export interface ErrorMapper {
  /** The LosslessError for a native error the table knows; the error itself if it already is one; else undefined. */
  classify(error: unknown, context?: ErrorContext): LosslessError | undefined;
  /** Like classify, but never undefined: an unknown error becomes INTERNAL (not retriable). */
  toError(error: unknown, context?: ErrorContext): LosslessError;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * An ErrorMapper for `broker` over `lookup`, which finds the table row for a native error (and may supply the
 * detail to print, e.g. the innermost cause's message or the native code).
 */
export function errorMapper(
  broker: string,
  lookup: (error: unknown) => { row: ErrorRow; detail?: string } | undefined,
): ErrorMapper {
  const options = (error: unknown, context: ErrorContext) => ({
    cause: error,
    broker,
    topic: context.topic,
    subscription: context.subscription,
    messageId: context.messageId,
  });
  const classify = (error: unknown, context: ErrorContext = {}): LosslessError | undefined => {
    if (isLosslessError(error)) return error;
    const hit = lookup(error);
    if (!hit) return undefined;
    const doing = context.doing ? ` while ${context.doing}` : '';
    return new LosslessError(
      hit.row.code,
      `${broker}: ${hit.row.meaning}${doing}: ${hit.detail ?? describe(error)}`,
      {
        ...options(error, context),
        ...(hit.row.retriable === undefined ? {} : { retriable: hit.row.retriable }),
      },
    );
  };
  return {
    classify,
    toError(error, context = {}) {
      const known = classify(error, context);
      if (known) return known;
      const doing = context.doing ? ` while ${context.doing}` : '';
      return new LosslessError(Codes.INTERNAL, `${broker}: unexpected error${doing}: ${describe(error)}`, {
        ...options(error, context),
        retriable: false,
      });
    },
  };
}
