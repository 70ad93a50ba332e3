// Reading a broker client's error for the error tables: the code it carries (`code`, `type`, a reply code…) on
// the error or on one of its causes — without trusting the error: a getter that throws, a proxy, a cause cycle
// or a primitive thrown as an error all give "no code", never an exception.

/** The code-like fields read by default. */
const CODE_FIELDS = ['code'] as const;

/** Reads `error[field]`; undefined for a primitive or when reading throws. */
function field(error: unknown, name: string): unknown {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return undefined;
  try {
    return (error as Record<string, unknown>)[name];
  } catch {
    return undefined;
  }
}

/** `error` and its `cause`s, outermost first, at most `depth` of them, each once. */
export function causeChain(error: unknown, depth = 8): unknown[] {
  const chain: unknown[] = [];
  let current = error;
  while (chain.length < depth && current !== undefined && current !== null && !chain.includes(current)) {
    chain.push(current);
    current = field(current, 'cause');
  }
  return chain;
}

/**
 * The first string or number among `fields` of `error` (in that order), or undefined. Only the error itself:
 * walk `causeChain(error)` to look deeper.
 */
export function nativeCode(
  error: unknown,
  fields: readonly string[] = CODE_FIELDS,
): string | number | undefined {
  for (const name of fields) {
    const value = field(error, name);
    if (typeof value === 'string' || typeof value === 'number') return value;
  }
  return undefined;
}

/** The error's message when it is an Error (read safely), else undefined. */
export function nativeMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const message = field(error, 'message');
  return typeof message === 'string' ? message : undefined;
}
