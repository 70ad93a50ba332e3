// errorMapper: a driver's error table turned into LosslessErrors (code, context and cause, the row's retriable
// override), a LosslessError passed through, unknown errors left to the caller (classify) or INTERNAL (toError).
import { describe, expect, it } from 'vitest';
import { ErrorCode, LosslessError } from '../errors.js';
import { errorMapper } from './error-mapping.js';

const table = new Map([
  [404, { code: ErrorCode.NOT_FOUND, meaning: 'no such exchange' }],
  [406, { code: ErrorCode.CONFLICT, meaning: 'inequivalent arguments' }],
  [320, { code: ErrorCode.UNAVAILABLE, meaning: 'connection forced', retriable: true }],
  [530, { code: ErrorCode.UNAVAILABLE, meaning: 'not allowed', retriable: false }],
]);
const mapper = errorMapper('amqp', (e) => {
  const row = table.get((e as { code?: number }).code ?? -1);
  return row ? { row } : undefined;
});
const native = (code: number, message: string) => Object.assign(new Error(message), { code });

describe('errorMapper', () => {
  it('maps a known native error to its code, with the context and the original as cause', () => {
    const original = native(404, "NOT_FOUND - no exchange 'x'");
    const e = mapper.classify(original, { topic: 'orders', doing: 'publishing' })!;
    expect(e).toBeInstanceOf(LosslessError);
    expect(e).toMatchObject({ code: 'NOT_FOUND', retriable: false, broker: 'amqp', topic: 'orders' });
    expect(e.message).toBe("amqp: no such exchange while publishing: NOT_FOUND - no exchange 'x'");
    expect(e.cause).toBe(original);
  });

  it('keeps the code default for retriable unless the row overrides it', () => {
    expect(mapper.classify(native(320, 'forced'))!.retriable).toBe(true);
    expect(mapper.classify(native(530, 'nope'))!.retriable).toBe(false);
  });

  it('passes a LosslessError through and leaves unknown errors to the caller (classify) or INTERNAL (toError)', () => {
    const already = new LosslessError(ErrorCode.CLOSED, 'closed');
    expect(mapper.classify(already)).toBe(already);
    expect(mapper.classify(new Error('strange'))).toBeUndefined();
    expect(mapper.toError(new Error('strange'), { subscription: 's' })).toMatchObject({
      code: 'INTERNAL',
      retriable: false,
      subscription: 's',
      message: 'amqp: unexpected error: strange',
    });
  });
});
