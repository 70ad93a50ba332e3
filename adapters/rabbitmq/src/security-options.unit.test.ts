// No broker needed: the `tls` and `auth` options of the RabbitMQ driver are checked once, in the factory, by
// core's rules (unknown keys name the closest one, `undefined` is absent) plus the combinations only this driver
// knows (tls needs amqps://, EXTERNAL needs a client certificate); the password, the key and the passphrase
// appear in no error, inspect output, health reason or log line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { isLosslessError, type Logger } from '@lossless/core';
import { describe, expect, it } from 'vitest';
import { type RabbitMqDriverOptions, resolveOptions } from './options.js';
import { rabbitmq } from './rabbitmq-driver.js';

const PASSWORD = 'Pa55-#-secret-of-the-test';
const PASSPHRASE = 'pass-phrase-of-the-test';
// A real client certificate with a key encrypted by PASSPHRASE (core checks that both parse and open).
const dir = mkdtempSync(join(tmpdir(), 'lossless-rmq-tls-'));
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-days',
    '1',
    '-subj',
    '/CN=u',
    '-passout',
    `pass:${PASSPHRASE}`,
    '-keyout',
    join(dir, 'k.pem'),
    '-out',
    join(dir, 'c.pem'),
  ],
  { stdio: 'ignore' },
);
const KEY = readFileSync(join(dir, 'k.pem'), 'utf8');
const CERT = readFileSync(join(dir, 'c.pem'), 'utf8');
rmSync(dir, { recursive: true, force: true });
/** A piece of the key's body: it must appear nowhere. */
const KEY_BODY = KEY.split('\n')[2]?.slice(0, 40) ?? 'unreachable';
const TLS_URL = 'amqps://127.0.0.1:5686';

function refusal(options: unknown): string {
  try {
    rabbitmq(options as Parameters<typeof rabbitmq>[0]);
  } catch (error) {
    expect(isLosslessError(error) && error.code).toBe('INVALID_ARGUMENT');
    const text = `${(error as Error).message}\n${(error as Error).stack}\n${inspect(error, { depth: 10 })}`;
    for (const secret of [PASSWORD, PASSPHRASE, KEY_BODY]) expect(text).not.toContain(secret);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('rabbitmq() tls and auth options', () => {
  it('accepts a login and TLS, with undefined meaning absent', () => {
    const resolved = resolveOptions({
      url: TLS_URL,
      auth: { username: 'u', password: PASSWORD },
      tls: {
        ca: CERT,
        cert: CERT,
        key: KEY,
        passphrase: PASSPHRASE,
        servername: 'localhost',
        // Hostile on purpose: an explicit undefined, which the types refuse.
        rejectUnauthorized: undefined as unknown as boolean,
      },
    });
    expect(resolved.auth).toEqual({ mechanism: 'plain', username: 'u', password: PASSWORD });
    expect(resolved.tls).toMatchObject({ servername: 'localhost', rejectUnauthorized: true });
    const absent = { url: TLS_URL, auth: undefined, tls: undefined } as unknown as RabbitMqDriverOptions;
    expect(resolveOptions(absent).tls).toBeUndefined();
    expect(
      resolveOptions({
        url: TLS_URL,
        auth: { mechanism: 'external' },
        tls: { cert: CERT, key: KEY, passphrase: PASSPHRASE },
      }).auth,
    ).toEqual({
      mechanism: 'external',
    });
  });

  it('names the closest key for a misspelt one', () => {
    expect(refusal({ url: TLS_URL, auth: { username: 'u', pasword: PASSWORD } })).toMatch(/password/);
    expect(refusal({ url: TLS_URL, tls: { rejectUnauthorised: false } })).toMatch(/rejectUnauthorized/);
    expect(
      refusal({ url: TLS_URL, auth: { mechanism: 'scram', username: 'u', password: PASSWORD } }),
    ).toMatch(/plain|external/);
  });

  it('refuses tls with an amqp:// URL, naming the scheme and which URL', () => {
    expect(refusal({ urls: [TLS_URL, 'amqp://127.0.0.1:5672'], tls: { ca: CERT } })).toMatch(
      /urls\[1\] is amqp:\/\/.*use amqps:\/\//,
    );
  });

  it('refuses EXTERNAL without a client certificate or with a password, and a login without a password', () => {
    expect(refusal({ url: TLS_URL, auth: { mechanism: 'external' } })).toMatch(/needs a client certificate/);
    expect(refusal({ url: TLS_URL, auth: { mechanism: 'external' }, tls: { ca: CERT } })).toMatch(
      /tls\.cert/,
    );
    expect(
      refusal({
        url: TLS_URL,
        auth: { mechanism: 'external', password: PASSWORD },
        tls: { cert: CERT, key: KEY, passphrase: PASSPHRASE },
      }),
    ).toMatch(/takes no username or password/);
    expect(refusal({ url: TLS_URL, auth: { username: 'u' } })).toMatch(
      /needs auth.username and auth.password/,
    );
    expect(refusal({ url: TLS_URL, tls: { cert: CERT } })).toMatch(/tls.cert and tls.key go together/);
  });

  it('never shows the password, the key or the passphrase, also when a connect fails, and keeps the port', async () => {
    const lines: string[] = [];
    const log = (m: string, meta?: Record<string, unknown>) =>
      lines.push(`${m} ${inspect(meta, { depth: 10 })}`);
    const logger: Logger = { debug: log, info: log, warn: log, error: log };
    const driver = rabbitmq({
      url: 'amqps://127.0.0.1:1',
      logger,
      auth: { username: 'u', password: PASSWORD },
      tls: { cert: CERT, key: KEY, passphrase: PASSPHRASE },
    });
    const error = await driver.connect(AbortSignal.timeout(300)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLosslessError(error)).toBe(true);
    await driver.close();
    const text = [
      inspect(error, { depth: 10 }),
      inspect(driver, { depth: 5 }),
      driver.health().reason ?? '',
      ...lines,
    ].join('\n');
    for (const secret of [PASSWORD, PASSPHRASE, KEY_BODY]) expect(text).not.toContain(secret);
    // A URL without user info has no password: its port is not taken for one (and shown as ***).
    expect(inspect(error, { depth: 10 })).toContain('amqps://127.0.0.1:1');
    expect(text).not.toContain('127.0.0.1:***');
  });
});
