// The shared `tls` option: checked by core's rules, turned into Node's options, verification failures recognised.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { isLosslessError } from '../errors.js';
import { checkOptions } from '../validate.js';
import { isTlsVerificationError, nodeTlsOptions, TLS_RULE, tlsSecrets } from './tls.js';

const SHAPE = { tls: TLS_RULE };
const KEY =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret-key-body\n-----END PRIVATE KEY-----\n';
const context = { where: 'x()', broker: 'x' };

// A real client certificate and key (openssl, as the broker kit's PKI), and an encrypted key.
const dir = mkdtempSync(join(tmpdir(), 'lossless-tls-'));
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=client',
    '-keyout',
    join(dir, 'k.pem'),
    '-out',
    join(dir, 'c.pem'),
  ],
  { stdio: 'ignore' },
);
const CERT = readFileSync(join(dir, 'c.pem'), 'utf8');
const CERT_KEY = readFileSync(join(dir, 'k.pem'), 'utf8');
const ENCRYPTED = generateKeyPairSync('ec', {
  namedCurve: 'P-256',
  privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'right-phrase' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function invalidText(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(isLosslessError(error) && error.code).toBe('INVALID_ARGUMENT');
    return inspect(error, { depth: 10 });
  }
  throw new Error('accepted');
}

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
        tls: {
          ca: ['-----BEGIN CERTIFICATE-----', Buffer.from('b')],
          cert: CERT,
          key: CERT_KEY,
          servername: 'h',
        },
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

  it('refuses a certificate or key that does not parse, and a wrong passphrase, without quoting either', () => {
    expect(invalidText(() => nodeTlsOptions({ cert: 'junk', key: CERT_KEY }, context))).toMatch(
      /tls.cert is not/,
    );
    const bad = invalidText(() => nodeTlsOptions({ cert: CERT, key: KEY }, context));
    expect(bad).toMatch(/tls.key is not a PEM private key/);
    expect(bad).not.toContain('secret-key-body');
    const phrase = invalidText(() =>
      nodeTlsOptions({ cert: CERT, key: ENCRYPTED, passphrase: 'wrong-phrase-xyz' }, context),
    );
    expect(phrase).toMatch(/passphrase does not open it/);
    expect(phrase).not.toContain('wrong-phrase-xyz');
    expect(
      nodeTlsOptions({ cert: CERT, key: ENCRYPTED, passphrase: 'right-phrase' }, context).passphrase,
    ).toBe('right-phrase');
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
