// `--filter-error REGEX`: which dead letters a redrive takes, by their last error. The pattern comes from a
// user, and JavaScript's regex engine backtracks: `(a+)+$` on a long error runs for ages. So the pattern's
// length is bounded, the text tested is cut to the first FILTER_TEXT_MAX characters, and every test runs in a
// vm context with a time limit: a test that runs out of time counts as "not selected" (the message stays in the
// dead-letter destination) and is reported, never a wedged CLI.
import vm from 'node:vm';
import { invalidArgument } from '@lossless/core';

export const FILTER_PATTERN_MAX = 500;
export const FILTER_TEXT_MAX = 4_096;
export const FILTER_TEST_TIMEOUT_MS = 50;

export type FilterResult = 'match' | 'no-match' | 'timeout';

export interface ErrorFilter {
  readonly source: string;
  test(text: string | undefined): FilterResult;
}

/** Compiles `pattern`; INVALID_ARGUMENT for a bad or too long one (the pattern is quoted cut to 60 chars). */
export function compileErrorFilter(pattern: string, flag = 'filterError'): ErrorFilter {
  if (pattern.length === 0 || pattern.length > FILTER_PATTERN_MAX) {
    throw invalidArgument(`${flag} must be a regular expression of 1 to ${FILTER_PATTERN_MAX} characters`);
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern, 'u');
  } catch (error) {
    throw invalidArgument(
      `${flag} ${JSON.stringify(pattern.slice(0, 60))} is not a valid regular expression: ${(error as Error).message.slice(0, 200)}`,
    );
  }
  const context = vm.createContext({ re, s: '' });
  const script = new vm.Script('re.test(s)');
  return {
    source: pattern,
    test(text) {
      if (text === undefined) return 'no-match';
      context.s = text.slice(0, FILTER_TEXT_MAX);
      try {
        return script.runInContext(context, { timeout: FILTER_TEST_TIMEOUT_MS }) === true
          ? 'match'
          : 'no-match';
      } catch {
        return 'timeout';
      }
    },
  };
}
