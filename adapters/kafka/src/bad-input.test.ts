// No broker needed. Bad options are INVALID_ARGUMENT naming the key, and a recognisable secret in any of them
// appears nowhere (message, stack, util.inspect, causes, logs); the error table maps Kafka's authentication and
// authorisation errors to PERMISSION_DENIED (not retriable); and a connect() refused that way ends at once, not at
// its deadline — shown against a fake broker that answers ApiVersions with the refusal (secure.test.ts and the
// conformance security group prove the same against the kit's secured node).
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { inspect } from 'node:util';
import { connect, isLosslessError, type Logger } from '@lossless/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyNative, ERROR_TABLE } from './error-table.js';
import { kafka } from './kafka-driver.js';

const require = createRequire(import.meta.url);
type ErrorClass = new (...args: unknown[]) => Error;
const { KafkaJSProtocolError, KafkaJSNonRetriableError, KafkaJSSASLAuthenticationError } =
  require('kafkajs/src/errors') as Record<
    'KafkaJSProtocolError' | 'KafkaJSNonRetriableError' | 'KafkaJSSASLAuthenticationError',
    ErrorClass
  >;
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as {
  createErrorFromCode(code: number): Error;
};

const SECRET = 'S3cr3t-#-lossless';
const ENCODED = encodeURIComponent(SECRET);
const FORMS = [SECRET, ENCODED];

