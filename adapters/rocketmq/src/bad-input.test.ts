// No broker needed. Bad options are INVALID_ARGUMENT naming the key, and a recognisable secret in any of them
// appears nowhere (message, stack, util.inspect, causes, logs); the error table maps the proxy's and the
// broker's authentication and authorisation codes to PERMISSION_DENIED (not retriable); and a connect() refused
// that way ends at once, not at its deadline — shown against a fake gRPC proxy that answers every route query
// with the refusal (the kit runs RocketMQ without ACL; ACL fixtures come with the TLS/SASL issue).
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { connect, isLosslessError, type Logger, silentLogger } from '@lossless/core';
import { remotingErrorRow } from '@lossless/rocketmq-admin';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyNative, ERROR_TABLE } from './error-table.js';
import { MAX_DELIVERABLE_BYTES } from './options.js';
import { rocketmq } from './rocketmq-driver.js';

// The client's own grpc-js and generated service (a fake proxy needs the same wire format).
const clientRequire = createRequire(createRequire(import.meta.url).resolve('rocketmq-client-nodejs'));
const grpc = clientRequire('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const service = clientRequire('../proto/apache/rocketmq/v2/service_grpc_pb') as {
  MessagingServiceService: import('@grpc/grpc-js').ServiceDefinition;
};
const servicePb = clientRequire('../proto/apache/rocketmq/v2/service_pb') as {
  QueryRouteResponse: new () => { setStatus(s: unknown): unknown };
};
const definitionPb = clientRequire('../proto/apache/rocketmq/v2/definition_pb') as {
  Status: new () => { setCode(c: number): { setMessage(m: string): unknown } };
};
const exceptions = clientRequire('./exception') as Record<string, new (...args: unknown[]) => Error>;

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

const BASE = { endpoints: '127.0.0.1:18081', namesrv: '127.0.0.1:19876' };

describe('rocketmq() options', () => {
  const bad: Array<[string, unknown]> = [
    [
      'ACL credentials (not supported yet)',
      { ...BASE, sessionCredentials: { accessKey: 'ak', accessSecret: SECRET } },
    ],
    ['a secret in a misspelt key', { ...BASE, acessSecret: SECRET }],
    ['user info in the endpoints', { ...BASE, endpoints: `ak:${SECRET}@127.0.0.1:18081` }],
    ['a URL as the name server', { ...BASE, namesrv: `http://ak:${ENCODED}@127.0.0.1:9876` }],
    ['a password in a ;-list', { ...BASE, endpoints: `127.0.0.1:18081;${SECRET}` }],
    ['a secret as a wrong type', { ...BASE, namesrv: [SECRET] }],
    ['a secret as the host', { ...BASE, namesrv: `${SECRET}:9876` }],
    ['a token in the query of an endpoint', { ...BASE, endpoints: `127.0.0.1:1?token=${SECRET}` }],
    ['no endpoints', { namesrv: BASE.namesrv }],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with INVALID_ARGUMENT that shows no secret`, () => {
      const error = thrown(() => rocketmq(options as never));
      expect(isLosslessError(error)).toBe(true);
      expect((error as { code: string }).code).toBe('INVALID_ARGUMENT');
      expect((error as { broker?: string }).broker).toBe('rocketmq');
      expectClean(exposed(error));
    });
  }

  it('names an unknown key and the closest valid one', () => {
    const error = thrown(() => rocketmq({ ...BASE, namespaces: 'x' } as never)) as Error;
    expect(error.message).toMatch(/unknown option 'namespaces' \(did you mean 'namespace'\?\)/);
  });

  it('checks numbers for type, integer-ness, sign and range', () => {
    for (const [key, value] of [
      ['invisibleDurationMs', 9_999],
      ['invisibleDurationMs', '30000'],
      ['awaitDurationMs', 1.5],
      ['requestTimeoutMs', -5],
      ['maxMessageBytes', Number.NaN],
      ['replicated', 'false'],
      ['cluster', ''],
    ] as const) {
      const error = thrown(() => rocketmq({ ...BASE, [key]: value } as never)) as Error;
      expect((error as { code?: string }).code, `${key}=${String(value)}`).toBe('INVALID_ARGUMENT');
      expect(error.message).toContain(key);
    }
  });

  it('takes undefined as absent: the default applies', () => {
    // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
    const driver = rocketmq({ ...BASE, cluster: undefined, maxMessageBytes: undefined, logger: undefined });
    expect(driver.capabilities.maxMessageBytes).toBe(MAX_DELIVERABLE_BYTES);
  });
});

describe('rocketmq error table: authentication and authorisation', () => {
  for (const [name, code] of [
    ['UnauthorizedException', 40100],
    ['PaymentRequiredException', 40200],
    ['ForbiddenException', 40300],
  ] as const) {
    it(`maps the client's ${name} (${code}) to PERMISSION_DENIED, not retriable`, () => {
      const Exception = exceptions[name]!;
      const native = new Exception(code, 'refused by ACL', 'req-1');
      const mapped = classifyNative(native, { topic: 'orders' });
      expect(mapped?.code).toBe('PERMISSION_DENIED');
      expect(mapped?.retriable).toBe(false);
      expect(mapped?.message).toContain('refused by ACL');
      // The client wraps startup failures: the cause chain is searched.
      const wrapped = new Error('Startup the rocketmq client failed', { cause: native });
      expect(classifyNative(wrapped)?.code).toBe('PERMISSION_DENIED');
    });
  }

  it('maps gRPC UNAUTHENTICATED (16) and PERMISSION_DENIED (7), and remoting NO_PERMISSION (16)', () => {
    for (const code of [16, 7]) {
      const grpcError = Object.assign(new Error(`${code} refused`), { code });
      expect(classifyNative(grpcError)?.code).toBe('PERMISSION_DENIED');
    }
    expect(ERROR_TABLE.get('remoting:16')?.code).toBe('PERMISSION_DENIED');
    expect(remotingErrorRow(16).code).toBe('PERMISSION_DENIED');
    expect(ERROR_TABLE.get(40001)?.code).toBe('INVALID_ARGUMENT');
  });
});

