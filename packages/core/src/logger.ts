// The logging seam. Core logs little (warnings that have no caller to go to); pass your own logger to
// connect() to route them, or `silentLogger` to drop them. A winston logger fits as it is (message, meta); a pino
// logger too: pino takes (meta, message), and is recognised by its own symbol (see logTo).
export interface Logger {
  debug(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

const noop = () => {};

/** Warnings and errors to stderr, nothing else. */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (m, meta) => console.warn(`[lossless] ${m}`, ...(meta ? [meta] : [])),
  error: (m, meta) => console.error(`[lossless] ${m}`, ...(meta ? [meta] : [])),
};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** Undefined for a usable Logger, else what one must be (checkOptions' custom rule). */
export function loggerProblem(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object')
    return 'a Logger (an object with debug, info, warn and error functions)';
  for (const level of LEVELS) {
    if (typeof (v as Record<string, unknown>)[level] !== 'function') {
      return `a Logger with a ${level}() function`;
    }
  }
  return undefined;
}

/** The option rule for a `logger` key (checkOptions): the bus's and every driver factory's. */
export const LOGGER_RULE = { type: 'custom', check: loggerProblem } as const;

/** pino's own mark on every logger and child it makes (a global symbol, so any pino version has it). */
const PINO = Symbol.for('pino.serializers');

/**
 * One log call on a user's logger, in the order it reads its arguments: (message, meta) for this interface and
 * winston, (meta, message) for pino — which would otherwise drop the meta. May throw what the logger throws.
 */
export function logTo(
  logger: Logger,
  level: (typeof LEVELS)[number],
  message: string,
  meta?: Record<string, unknown>,
): void {
  if (meta === undefined) logger[level](message);
  else if (PINO in logger) (logger[level] as unknown as (m: object, s: string) => void)(meta, message);
  else logger[level](message, meta);
}

/** The user's logger with every call guarded: a logger that throws must not break the bus that logs. */
export function guardedLogger(logger: Logger): Logger {
  const guard =
    (level: (typeof LEVELS)[number]) =>
    (message: string, meta?: Record<string, unknown>): void => {
      try {
        logTo(logger, level, message, meta);
      } catch {
        // nowhere left to report it
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
