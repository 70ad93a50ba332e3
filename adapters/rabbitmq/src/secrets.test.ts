// No broker needed: a recognisable secret in every place a RabbitMQ secret can go (URL passwords, parseable or
// not, unknown option keys, wrong types) must appear nowhere — not in the error's message, stack,
// util.inspect(depth 10), any cause, the health reason or a log line — and every bad option is INVALID_ARGUMENT.
import { inspect } from 'node:util';
import { connect, isLosslessError, type Logger } from '@lossless/core';
import { addressSecrets, REDACTED, redactAddress, Secrets } from '@lossless/core/driver';
import { describe, expect, it } from 'vitest';
import { rabbitmq } from './rabbitmq-driver.js';

const SECRET = 'S3cr3t-#-lossless';
const ENCODED = encodeURIComponent(SECRET); // S3cr3t-%23-lossless
const FORMS = [SECRET, ENCODED, 'S3cr3t-'];

/** Every text an error exposes: message, stack, util.inspect, and the same for each cause. */
function exposed(error: unknown): string[] {
  const out = [inspect(error, { depth: 10 }), inspect(error, { depth: 10, showHidden: true })];
  let e: unknown = error;
  for (let depth = 0; depth < 10 && e !== undefined && e !== null; depth++) {
    if (e instanceof Error) out.push(e.message, e.stack ?? '');
    else out.push(String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function expectClean(texts: readonly string[]): void {
  for (const text of texts) for (const form of FORMS) expect(text).not.toContain(form);
}

function capture(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, meta?: Record<string, unknown>): void => {
      lines.push(`${level} ${message} ${meta === undefined ? '' : inspect(meta, { depth: 10 })}`);
    };
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('rabbitmq() options', () => {
  const bad: Array<[string, unknown]> = [
    ['an unencoded # in the password', { url: `amqp://app:${SECRET}@localhost:5672/` }],
    [
      'an unencoded # in a urls entry',
      { urls: ['amqp://a:b@localhost:5672', `amqp://app:${SECRET}@mq2:5672`] },
    ],
    ['no host at all', { url: `amqp://app:${ENCODED}` }],
    ['an @ after the host', { url: `amqp://app/${ENCODED}@localhost:5672/` }],
    ['a password as the url', { url: ENCODED }],
    ['another scheme', { url: `http://app:${ENCODED}@localhost:5672/` }],
    ['bad percent-encoding', { url: `amqp://app:${ENCODED}%zz@localhost:5672/` }],
    ['a heartbeat amqplib would send as NaN', { url: `amqp://app:${ENCODED}@localhost/?heartbeat=abc` }],
    ['a frame size below the AMQP minimum', { url: `amqp://app:${ENCODED}@localhost/?frameMax=1` }],
    ['an unknown query parameter holding a secret', { url: `amqp://app:x@localhost/?pw=${ENCODED}` }],
    ['a query after a URL that does not parse', { url: `amqp://app:${SECRET}@localhost/?pw=${ENCODED}` }],
    ['a secret in an unknown key', { url: 'amqp://localhost', password: SECRET }],
    [
      'a URL string where the urls array belongs',
      { urls: `amqp://averyveryverylongusername:${ENCODED}@localhost` },
    ],
    ['a secret as the host', { url: `amqp://${ENCODED}:5672/` }],
    ['a URL longer than 4096 characters', { url: `amqp://u:${ENCODED}@${'h'.repeat(5_000)}` }],
    ['a secret as a wrong type', { url: [SECRET] }],
    ['a secret as a urls entry of a wrong type', { urls: [{ password: SECRET }] }],
    ['url and urls', { url: `amqp://app:${ENCODED}@localhost`, urls: [`amqp://app:${ENCODED}@localhost`] }],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with INVALID_ARGUMENT that shows no secret`, () => {
      const error = thrown(() => rabbitmq(options as never));
      expect(isLosslessError(error)).toBe(true);
      expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((error as { broker?: string }).broker).toBe('rabbitmq');
      expectClean(exposed(error));
    });
  }

  it('names an unknown key and the closest valid one', () => {
    const error = thrown(() => rabbitmq({ url: 'amqp://localhost', heartbeatSecond: 5 } as never)) as Error;
    expect(error.message).toMatch(/unknown option 'heartbeatSecond' \(did you mean 'heartbeatSeconds'\?\)/);
  });

  it('checks numbers for type, integer-ness, sign and range, and enums for their values', () => {
    for (const [key, value] of [
      ['heartbeatSeconds', '5'],
      ['heartbeatSeconds', 1.5],
      ['connectAttemptTimeoutMs', -1],
      ['connectAttemptTimeoutMs', 0],
      ['maxMessageBytes', Number.POSITIVE_INFINITY],
      ['maxMessageBytes', Number.NaN],
      ['reconnectMaxDelayMs', 10_000_000],
      ['replicated', 'yes'],
      ['defaultQueueType', 'quorom'],
      ['connectionName', ''],
      ['logger', { warn: () => {} }],
    ] as const) {
      const error = thrown(() => rabbitmq({ url: 'amqp://localhost', [key]: value } as never)) as Error;
      expect((error as { code?: string }).code, `${key}=${String(value)}`).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(key);
    }
    const enumError = thrown(() =>
      rabbitmq({ url: 'amqp://localhost', defaultQueueType: 'quorom' } as never),
    );
    expect((enumError as Error).message).toContain("did you mean 'quorum'");
  });

  it('takes undefined as absent: the default applies', () => {
    // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
    const driver = rabbitmq({
      url: 'amqp://localhost',
      urls: undefined,
      heartbeatSeconds: undefined,
      maxMessageBytes: undefined,
      logger: undefined,
    });
    expect(driver.capabilities.maxMessageBytes).toBe(16 * 1024 * 1024);
  });

  it('accepts a percent-encoded # in the password and never shows it', () => {
    const driver = rabbitmq({ url: `amqp://app:${ENCODED}@localhost:5672/` });
    expect(driver.health().state).toBe('connecting');
    expectClean([JSON.stringify(driver.health()), String(driver.connectedUrl)]);
  });
});

describe('rabbitmq driver: no secret in connect failures, health or logs', () => {
  it('an unreachable node: UNAVAILABLE whose message, stack, inspect, causes and logs hold no password', async () => {
    const { logger, lines } = capture();
    // Port 1 on loopback: connection refused at once.
    const driver = rabbitmq({
      urls: [`amqp://app:${ENCODED}@127.0.0.1:1/vh`, `amqp://app:${ENCODED}@127.0.0.1:2/vh`],
      logger,
      reconnectMaxDelayMs: 50,
    });
    const error = await connect(driver, { connectTimeoutMs: 600, logger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { code?: string }).code).toBe('UNAVAILABLE');
    // The driver's own view names the node it tried, redacted.
    const fresh = rabbitmq({ url: `amqp://app:${ENCODED}@127.0.0.1:1/vh`, logger, reconnectMaxDelayMs: 50 });
    const direct = await fresh.connect(AbortSignal.timeout(300)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((direct as { code?: string }).code).toBe('UNAVAILABLE');
    expect((direct as Error).message).toContain(`amqp://app:${REDACTED}@127.0.0.1:1/vh`);
    expectClean([...exposed(direct), JSON.stringify(fresh.health())]);
    expect(fresh.health().reason).toContain(`amqp://app:${REDACTED}@127.0.0.1:`);
    expectClean([...exposed(error), ...lines, JSON.stringify(driver.health())]);
  });
});

describe('Secrets', () => {
  it('scrubs a secret from message, stack, own properties and the cause chain, keeping the prototype', () => {
    const inner = Object.assign(new TypeError(`bad ${SECRET}`), { code: 'EX', url: `amqp://u:${ENCODED}@h` });
    const outer = new Error(`wrapped: ${ENCODED}`, { cause: { detail: [SECRET], deeper: inner } });
    const secrets = new Secrets(addressSecrets(`amqp://u:${ENCODED}@h`));
    const clean = secrets.scrub(outer);
    expect(clean).not.toBe(outer);
    expect(clean).toBeInstanceOf(Error);
    expectClean(exposed(clean));
    const cause = clean.cause as { deeper: TypeError & { code: string } };
    expect(cause.deeper).toBeInstanceOf(TypeError);
    expect(cause.deeper.code).toBe('EX');
    const untouched = new Error('nothing secret here');
    expect(secrets.scrub(untouched)).toBe(untouched);
  });

  it('redacts the user info of addresses that do not parse', () => {
    expect(redactAddress(`amqp://app:${SECRET}@localhost:5672/`)).toBe(`amqp://${REDACTED}@localhost:5672/`);
    expect(redactAddress(`amqp://app:${ENCODED}@localhost:5672/vh`)).toBe(
      `amqp://app:${REDACTED}@localhost:5672/vh`,
    );
    expect(redactAddress(`amqp://app:${ENCODED}`)).toBe(`amqp://app:${REDACTED}`);
    expect(addressSecrets(`amqp://app:${SECRET}@localhost`)).toContain(SECRET);
  });
});
