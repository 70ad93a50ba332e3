// The TCP fault proxy: against an echo server (forward, cut and restore, reset, latency, refusing while cut) and
// in front of a real RabbitMQ node, where a confirm waits through a cut and a long cut ends in a heartbeat timeout.
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { connect as amqpConnect, type ConfirmChannel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFaultProxy, type FaultProxy } from './fault-proxy.js';
import { rabbitmq } from './rabbitmq.js';

/** Resolves when the socket closed, for whatever reason (`once` would reject on the ECONNRESET error). */
const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

/** An echo server that also records what it received and hands out its sockets. */
interface Echo {
  server: Server;
  port: number;
  received: () => string;
  sockets: Socket[];
  nextSocket: () => Promise<Socket>;
}

async function echoServer(): Promise<Echo> {
  let received = '';
  const sockets: Socket[] = [];
  const waiters: ((s: Socket) => void)[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      received += chunk.toString();
      socket.write(chunk);
    });
    waiters.shift()?.(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    server,
    port: address.port,
    received: () => received,
    sockets,
    nextSocket: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

/** A client socket that collects everything it reads. */
async function client(
  port: number,
): Promise<{ socket: Socket; text: () => string; waitFor: (s: string) => Promise<void> }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  let text = '';
  const listeners = new Set<() => void>();
  socket.on('data', (chunk) => {
    text += chunk.toString();
    for (const l of listeners) l();
  });
  await once(socket, 'connect');
  return {
    socket,
    text: () => text,
    waitFor: (s) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (text.includes(s)) {
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        check();
      }),
  };
}

describe('fault proxy against an echo server', () => {
  let echo: Echo;
  let proxy: FaultProxy;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    echo = await echoServer();
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await proxy?.close();
  });
  afterAll(async () => {
    for (const s of echo.sockets) s.destroy();
    echo.server.close();
  });

  it('forwards bytes in both directions', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port } });
    const c = await client(proxy.port);
    sockets.push(c.socket);
    c.socket.write('ping-1');
    await c.waitFor('ping-1');
    expect(proxy.stats()).toMatchObject({ connections: 1, forwardedUp: 6, forwardedDown: 6, held: 0 });
  });

  it('cut stops every byte in both directions without closing, restore delivers them in order', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port } });
    const serverSide = echo.nextSocket();
    const c = await client(proxy.port);
    sockets.push(c.socket);
    c.socket.write('before;');
    await c.waitFor('before;');
    const upstream = await serverSide;
    const receivedBefore = echo.received().length;

    proxy.cut();
    c.socket.write('during-up;');
    upstream.write('during-down;');
    // The proxy holds both writes: they reached it and went no further.
    await vi.waitFor(() => expect(proxy.stats().held).toBe('during-up;'.length + 'during-down;'.length));
    expect(echo.received().length).toBe(receivedBefore);
    expect(c.text()).toBe('before;');
    expect(c.socket.destroyed).toBe(false);
    expect(upstream.destroyed).toBe(false);

    proxy.restore();
    await c.waitFor('during-up;');
    expect(c.text()).toBe('before;during-down;during-up;');
    expect(echo.received().endsWith('during-up;')).toBe(true);
    expect(proxy.stats().held).toBe(0);
  });

  it('a close during the cut reaches the other side only after restore', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port } });
    const serverSide = echo.nextSocket();
    const c = await client(proxy.port);
    const upstream = await serverSide;
    proxy.cut();
    c.socket.destroy();
    await closed(c.socket);
    // The proxy saw the client go, the broker side did not.
    expect(proxy.stats().connections).toBe(1);
    expect(upstream.destroyed).toBe(false);
    const upstreamClosed = closed(upstream);
    proxy.restore();
    await upstreamClosed;
    await vi.waitFor(() => expect(proxy.stats().connections).toBe(0));
  });

  it('reset drops every connection on both sides', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port } });
    const serverSide = echo.nextSocket();
    const c = await client(proxy.port);
    c.socket.write('x');
    await c.waitFor('x');
    const upstream = await serverSide;
    const clientClosed = closed(c.socket);
    const upstreamClosed = closed(upstream);
    proxy.reset();
    await Promise.all([clientClosed, upstreamClosed]);
    expect(proxy.stats().connections).toBe(0);
    // The proxy itself still accepts new connections.
    const again = await client(proxy.port);
    sockets.push(again.socket);
    again.socket.write('y');
    await again.waitFor('y');
  });

  it('latency delays each direction', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port } });
    const c = await client(proxy.port);
    sockets.push(c.socket);
    proxy.latency(150);
    let started = performance.now();
    c.socket.write('slow');
    await c.waitFor('slow');
    expect(performance.now() - started).toBeGreaterThanOrEqual(295); // 150 ms up + 150 ms down
    proxy.latency(0);
    started = performance.now();
    c.socket.write('fast');
    await c.waitFor('fast');
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('can refuse new connections while cut', async () => {
    proxy = await createFaultProxy({ target: { port: echo.port }, refuseWhileCut: true });
    proxy.cut();
    const socket = netConnect({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    await closed(socket);
    expect(proxy.stats().accepted).toBe(0);
    proxy.restore();
    const c = await client(proxy.port);
    sockets.push(c.socket);
    c.socket.write('ok');
    await c.waitFor('ok');
  });

  it('a target that refuses shows as a closed connection', async () => {
    const gone = createServer();
    gone.listen(0, '127.0.0.1');
    await once(gone, 'listening');
    const address = gone.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    await new Promise((resolve) => gone.close(resolve));
    proxy = await createFaultProxy({ target: { port: address.port } });
    const socket = netConnect({ host: '127.0.0.1', port: proxy.port });
    socket.on('error', () => {});
    await closed(socket);
  });
});

