// Integration tests of the driver's `tls` and `sasl` options against the kit's secured KRaft node (SASL_SSL on
// 127.0.0.1:19292, SCRAM-SHA-512 users, ACLs, OAUTHBEARER with Kafka's unsecured validator): what the
// conformance security group (S1–S7) does not cover — how bad `sasl` options are refused, the one warning of
// `rejectUnauthorized: false`, and the OAuth token provider (a working one, and one that throws). The fixture is
// brought up here and left up: `npm run conformance -- --adapter kafka --secure` uses it next.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { kafka as kafkaBroker } from '@lossless/brokers';
import { type Bus, connect, isLosslessError, type Logger, silentLogger } from '@lossless/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafka } from './kafka-driver.js';
import type { KafkaDriverOptions } from './options.js';

const broker = kafkaBroker({ secure: true });
const { brokers } = broker.settings;
const security = broker.settings.security;
if (!security) throw new Error('the secured fixture has no security settings');
const buses: Bus[] = [];

let counter = 0;
function unique(what: string): string {
  counter += 1;
  return `${security?.limitedPrefix}-${what}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

function kitTls() {
  return { ca: readFileSync(security?.caFile ?? '', 'utf8'), servername: security?.servername ?? '' };
}

function adminOptions(extra: Partial<KafkaDriverOptions> = {}): KafkaDriverOptions {
  return {
    brokers,
    logger: silentLogger,
    tls: kitTls(),
    sasl: {
      mechanism: 'scram-sha-512',
      username: security?.admin.username ?? '',
      password: security?.admin.password ?? '',
    },
    ...extra,
  };
}

async function open(options: KafkaDriverOptions, connectTimeoutMs = 15_000): Promise<Bus> {
  const bus = await connect(kafka(options), { logger: silentLogger, connectTimeoutMs });
  buses.push(bus);
  return bus;
}

/** What a thrown value shows anywhere: message, stack, and util.inspect of the whole cause chain. */
function shown(error: unknown): string {
  return `${error instanceof Error ? `${error.message}\n${error.stack}` : String(error)}\n${inspect(error, { depth: 10 })}`;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** An unsigned JWT (`alg: none`) for principal `sub`, which the fixture's unsecured OAUTHBEARER validator takes. */
function unsecuredJwt(sub: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none' })}.${part({ sub, iat: now, exp: now + 3_600 })}.`;
}

beforeAll(async () => {
  await broker.up();
});

afterAll(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
});

describe('kafka driver: sasl and tls options', () => {
  it('refuses bad sasl options with INVALID_ARGUMENT that names the key and never the password', () => {
    const password = 'Secret-never-shown-123';
    const cases: [unknown, RegExp][] = [
      [
        { mechanism: 'scram-sha-512', usernme: 'u', password },
        /unknown option 'sasl.usernme'.*'sasl.username'/,
      ],
      [{ mechanism: 'scram-sha-1', username: 'u', password }, /sasl.mechanism must be one of/],
      [{ mechanism: 'plain', username: 'u' }, /sasl.password is required/],
      [{ mechanism: 'plain', username: 'u', password: undefined }, /sasl.password is required/],
      [{ mechanism: 'plain', password }, /sasl.username is required/],
      [{ mechanism: 'plain', username: 'u', password: 42 }, /sasl.password must be a string/],
      [{ mechanism: 'oauthbearer', username: 'u', password }, /unknown option 'sasl.username'/],
      [{ mechanism: 'oauthbearer' }, /sasl.oauthBearerProvider is required/],
      ['plain:u:pw', /sasl must be an object/],
    ];
    for (const [sasl, message] of cases) {
      const error = thrown(() => kafka({ brokers, sasl: sasl as never }));
      expect(isLosslessError(error) && error.code).toBe('INVALID_ARGUMENT');
      expect((error as Error).message).toMatch(message);
      expect(shown(error)).not.toContain(password);
    }
    // undefined is absent: no SASL at all (JavaScript callers can pass it; the types say "leave it out").
    expect(() => kafka({ brokers, sasl: undefined, tls: undefined } as never)).not.toThrow();
    const tls = thrown(() => kafka({ brokers, tls: { cert: 'x', rejectUnauthorised: false } as never }));
    expect((tls as Error).message).toMatch(/'tls.rejectUnauthorized'/);
    const half = thrown(() => kafka({ brokers, tls: { cert: '-----BEGIN CERTIFICATE-----' } }));
    expect((half as Error).message).toMatch(/tls.cert and tls.key go together/);
  });

  it('logs the rejectUnauthorized: false warning once, and still connects and publishes over TLS', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const admin = await open(adminOptions());
    const topic = unique('unverified');
    await admin.declare({ topics: [{ name: topic }] });
    const bus = await open(adminOptions({ logger, tls: { rejectUnauthorized: false } }));
    for (let i = 0; i < 3; i++) await bus.publish(topic, { id: `m${i}`, body: 'x' });
    expect(warnings.filter((w) => w.includes('rejectUnauthorized is false'))).toHaveLength(1);
  });

  it('logs in with an OAUTHBEARER token from the provider, and the principal it names has its rights only', async () => {
    const admin = await open(adminOptions());
    const topic = unique('oauth');
    await admin.declare({ topics: [{ name: topic }] });
    const token = unsecuredJwt(security.limited.username);
    let calls = 0;
    const bus = await open({
      brokers,
      logger: silentLogger,
      tls: kitTls(),
      sasl: {
        mechanism: 'oauthbearer',
        oauthBearerProvider: async () => {
          calls++;
          return { value: token };
        },
      },
    });
    await bus.publish(topic, { id: 'oauth-1', body: 'granted' });
    expect(calls).toBeGreaterThan(0);
    // The limited principal may not write outside its prefix: the token really named it.
    const closed = `open-${topic}`;
    await admin.declare({ topics: [{ name: closed }] });
    const refused = await bus.publish(closed, { id: 'oauth-2', body: 'refused' }).catch((e: unknown) => e);
    expect(isLosslessError(refused) && refused.code).toBe('PERMISSION_DENIED');
    expect(shown(refused)).not.toContain(token);
  });

  it('a token provider that throws is PERMISSION_DENIED at connect, fast, without its error text', async () => {
    const secret = 'eyJhbGciOiJub25lIn0.provider-secret-token-text';
    const started = Date.now();
    const error = await open(
      {
        brokers,
        logger: silentLogger,
        tls: kitTls(),
        sasl: {
          mechanism: 'oauthbearer',
          oauthBearerProvider: async () => {
            throw new Error(`could not refresh ${secret}`);
          },
        },
      },
      30_000,
    ).catch((e: unknown) => e);
    expect(isLosslessError(error) && error.code).toBe('PERMISSION_DENIED');
    expect(isLosslessError(error) && error.retriable).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((error as Error).message).toMatch(/oauthBearerProvider threw Error/);
    expect(shown(error)).not.toContain(secret);
  });
});
