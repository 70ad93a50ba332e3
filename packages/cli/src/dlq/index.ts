// `lossless dlq`: the dead-letter operations API and the command over it.
export { exitCodeOf, parseFlags } from './args.js';
export { DLQ_HELP, dlqCommand } from './command.js';
export {
  type DeadLetter,
  PREVIEW_BYTES,
  preview,
  REDRIVEN_AT_HEADER,
  REDRIVEN_FROM_HEADER,
} from './dead-letter.js';
export { compileErrorFilter, FILTER_PATTERN_MAX, FILTER_TEXT_MAX } from './filter.js';
export {
  type DeadLetterDepth,
  type ListDeadLettersOptions,
  listDeadLetters,
  type PurgeDeadLettersOptions,
  type PurgeResult,
  purgeDeadLetters,
  type RedriveDeadLettersOptions,
  type RedriveProgress,
  type RedriveResult,
  redriveDeadLetters,
  type ShowDeadLettersOptions,
  showDeadLetters,
} from './operations.js';
export { SCAN_WAITS, SCAN_WINDOW } from './reader.js';
export type { DeadLetterTarget } from './target.js';
