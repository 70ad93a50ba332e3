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
