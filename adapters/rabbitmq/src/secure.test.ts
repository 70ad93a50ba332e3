// Integration tests of TLS and authentication against the kit's secured RabbitMQ node (5686: TLS only, client
// certificate required, users lossless-admin and lossless-limited). What the conformance security group (S1–S7)
// does not prove: EXTERNAL and AMQPLAIN logins, a certificate whose CN is no user, the option checks that need a
// broker to mean anything, the "verification off" warning, and dead-lettering by a user with rights on its own
// names only. The fixture is left up: the secured conformance run uses it after this file.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rabbitmq as rabbitmqBroker, type SecureSettings } from '@lossless/brokers';
import { type Bus, connect, type Delivery, ErrorCode, type Logger, silentLogger } from '@lossless/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RabbitMqDriverOptions } from './options.js';
import { rabbitmq } from './rabbitmq-driver.js';

const run = promisify(execFile);
const broker = rabbitmqBroker({ secure: true });
let security: SecureSettings;
let url: string;
let ca: string;
let cert: string;
let key: string;
const buses: Bus[] = [];

let counter = 0;
/** A topic name the limited user has rights on, unique to this run. */
function granted(what: string): string {
  counter += 1;
  return `${security.limitedPrefix}-${what}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

async function open(options: Omit<RabbitMqDriverOptions, 'url'>): Promise<Bus> {
  const bus = await connect(rabbitmq({ url, logger: silentLogger, ...options }), {
    logger: silentLogger,
    connectTimeoutMs: 10_000,
  });
  buses.push(bus);
  return bus;
}

const admin = () => ({
  auth: { username: security.admin.username, password: security.admin.password },
  tls: { ca, cert, key, servername: security.servername },
});

/** How a connect attempt ends: the error code and how long it took. */
async function refusal(
  options: Omit<RabbitMqDriverOptions, 'url'>,
): Promise<{ code: string; ms: number; text: string }> {
  const started = Date.now();
  try {
    await open(options);
  } catch (error) {
    const e = error as Error & { code: string };
    return { code: e.code, ms: Date.now() - started, text: `${e.message}\n${e.stack}` };
  }
  throw new Error('connected');
}

/** Publishes ids and resolves once `bus` consumed all of them from `topic`/`sub` (deadLetters: that queue). */
async function roundTrip(bus: Bus, topic: string, ids: readonly string[]): Promise<string[]> {
  for (const id of ids) await bus.publish(topic, { id, body: id });
  const seen: string[] = [];
  const sub = await bus.subscribe(topic, 's', (d: Delivery) => {
    seen.push(d.id);
  });
  await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(ids.length);
  await sub.close();
  return seen;
}

describe('rabbitmq driver against a broker that requires TLS and authentication', () => {
  beforeAll(async () => {
    await broker.up();
    const found = broker.settings.security;
    const first = broker.settings.urls[0];
    if (!found || !first) throw new Error('the secured fixture reports no security settings');
    security = found;
    url = first;
    ca = readFileSync(security.caFile, 'utf8');
    cert = readFileSync(security.clientCertFile, 'utf8');
    key = readFileSync(security.clientKeyFile, 'utf8');
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled(buses.map((b) => b.close()));
  });

  it('logs in with EXTERNAL (the client certificate CN) and with AMQPLAIN, and publishes and consumes', async () => {
    const bus = await open(admin());
    const topic = granted('external');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
    const external = await open({ auth: { mechanism: 'external' }, tls: { ca, cert, key } });
    expect(await roundTrip(external, topic, ['e1', 'e2', 'e3'])).toEqual(['e1', 'e2', 'e3']);
    const amqplain = await open({ ...admin(), auth: { ...admin().auth, mechanism: 'amqplain' } });
    expect(await roundTrip(amqplain, topic, ['a1', 'a2'])).toEqual(['a1', 'a2']);
  });

  it('refuses EXTERNAL with a certificate whose CN is no user: PERMISSION_DENIED at once', async () => {
    // A certificate from the kit's own CA (so TLS accepts it) for a name that is not a RabbitMQ user.
    const dir = mkdtempSync(join(tmpdir(), 'lossless-cn-'));
    try {
      const caDir = join(security.caFile, '..');
      writeFileSync(join(dir, 'ext'), 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
      await run(
        'openssl',
        [
          'req',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          'k.pem',
          '-out',
          'c.csr',
          '-subj',
          '/CN=nobody-here',
        ],
        { cwd: dir },
      );
      await run(
        'openssl',
        [
          'x509',
          '-req',
          '-in',
          'c.csr',
          '-CA',
          join(caDir, 'ca.crt'),
          '-CAkey',
          join(caDir, 'ca.key'),
          '-set_serial',
          '4242',
          '-days',
          '1',
          '-out',
          'c.pem',
          '-extfile',
          'ext',
        ],
        { cwd: dir },
      );
      const nobody = {
        cert: readFileSync(join(dir, 'c.pem'), 'utf8'),
        key: readFileSync(join(dir, 'k.pem'), 'utf8'),
      };
      const r = await refusal({ auth: { mechanism: 'external' }, tls: { ca, ...nobody } });
      expect(r.code).toBe(ErrorCode.PERMISSION_DENIED);
      expect(r.ms).toBeLessThan(5_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a connection without a client certificate: PERMISSION_DENIED, saying to give tls.cert', async () => {
    const r = await refusal({ auth: admin().auth, tls: { ca } });
    expect(r.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(r.text).toMatch(/client certificate/);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.text).not.toContain(security.admin.password);
  });

  it('answers a plaintext amqp:// client on the TLS port with INVALID_ARGUMENT that says to use amqps://', async () => {
    const r = await refusal({
      url: url.replace('amqps:', 'amqp:'),
      auth: admin().auth,
    } as RabbitMqDriverOptions);
    expect(r.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(r.text).toMatch(/TLS port, use amqps:\/\//);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.text).not.toContain(security.admin.password);
  });

  it('checks the options: EXTERNAL needs tls.cert, tls needs amqps://', () => {
    expect(() => rabbitmq({ url, auth: { mechanism: 'external' }, tls: { ca } })).toThrow(
      /needs a client certificate/,
    );
    expect(() => rabbitmq({ url: url.replace('amqps:', 'amqp:'), tls: { ca } })).toThrow(
      /amqp:\/\/ \(plaintext/,
    );
  });

  it('logs the "verification off" warning once when rejectUnauthorized is false, and then connects unverified', async () => {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const driver = rabbitmq({
      url,
      logger,
      auth: admin().auth,
      // The impostor CA did not sign the broker's certificate: only switching verification off lets this in.
      tls: { ca: readFileSync(security.impostorCaFile, 'utf8'), cert, key, rejectUnauthorized: false },
    });
    const bus = await connect(driver, { logger: silentLogger });
    buses.push(bus);
    const topic = granted('unverified');
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
    await bus.publish(topic, { id: 'u1', body: 'x' });
    expect(warnings.filter((w) => /rejectUnauthorized is false/.test(w))).toHaveLength(1);
  });

  it('refuses the limited user a subscription outside its prefix once, with nothing retrying behind it', async () => {
    const bus = await open(admin());
    const topic = `closed-${granted('x')}`; // does not begin with the prefix
    await bus.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
    const lines: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => lines.push(m), error: (m) => lines.push(m) };
    const limited = await connect(
      rabbitmq({
        url,
        logger,
        auth: { username: security.limited.username, password: security.limited.password },
        tls: { ca, cert, key },
      }),
      { logger: silentLogger },
    );
    buses.push(limited);
    await expect(limited.subscribe(topic, 's', () => {})).rejects.toMatchObject({
      code: ErrorCode.PERMISSION_DENIED,
    });
    await new Promise((r) => setTimeout(r, 2_000));
    // At most the channel's own close line; no "re-subscribing … failed (will retry)".
    expect(lines.filter((l) => /re-subscribing/.test(l))).toEqual([]);
    expect(lines.length).toBeLessThanOrEqual(1);
  });

  it('lets the limited user dead-letter on its own subscription (through its dead-letter exchange)', async () => {
    const bus = await open(admin());
    const topic = granted('dlq');
    await bus.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: 's', topic, maxDeliveries: 1, deadLetter: true }],
    });
    await bus.publish(topic, { id: 'poison', body: 'bad' });
    const limited = await open({
      auth: { username: security.limited.username, password: security.limited.password },
      tls: { ca, cert, key, servername: security.servername },
    });
    const errors: string[] = [];
    const live = await limited.subscribe(
      topic,
      's',
      () => {
        throw new Error('cannot handle this');
      },
      // This bus did not declare the subscription: it says what the admin declared.
      { maxDeliveries: 1, deadLetter: true, onError: (e) => errors.push(`${e.code} ${e.message}`) },
    );
    const dead: string[] = [];
    const dlq = await bus.subscribe(
      topic,
      's',
      (d) => {
        dead.push(d.id);
      },
      { deadLetters: true },
    );
    await expect.poll(() => dead, { timeout: 15_000 }).toEqual(['poison']);
    // The handler's own failure, once; no refused dead-letter copy (which would redeliver and fail again).
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/cannot handle this/);
    await live.close();
    await dlq.close();
  });
});
