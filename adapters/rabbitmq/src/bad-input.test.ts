// Hostile input is normal input, proven on the kit's single RabbitMQ node (5682, never the system node on 5672):
// bad credentials, an unknown user, an unknown virtual host and a vhost the user may not use end connect() at once
// with PERMISSION_DENIED / NOT_FOUND and the broker's reason; refused write and read permissions fail the publish
// or the subscribe that needed them; a classic queue re-declared with another maxDeliveries is a CONFLICT. Users,
// vhosts and permissions are made with rabbitmqctl against the kit's node and deleted afterwards.
import { inspect } from 'node:util';
import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { type Bus, connect, isLosslessError, silentLogger } from '@lossless/core';
import { connect as amqpConnect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmq } from './rabbitmq-driver.js';
import { queueName } from './topology.js';

const SECRET = 'S3cr3t-#-lossless';
const ENCODED = encodeURIComponent(SECRET);
const RIGHT = 'right-Pa55-lossless';
const tag = `${process.pid}-${Date.now().toString(36)}`;
const VHOST = `lossless-auth-${tag}`;
const LIMITED = `lossless-limited-${tag}`;
const OUTSIDER = `lossless-outsider-${tag}`;
// The limited user may configure nothing, write only to exchanges starting with "allow-", read only exchanges
// "allow-…" (to bind) and queues "allow-….ok-…".
const WRITE = '^allow-.*';
const READ = '^allow-[^.]+(\\.ok-.*)?$';

