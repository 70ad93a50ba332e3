// The CLI's connection from flags and environment, and hostile command lines: unknown flags, a bad adapter, a
// missing password, secrets on the command line — and no secret ever in an error message.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLosslessError, type LosslessError } from '@lossless/core';
import { describe, expect, it } from 'vitest';
import { CONNECTION_FLAGS, type ConnectionFlags, resolveConnection } from './connection.js';
import {
  compileErrorFilter,
  exitCodeOf,
  listDeadLetters,
  parseFlags,
  preview,
  redriveDeadLetters,
} from './index.js';

const SECRET = 'hunter2-very-secret-value';

function thrown(f: () => unknown): LosslessError {
  try {
    f();
  } catch (error) {
    if (isLosslessError(error)) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<LosslessError> {
  try {
    await p;
  } catch (error) {
    if (isLosslessError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

const flags = (args: string[]) =>
  parseFlags(args, CONNECTION_FLAGS as unknown as Parameters<typeof parseFlags>[1]).values as ConnectionFlags;

describe('resolveConnection', () => {
  it('takes flags first, then the environment', () => {
    expect(resolveConnection(flags(['--adapter', 'kafka', '--brokers', 'a:9092, b:9092']), {})).toEqual({
      adapter: 'kafka',
      options: { brokers: ['a:9092', 'b:9092'] },
    });
    expect(
      resolveConnection(
        {},
        { LOSSLESS_ADAPTER: 'rabbitmq', LOSSLESS_RABBITMQ_URL: 'amqp://h:5672,amqp://i:5672' },
      ),
    ).toEqual({ adapter: 'rabbitmq', options: { urls: ['amqp://h:5672', 'amqp://i:5672'] } });
    const flagWins = resolveConnection(flags(['--adapter', 'rabbitmq', '--url', 'amqp://flag:5672']), {
      LOSSLESS_ADAPTER: 'kafka',
      LOSSLESS_RABBITMQ_URL: 'amqp://env:5672',
    });
    expect(flagWins).toEqual({ adapter: 'rabbitmq', options: { urls: ['amqp://flag:5672'] } });
    expect(
      resolveConnection(
        {},
        {
          LOSSLESS_ADAPTER: 'rocketmq',
          LOSSLESS_ROCKETMQ_ENDPOINTS: 'p:8081',
          LOSSLESS_ROCKETMQ_NAMESRV: 'n:9876',
        },
      ),
    ).toEqual({ adapter: 'rocketmq', options: { endpoints: 'p:8081', namesrv: 'n:9876' } });
  });

  it('takes the password from the environment or a file, never from a flag', () => {
    const env = {
      LOSSLESS_ADAPTER: 'rabbitmq',
      LOSSLESS_RABBITMQ_URL: 'amqp://h:5672',
      LOSSLESS_PASSWORD: SECRET,
    };
    const c = resolveConnection(flags(['--username', 'app']), env);
    expect(c).toEqual({
      adapter: 'rabbitmq',
      options: { urls: ['amqp://h:5672'], auth: { username: 'app', password: SECRET } },
    });
    const dir = mkdtempSync(join(tmpdir(), 'lossless-cli-'));
    const file = join(dir, 'pw');
    writeFileSync(file, `${SECRET}\n`);
    const k = resolveConnection(
      flags(['--adapter', 'kafka', '--brokers', 'a:9092', '--username', 'u', '--password-file', file]),
      {},
    );
    expect(k.options).toMatchObject({
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: SECRET },
    });
    for (const args of [['--password', SECRET], [`--password=${SECRET}`], ['--secret-key', SECRET]]) {
      const e = thrown(() => flags(args));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).not.toContain(SECRET);
      expect(e.message).toMatch(/LOSSLESS_(PASSWORD|SECRET_KEY)/);
    }
  });

  it('refuses unknown flags, a bad adapter, a missing password and foreign flags, with no secret in the error', () => {
    const unknown = thrown(() => flags([`--pasword=${SECRET}`]));
    expect(unknown.message).toContain('--pasword');
    expect(unknown.message).not.toContain(SECRET);
    expect(exitCodeOf(unknown)).toBe(2);
    const bad = thrown(() => resolveConnection({ adapter: 'activemq' }, {}));
    expect(bad.message).toContain('rabbitmq, kafka, rocketmq');
    expect(thrown(() => resolveConnection({}, {})).code).toBe('INVALID_ARGUMENT');
    const noPassword = thrown(() =>
      resolveConnection({ adapter: 'rabbitmq', url: ['amqp://h:5672'], username: 'app' }, {}),
    );
    expect(noPassword.message).toContain('LOSSLESS_PASSWORD');
    const foreign = thrown(() =>
      resolveConnection(
        { adapter: 'rabbitmq', url: ['amqp://h'], brokers: 'x:9092' },
        { LOSSLESS_PASSWORD: SECRET },
      ),
    );
    expect(foreign.message).toContain('--brokers');
    const rocket = thrown(() =>
      resolveConnection({ adapter: 'rocketmq', endpoints: 'p:1', namesrv: 'n:2', 'access-key': 'ak' }, {}),
    );
    expect(rocket.message).toContain('LOSSLESS_SECRET_KEY');
    const missingFile = thrown(() =>
      resolveConnection(
        { adapter: 'kafka', brokers: 'a:1', username: 'u', 'password-file': '/nonexistent/pw' },
        {},
      ),
    );
    expect(missingFile.message).toContain('/nonexistent/pw');
    for (const e of [unknown, bad, noPassword, foreign, rocket, missingFile]) {
      expect(e.message).not.toContain(SECRET);
      expect(JSON.stringify(e)).not.toContain(SECRET);
    }
  });
});

describe('dlq options and filters', () => {
  it('rejects unknown option keys and bad regexes before connecting', async () => {
    const c = resolveConnection({ adapter: 'kafka', brokers: '127.0.0.1:1' }, {});
    const unknown = await rejected(listDeadLetters(c, { topc: 'x' } as never));
    expect(unknown.code).toBe('INVALID_ARGUMENT');
    expect(unknown.message).toContain('topc');
    const regex = await rejected(redriveDeadLetters(c, { topic: 't', subscription: 's', filterError: '(' }));
    expect(regex.code).toBe('INVALID_ARGUMENT');
    expect(thrown(() => compileErrorFilter('a'.repeat(501))).code).toBe('INVALID_ARGUMENT');
  });

  it('does not wedge on a catastrophically backtracking pattern', () => {
    const f = compileErrorFilter('^(a+)+$');
    const started = Date.now();
    expect(f.test(`${'a'.repeat(40)}b`)).toBe('timeout');
    expect(f.test(`${'a'.repeat(5_000)}b`)).toBe('match'); // only the first 4,096 characters are tested
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(compileErrorFilter('boom-\\d+').test('Error: boom-42')).toBe('match');
  });

  it('previews bodies with non-printable bytes escaped', () => {
    expect(preview(new Uint8Array([0x61, 0x0a, 0x00, 0xff, 0x5c]))).toBe('a\\n\\x00\\xff\\\\');
    expect(preview(new Uint8Array(100).fill(0x41))).toBe(`${'A'.repeat(80)}…`);
  });
});
