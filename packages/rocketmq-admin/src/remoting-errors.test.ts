// The remoting rows of the error table: the response codes the admin acts on map to the portable codes the
// driver and users act on, and a code the table does not know is INTERNAL and not retriable.
import { ErrorCode } from '@lossless/core/driver';
import { describe, expect, it } from 'vitest';
import { REMOTING_ERROR_TABLE, remotingErrorRow } from './remoting-errors.js';

describe('remotingErrorRow', () => {
  it('maps the known response codes', () => {
    expect(remotingErrorRow(1).code).toBe(ErrorCode.UNAVAILABLE);
    expect(remotingErrorRow(2).code).toBe(ErrorCode.UNAVAILABLE);
    expect(remotingErrorRow(14).code).toBe(ErrorCode.UNAVAILABLE);
    expect(remotingErrorRow(16).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(remotingErrorRow(17).code).toBe(ErrorCode.NOT_FOUND);
    expect(remotingErrorRow(26).code).toBe(ErrorCode.NOT_FOUND);
    expect(remotingErrorRow(29).code).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it('answers INTERNAL with no retriable override for an unknown code', () => {
    expect(remotingErrorRow(9999)).toEqual({ code: ErrorCode.INTERNAL, meaning: 'refused by the server' });
  });

  it("keys every row 'remoting:<code>' and says what it means", () => {
    for (const [key, row] of REMOTING_ERROR_TABLE) {
      expect(key).toMatch(/^remoting:\d+$/);
      expect(row.meaning.length).toBeGreaterThan(0);
    }
  });
});