function exposed(error: unknown): string[] {
  const out = [inspect(error, { depth: 10 }), inspect(error, { depth: 10, showHidden: true })];
  let e: unknown = error;
  for (let depth = 0; depth < 10 && e !== undefined && e !== null; depth++) {
    out.push(e instanceof Error ? `${e.message}\n${e.stack}` : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function expectClean(texts: readonly string[]): void {
  for (const text of texts) for (const form of FORMS) expect(text).not.toContain(form);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('kafka() options', () => {
  const bad: Array<[string, unknown]> = [
    [
      'a SASL password in a misspelt key',
      { brokers: ['localhost:9092'], sasl: { mechanism: 'plain', username: 'u', pasword: SECRET } },
    ],
    ['a secret as the SASL mechanism', { brokers: ['localhost:9092'], sasl: { mechanism: SECRET } }],
    [
      'a SASL password too long',
      {
        brokers: ['localhost:9092'],
        sasl: { mechanism: 'plain', username: 'u', password: SECRET.repeat(500) },
      },
    ],
    ['a TLS passphrase too long', { brokers: ['localhost:9092'], tls: { passphrase: SECRET.repeat(100) } }],
    ['a secret in a misspelt key', { brokers: ['localhost:9092'], pasword: SECRET }],
    ['user info in a broker address', { brokers: [`app:${SECRET}@localhost:9092`] }],
    ['a URL as a broker address', { brokers: [`kafka://app:${ENCODED}@localhost:9092`] }],
    ['a password as a broker address', { brokers: ['localhost:9092', SECRET] }],
    ['a secret as a wrong type', { brokers: [{ password: SECRET }] }],
    ['a secret where the broker array belongs', { brokers: SECRET }],
    ['a secret as the host', { brokers: [`${SECRET}:9092`] }],
    ['a client id of a wrong length', { brokers: ['localhost:9092'], clientId: 'x'.repeat(300) }],
    ['no brokers at all', { clientId: 'x' }],
    ['an empty broker list', { brokers: [] }],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with INVALID_ARGUMENT that shows no secret`, () => {
      const error = thrown(() => kafka(options as never));
      expect(isLosslessError(error)).toBe(true);
      expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((error as { broker?: string }).broker).toBe('kafka');
      expectClean(exposed(error));
    });
  }

  it('names an unknown key and the closest valid one', () => {
    const error = thrown(() => kafka({ brokers: ['localhost:9092'], requestTimout: 5 } as never)) as Error;
    expect(error.message).toMatch(/unknown option 'requestTimout' \(did you mean 'requestTimeout'\?\)/);
  });

  it('checks numbers for type, integer-ness, sign and range', () => {
    for (const [key, value] of [
      ['connectionTimeout', '3000'],
      ['requestTimeout', 1.5],
      ['defaultPartitions', 0],
      ['defaultReplicationFactor', -1],
      ['maxMessageBytes', Number.NaN],
      ['sessionTimeout', Number.POSITIVE_INFINITY],
      ['replicated', 1],
      ['socketFactory', 'net'],
      ['logger', console.log],
    ] as const) {
      const error = thrown(() => kafka({ brokers: ['localhost:9092'], [key]: value } as never)) as Error;
      expect((error as { code?: string }).code, `${key}=${String(value)}`).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(key);
    }
  });

  it('takes undefined as absent and keeps the cross-field checks', () => {
    // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
    const driver = kafka({ brokers: ['localhost:9092'], clientId: undefined, sessionTimeout: undefined });
    expect(driver.capabilities.maxMessageBytes).toBeGreaterThan(0);
    const error = thrown(() => kafka({ brokers: ['localhost:9092'], heartbeatInterval: 10_000 })) as Error;
    expect(error.message).toContain('heartbeatInterval (10000) must be below sessionTimeout (10000)');
  });
});

describe('kafka error table: authentication and authorisation', () => {
  const refusals: Array<[string, number]> = [
    ['TOPIC_AUTHORIZATION_FAILED', 29],
    ['GROUP_AUTHORIZATION_FAILED', 30],
    ['CLUSTER_AUTHORIZATION_FAILED', 31],
    ['UNSUPPORTED_SASL_MECHANISM', 33],
    ['ILLEGAL_SASL_STATE', 34],
    ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53],
    ['SASL_AUTHENTICATION_FAILED', 58],
    ['DELEGATION_TOKEN_AUTH_DISABLED', 61],
    ['DELEGATION_TOKEN_NOT_FOUND', 62],
    ['DELEGATION_TOKEN_OWNER_MISMATCH', 63],
    ['DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', 64],
    ['DELEGATION_TOKEN_AUTHORIZATION_FAILED', 65],
    ['DELEGATION_TOKEN_EXPIRED', 66],
  ];
  for (const [type, code] of refusals) {
    it(`maps ${type} (${code}) to PERMISSION_DENIED, not retriable, also inside kafkajs's retry wrapper`, () => {
      const native = new KafkaJSProtocolError(createErrorFromCode(code));
      expect((native as unknown as { type: string }).type).toBe(type);
      expect(ERROR_TABLE.get(type)?.code).toBe('PERMISSION_DENIED');
      for (const error of [native, new KafkaJSNonRetriableError(native, { cause: native })]) {
        const mapped = classifyNative(error, { topic: 'orders', doing: "publishing to topic 'orders'" });
        expect(mapped?.code).toBe('PERMISSION_DENIED');
        expect(mapped?.retriable).toBe(false);
        expect(mapped?.topic).toBe('orders');
        expect(mapped?.cause).toBe(error);
      }
    });
  }

  it("maps kafkajs's own SASL failure to PERMISSION_DENIED with its reason", () => {
    const native = new KafkaJSSASLAuthenticationError(
      'SASL PLAIN authentication failed: Authentication failed',
    );
    const mapped = classifyNative(native);
    expect(mapped?.code).toBe('PERMISSION_DENIED');
    expect(mapped?.retriable).toBe(false);
    expect(mapped?.message).toContain('SASL PLAIN authentication failed');
  });
});

/**
 * A fake Kafka listener that answers every request like ApiVersions with `errorCode` (the first request kafkajs
 * sends on a connection), as a broker whose listener refuses the client would. Counts the connections.
 */
function refusingBroker(
  errorCode: number,
): Promise<{ server: Server; port: number; connections: () => number }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    let buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readInt32BE(0)) {
        const size = buffer.readInt32BE(0);
        const correlationId = buffer.readInt32BE(8);
        buffer = buffer.subarray(4 + size);
        const body = Buffer.alloc(4 + 2 + 4 + 4);
        body.writeInt32BE(correlationId, 0);
        body.writeInt16BE(errorCode, 4); // error_code
        body.writeInt32BE(0, 6); // api_keys: empty array
        body.writeInt32BE(0, 10); // throttle_time_ms
        const frame = Buffer.alloc(4);
        frame.writeInt32BE(body.length, 0);
        socket.write(Buffer.concat([frame, body]));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({
        server,
        port: typeof address === 'object' && address ? address.port : 0,
        connections: () => connections,
      });
    }),
  );
}

describe('kafka driver: a refused connect ends at once', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });
  let lines: string[];
  let logger: Logger;
  beforeAll(() => {
    lines = [];
    const at = (level: string) => (m: string, meta?: unknown) => {
      lines.push(`${level} ${m} ${inspect(meta, { depth: 10 })}`);
    };
    logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  });

  for (const [type, code] of [
    ['SASL_AUTHENTICATION_FAILED', 58],
    ['CLUSTER_AUTHORIZATION_FAILED', 31],
  ] as const) {
    it(`${type} at connect is PERMISSION_DENIED within 2 s, not UNAVAILABLE at the 10 s deadline`, async () => {
      const fake = await refusingBroker(code);
      servers.push(fake.server);
      const started = Date.now();
      const error = await connect(kafka({ brokers: [`127.0.0.1:${fake.port}`], logger }), {
        connectTimeoutMs: 10_000,
        logger,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const ms = Date.now() - started;
      expect((error as { code?: string }).code).toBe('PERMISSION_DENIED');
      expect((error as { retriable?: boolean }).retriable).toBe(false);
      expect((error as Error).message).toContain(type === 'SASL_AUTHENTICATION_FAILED' ? 'SASL' : 'Cluster');
      expect(ms).toBeLessThan(2_000);
      expectClean([...exposed(error), ...lines]);
    });
  }
});
