// The shared `tls` option: checked by core's rules, turned into Node's options, verification failures recognised.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isLosslessError } from '../errors.js';
import { checkOptions } from '../validate.js';
import { isTlsVerificationError, nodeTlsOptions, TLS_RULE, tlsSecrets } from './tls.js';

const SHAPE = { tls: TLS_RULE };
const KEY =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret-key-body\n-----END PRIVATE KEY-----\n';
const context = { where: 'x()', broker: 'x' };

function refused(value: unknown): string {
  try {
    checkOptions('x()', value, SHAPE);
  } catch (error) {
    expect(isLosslessError(error)).toBe(true);
    return `${(error as Error).message} ${inspect(error, { depth: 10 })}`;
  }
  throw new Error('accepted');
}

describe('tls option', () => {
  it('accepts PEM strings, buffers and arrays, and maps them to Node options', () => {
    const checked = checkOptions<{ tls: Parameters<typeof nodeTlsOptions>[0] }>(
      'x()',
      {
        tls: { ca: ['-----BEGIN CERTIFICATE-----', Buffer.from('b')], cert: 'c', key: KEY, servername: 'h' },
      },
      SHAPE,
    );
    const node = nodeTlsOptions(checked.tls, context);
    expect(node.rejectUnauthorized).toBe(true);
    expect(node.ca).toHaveLength(2);
    expect(Buffer.isBuffer(node.ca?.[1])).toBe(true);
    expect(node.servername).toBe('h');
  });

  it('refuses unknown keys, non-PEM values and a key without a certificate, never printing the key', () => {
    expect(refused({ tls: { rejectUnauthorised: false } })).toMatch(/rejectUnauthorized/);
    expect(refused({ tls: { ca: 42 } })).toMatch(/PEM/);
    expect(refused({ tls: { ca: [] } })).toMatch(/PEM/);
    expect(refused({ tls: { passphrase: 7 } })).toMatch(/passphrase/);
    const secret = refused({ tls: { passphrase: 'p4ss-phrase-xyz', servername: 7 } });
    expect(secret).not.toContain('p4ss-phrase-xyz');
    let message = '';
    try {
      nodeTlsOptions({ key: KEY }, context);
    } catch (error) {
      message = inspect(error, { depth: 10 });
    }
    expect(message).toMatch(/tls.cert and tls.key go together/);
    expect(message).not.toContain('secret-key-body');
    expect(tlsSecrets({ key: KEY, passphrase: 'pp-secret' })).toEqual(['pp-secret', KEY]);
    expect(
      tlsSecrets({
        get key() {
          throw new Error('x');
        },
      }),
    ).toEqual([]);
  });

  it('warns when verification is turned off, and only then', () => {
    const lines: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => lines.push(m), error() {} };
    nodeTlsOptions({ ca: 'x' }, { ...context, logger });
    expect(lines).toEqual([]);
    expect(nodeTlsOptions({ rejectUnauthorized: false }, { ...context, logger }).rejectUnauthorized).toBe(
      false,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/NOT verified/);
  });

  it('recognises verification failures by code, by text and in causes, and nothing else', () => {
    const code = (c: string) => Object.assign(new Error('tls'), { code: c });
    expect(isTlsVerificationError(code('SELF_SIGNED_CERT_IN_CHAIN'))).toBe(true);
    expect(isTlsVerificationError(new Error('wrap', { cause: code('ERR_TLS_CERT_ALTNAME_INVALID') }))).toBe(
      true,
    );
    expect(
      isTlsVerificationError({ code: 14, details: 'Ssl handshake failed: certificate verify failed' }),
    ).toBe(true);
    expect(isTlsVerificationError(code('ECONNREFUSED'))).toBe(false);
    expect(isTlsVerificationError(new Error('Socket closed abruptly'))).toBe(false);
    const hostile = {
      get code() {
        throw new Error('x');
      },
    };
    expect(isTlsVerificationError(hostile)).toBe(false);
  });
});
