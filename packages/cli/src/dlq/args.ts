// Command-line parsing shared by the commands: node:util parseArgs, strict, with errors that name the flag but
// never echo its value (`--password=hunter2` must not print hunter2), and the exit code of an error.
import { parseArgs } from 'node:util';
import { ErrorCode, invalidArgument, isLosslessError } from '@lossless/core';
import { ENV } from '../connection.js';
import { EXIT } from '../output.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

/** Flags people reach for that would put a secret on the command line. */
const SECRET_FLAGS: Readonly<Record<string, string>> = {
  password: `use ${ENV.password} or --password-file`,
  'secret-key': `use ${ENV.secretKey} or --secret-key-file`,
  passphrase: `use ${ENV.tlsPassphrase}`,
};

export function parseFlags(
  args: readonly string[],
  options: FlagSpec,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  for (const a of args) {
    if (a === '--') break;
    const name = /^--([^=]+)/.exec(a)?.[1];
    if (name !== undefined && SECRET_FLAGS[name] !== undefined && !(name in options)) {
      throw invalidArgument(
        `--${name} is not accepted (a command line is visible to every user): ${SECRET_FLAGS[name]}`,
      );
    }
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (error) {
    const code = (error as { code?: string }).code;
    // parseArgs quotes the argument; say the same without any value in it.
    const text = String((error as Error).message);
    const flag = /'(-{1,2}[^'=\s]*)/.exec(text)?.[1] ?? 'an option';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw invalidArgument(`unknown option ${flag}: see --help`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw invalidArgument(`option ${flag} needs a value (or takes none): see --help`);
    throw invalidArgument('cannot read the command line: see --help');
  }
}

/** The exit code for an error: usage, broker unreachable or refused, or failed half-way. */
export function exitCodeOf(error: unknown): number {
  if (!isLosslessError(error)) return EXIT.failed;
  switch (error.code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.UNSUPPORTED:
    case ErrorCode.NOT_FOUND:
      return EXIT.usage;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.PERMISSION_DENIED:
    case ErrorCode.CONFIRM_TIMEOUT:
      return EXIT.unavailable;
    default:
      return EXIT.failed;
  }
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A positive integer flag, or INVALID_ARGUMENT naming it. */
export function intFlag(name: string, v: unknown, max = 10_000_000): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw invalidArgument(`--${name} must be a whole number from 1 to ${max}`);
  }
  return n;
}