function exposed(error: unknown): string {
  const out = [inspect(error, { depth: 10 })];
  let e: unknown = error;
  for (let depth = 0; depth < 10 && e !== undefined && e !== null; depth++) {
    out.push(e instanceof Error ? `${e.message}\n${e.stack}` : String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return out.join('\n');
}

/** connect() of a fresh bus on `url`: the error and how long it took. */
async function failedConnect(url: string): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const driver = rabbitmq({ url, logger: silentLogger });
  try {
    const bus = await connect(driver, { connectTimeoutMs: 10_000, logger: silentLogger });
    await bus.close();
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
  throw new Error(`connect to ${url} succeeded`);
}

describe('rabbitmq driver: bad credentials, refused permissions and conflicting declarations', () => {
  const broker = rabbitmqBroker({ nodes: 1 });
  let port: number;
  let admin: Bus;
  let adminUrl: string;

  const ctl = async (...args: string[]) => {
    const result = await broker.ctl(args);
    if (!result.ok) throw new Error(`rabbitmqctl ${args.join(' ')}: ${result.output}`);
  };

  beforeAll(async () => {
    await broker.up();
    port = Number(new URL(broker.settings.urls[0]!).port);
    await ctl('add_vhost', VHOST);
    await ctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
    await ctl('add_user', LIMITED, RIGHT);
    await ctl('set_permissions', '-p', VHOST, LIMITED, '^$', WRITE, READ);
    await ctl('add_user', OUTSIDER, RIGHT); // no permissions on VHOST at all
    adminUrl = `amqp://guest:guest@127.0.0.1:${port}/${VHOST}`;
    admin = await connect(rabbitmq({ url: adminUrl, logger: silentLogger }), { logger: silentLogger });
  }, 300_000);

  afterAll(async () => {
    await admin?.close();
    await broker.ctl(['delete_vhost', VHOST]);
    await broker.ctl(['delete_user', LIMITED]);
    await broker.ctl(['delete_user', OUTSIDER]);
  }, 120_000);

  it('a wrong password is PERMISSION_DENIED within 2 s, with the broker reason and without the password', async () => {
    const { error, ms } = await failedConnect(`amqp://${LIMITED}:${ENCODED}@127.0.0.1:${port}/${VHOST}`);
    expect(isLosslessError(error)).toBe(true);
    expect((error as { code: string }).code).toBe('PERMISSION_DENIED');
    expect((error as { retriable: boolean }).retriable).toBe(false);
    expect(ms).toBeLessThan(2_000);
    expect((error as Error).message).toContain('ACCESS_REFUSED - Login was refused');
    expect(exposed((error as Error).cause)).toContain('403');
    expect(exposed(error)).not.toContain(SECRET);
    expect(exposed(error)).not.toContain(ENCODED);
  });

  it('an unknown user is PERMISSION_DENIED within 2 s', async () => {
    const { error, ms } = await failedConnect(`amqp://nobody-${tag}:${ENCODED}@127.0.0.1:${port}/${VHOST}`);
    expect((error as { code: string }).code).toBe('PERMISSION_DENIED');
    expect(ms).toBeLessThan(2_000);
    expect(exposed(error)).not.toContain(ENCODED);
  });

  it('an unknown virtual host is NOT_FOUND within 2 s, naming it', async () => {
    const { error, ms } = await failedConnect(`amqp://guest:guest@127.0.0.1:${port}/no-such-vhost-${tag}`);
    expect((error as { code: string }).code).toBe('NOT_FOUND');
    expect(ms).toBeLessThan(2_000);
    expect((error as Error).message).toContain(`vhost no-such-vhost-${tag} not found`);
  });

  it('a virtual host the user may not use is PERMISSION_DENIED within 2 s, with the broker reason', async () => {
    const { error, ms } = await failedConnect(`amqp://${OUTSIDER}:${RIGHT}@127.0.0.1:${port}/${VHOST}`);
    expect((error as { code: string }).code).toBe('PERMISSION_DENIED');
    expect(ms).toBeLessThan(2_000);
    expect((error as Error).message).toContain(`access to vhost '${VHOST}' refused for user '${OUTSIDER}'`);
  });

  it('refused configure, write and read permissions fail the declare, publish and subscribe that needed them', async () => {
    const denied = `deny-${tag}`;
    const allowed = `allow-${tag}`;
    await admin.declare({
      topics: [{ name: denied }, { name: allowed }],
      subscriptions: [
        { name: 'ok-s', topic: allowed },
        { name: 'nr-s', topic: allowed },
        { name: 'any', topic: denied },
      ],
    });
    const bus = await connect(
      rabbitmq({ url: `amqp://${LIMITED}:${RIGHT}@127.0.0.1:${port}/${VHOST}`, logger: silentLogger }),
      { logger: silentLogger, publish: { confirmTimeoutMs: 5_000 } },
    );
    try {
      // configure '^$': declaring anything is refused.
      const declare = await bus.declare({ topics: [{ name: `allow-new-${tag}` }] }).catch((e: unknown) => e);
      expect((declare as { code: string }).code).toBe('PERMISSION_DENIED');
      expect((declare as Error).message).toContain('ACCESS_REFUSED');

      // write only on "allow-…": a publish to the other topic is refused on that call, the next one goes through.
      const started = Date.now();
      const refused = await bus.publish(denied, { body: 'x' }).catch((e: unknown) => e);
      expect((refused as { code: string }).code).toBe('PERMISSION_DENIED');
      expect((refused as { retriable: boolean }).retriable).toBe(false);
      expect((refused as Error).message).toContain(`access to exchange '${denied}'`);
      expect(Date.now() - started).toBeLessThan(2_000);
      const receipt = await bus.publish(allowed, { body: 'y' });
      expect(receipt.status).toBe('confirmed');
      // The refused topic's channel was closed by the broker: the next publish there opens a new one and is
      // refused the same way (nothing wedged), concurrently with a publish that goes through.
      const [again, fine] = await Promise.allSettled([
        bus.publish(denied, { body: 'x2' }),
        bus.publish(allowed, { body: 'z' }),
      ]);
      expect(again.status === 'rejected' && (again.reason as { code: string }).code).toBe(
        'PERMISSION_DENIED',
      );
      expect(fine.status).toBe('fulfilled');

      // read only on queues "allow-….ok-…": subscribing to the other queue is refused on that call.
      const noRead = await bus.subscribe(allowed, 'nr-s', async () => {}).catch((e: unknown) => e);
      expect((noRead as { code: string }).code).toBe('PERMISSION_DENIED');
      expect((noRead as Error).message).toContain(`access to queue '${queueName(allowed, 'nr-s')}'`);
      const received: string[] = [];
      const sub = await bus.subscribe(allowed, 'ok-s', async (m) => {
        received.push(m.text());
      });
      await expect.poll(() => received.sort(), { timeout: 10_000 }).toEqual(['y', 'z']);
      await sub.close();
    } finally {
      await bus.close();
    }
  });

  it('a classic subscription re-declared with another maxDeliveries is a CONFLICT; an identical one is not', async () => {
    const topic = `cl-${tag}`;
    const declare = (maxDeliveries: number, queueType: 'classic' | 'quorum' = 'classic', name = 'sub') =>
      admin.declare({
        topics: [{ name: topic }],
        subscriptions: [{ name, topic, maxDeliveries, queueType }],
      });
    await declare(5);
    await declare(5);
    const conflict = await declare(6).catch((e: unknown) => e);
    expect((conflict as { code: string }).code).toBe('CONFLICT');
    expect((conflict as Error).message).toContain('maxDeliveries');
    // Quorum queues keep it as x-delivery-limit, which the broker compares itself (406 → CONFLICT).
    await declare(5, 'quorum', 'qsub');
    const quorum = await declare(6, 'quorum', 'qsub').catch((e: unknown) => e);
    expect((quorum as { code: string }).code).toBe('CONFLICT');
    expect((quorum as Error).message).toContain('x-delivery-limit');

    // Deleting the queue clears the markers with it: the new value is then accepted.
    const conn = await amqpConnect(adminUrl);
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    await ch.deleteQueue(queueName(topic, 'sub'));
    await conn.close();
    await declare(6);
    const back = await declare(5).catch((e: unknown) => e);
    expect((back as { code: string }).code).toBe('CONFLICT');
  });

  it('a classic queue declared before the markers existed is adopted, then guarded', async () => {
    const topic = `legacy-${tag}`;
    await admin.declare({ topics: [{ name: topic }] });
    const conn = await amqpConnect(adminUrl);
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    await ch.assertQueue(queueName(topic, 'old'), {
      durable: true,
      arguments: { 'x-queue-type': 'classic' },
    });
    await ch.bindQueue(queueName(topic, 'old'), topic, '');
    await conn.close();
    const declare = (maxDeliveries: number) =>
      admin.declare({
        topics: [{ name: topic }],
        subscriptions: [{ name: 'old', topic, maxDeliveries, queueType: 'classic', deadLetter: false }],
      });
    await declare(4);
    const conflict = await declare(7).catch((e: unknown) => e);
    expect((conflict as { code: string }).code).toBe('CONFLICT');
  });
});