/** A fake RocketMQ 5 proxy answering every route query with `code`; counts the queries. */
async function refusingProxy(
  code: number,
): Promise<{ server: import('@grpc/grpc-js').Server; port: number; calls: () => number }> {
  let calls = 0;
  const server = new grpc.Server();
  const refuse = (_call: unknown, callback: (e: null, r: unknown) => void) => {
    calls += 1;
    const response = new servicePb.QueryRouteResponse();
    response.setStatus(
      new definitionPb.Status().setCode(code).setMessage(`refused (${code}) by the fake proxy`),
    );
    callback(null, response);
  };
  const handlers: Record<string, unknown> = {};
  for (const method of Object.keys(service.MessagingServiceService)) {
    handlers[method] = (_c: unknown, cb: (e: { code: number }) => void) =>
      cb?.({ code: grpc.status.UNIMPLEMENTED });
  }
  handlers.queryRoute = refuse;
  server.addService(service.MessagingServiceService, handlers as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { server, port, calls: () => calls };
}

describe('rocketmq driver: a refused connect ends at once', () => {
  const servers: Array<import('@grpc/grpc-js').Server> = [];
  afterAll(() => {
    for (const s of servers) s.forceShutdown();
  });

  for (const [what, code] of [['UNAUTHORIZED', 40100]] as const) {
    it(`${what} (${code}) at connect is PERMISSION_DENIED within 2 s, not UNAVAILABLE at the 10 s deadline`, async () => {
      const fake = await refusingProxy(code);
      servers.push(fake.server);
      const lines: string[] = [];
      const at = (level: string) => (m: string, meta?: unknown) => {
        lines.push(`${level} ${m} ${inspect(meta, { depth: 10 })}`);
      };
      const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
      const started = Date.now();
      const error = await connect(
        rocketmq({ endpoints: `127.0.0.1:${fake.port}`, namesrv: '127.0.0.1:1', logger }),
        { connectTimeoutMs: 10_000, logger },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      const ms = Date.now() - started;
      expect((error as { code?: string }).code).toBe('PERMISSION_DENIED');
      expect((error as { retriable?: boolean }).retriable).toBe(false);
      expect((error as Error).message).toContain(`refused (${code}) by the fake proxy`);
      expect(ms).toBeLessThan(2_000);
      expect(fake.calls()).toBe(1);
      expectClean([...exposed(error), ...lines]);
    });
  }

  // FORBIDDEN on connect's probe (a route query for a topic that does not exist) says the proxy authenticated the
  // caller and its ACL does not cover that topic — true of every user with limited rights, whose credentials are
  // good: connect() succeeds, and the refusal comes on the call that needs the right, at once.
  it('FORBIDDEN (40300) at connect proves the credentials; the publish that needs the right is PERMISSION_DENIED at once', async () => {
    const fake = await refusingProxy(40300);
    servers.push(fake.server);
    const bus = await connect(
      rocketmq({ endpoints: `127.0.0.1:${fake.port}`, namesrv: '127.0.0.1:1', logger: silentLogger }),
      { connectTimeoutMs: 10_000, logger: silentLogger },
    );
    try {
      expect(fake.calls()).toBe(1);
      const started = Date.now();
      const error = await bus.publish('forbidden-topic', { body: 'x' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as { code?: string }).code).toBe('PERMISSION_DENIED');
      expect(Date.now() - started).toBeLessThan(2_000);
      expectClean(exposed(error));
    } finally {
      await bus.close();
    }
  });
});
