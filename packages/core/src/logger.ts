// The logging seam. Core logs little (warnings that have no caller to go to); pass your own logger to
// connect() to route them, or `silentLogger` to drop them.
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

/** The user's logger with every call guarded: a logger that throws must not break the bus that logs. */
export function guardedLogger(logger: Logger): Logger {
  const guard =
    (level: (typeof LEVELS)[number]) =>
    (message: string, meta?: Record<string, unknown>): void => {
      try {
        logger[level](message, meta);
      } catch {
        // nowhere left to report it
      }
    };
  return { debug: guard('debug'), info: guard('info'), warn: guard('warn'), error: guard('error') };
}