// The third node of the 3-node cluster: rabbitmq.test.ts kills the single node and node 0 of the cluster, and
// vitest runs test files in parallel.
describe('fault proxy in front of a real RabbitMQ node', () => {
  const broker = rabbitmq({ nodes: 3 });
  const url = () => broker.settings.urls[2]!;
  let proxy: FaultProxy;
  const queue = `lossless.fault-proxy.${process.pid}.${Date.now()}`;

  beforeAll(async () => {
    await broker.up();
    proxy = await createFaultProxy({ target: { port: Number(new URL(url()).port) } });
  }, 300_000);
  afterAll(async () => {
    await proxy?.close();
    const direct = await amqpConnect(url());
    const ch = await direct.createChannel();
    await ch.deleteQueue(queue);
    await direct.close();
  });

  const publish = (ch: ConfirmChannel, body: string) =>
    new Promise<Error | null>((resolve) => {
      ch.sendToQueue(queue, Buffer.from(body), { persistent: true }, (err: unknown) =>
        resolve(err ? (err as Error) : null),
      );
    });

  it('a publish confirm waits through a cut and arrives after restore', async () => {
    const conn = await amqpConnect(`amqp://guest:guest@127.0.0.1:${proxy.port}?heartbeat=0`);
    conn.on('error', () => {});
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: true });

    proxy.cut();
    const heldBefore = proxy.stats().held;
    let settled = false;
    const confirm = publish(ch, 'through the cut').then((err) => {
      settled = true;
      return err;
    });
    // The publish reached the proxy and stopped there: no confirm can come back.
    await vi.waitFor(() => expect(proxy.stats().held).toBeGreaterThan(heldBefore));
    expect(settled).toBe(false);

    proxy.restore();
    expect(await confirm).toBeNull();
    const got = await ch.get(queue, { noAck: true });
    expect(got ? got.content.toString() : got).toBe('through the cut');
    await conn.close();
  });

  it('a long cut gives no callback until the heartbeat times out, and restore lets clients in again', async () => {
    const conn = await amqpConnect(`amqp://guest:guest@127.0.0.1:${proxy.port}?heartbeat=1`);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    const connClosed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    let settled = false;
    const errored = new Promise<{ error: Error; settledBefore: boolean }>((resolve) =>
      conn.once('error', (error: Error) => resolve({ error, settledBefore: settled })),
    );

    proxy.cut();
    const confirm = publish(ch, 'lost in the cut').then((err) => {
      settled = true;
      return err;
    });
    // Nothing calls back during the cut: the first sign is amqplib's own heartbeat check.
    const { error, settledBefore } = await errored;
    expect(error.message).toBe('Heartbeat timeout');
    expect(settledBefore).toBe(false);
    expect((await confirm)?.message).toMatch(/closed/);
    await connClosed;

    proxy.restore();
    const again = await amqpConnect(`amqp://guest:guest@127.0.0.1:${proxy.port}?heartbeat=1`);
    const ch2 = await again.createConfirmChannel();
    expect(await publish(ch2, 'after restore')).toBeNull();
    await again.close();
  }, 30_000);
});
