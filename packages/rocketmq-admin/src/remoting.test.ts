// The remoting protocol against a fake server on a local TCP port (no broker): a request goes out as one frame
// with its JSON header, the answer carrying the request's opaque is the one returned (split across TCP chunks or
// not), and an unreachable or silent server rejects with a RemotingConnectionError naming the socket errno.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseServerJson, RemotingConnectionError, RequestCode, remotingCall } from './remoting.js';

interface Request {
  header: {
    code: number;
    opaque: number;
    extFields: Record<string, string>;
    serializeTypeCurrentRPC: string;
  };
  body: Buffer;
}

/** A frame as a server writes it: [total length][header length][JSON header][body]. */
function frame(header: object, body = Buffer.alloc(0)): Buffer {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + head.length + body.length);
  out.writeInt32BE(4 + head.length + body.length, 0);
  out.writeInt32BE(head.length, 4);
  head.copy(out, 8);
  body.copy(out, 8 + head.length);
  return out;
}

const servers: Server[] = [];

/** Listens on a free port; `onRequest` gets each request frame with its socket. Resolves with 'host:port'. */
async function fakeServer(onRequest: (request: Request, socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        const total = received.readInt32BE(0);
        const headerLength = received.readInt32BE(4) & 0xffffff;
        const header = JSON.parse(
          received.subarray(8, 8 + headerLength).toString('utf8'),
        ) as Request['header'];
        const body = Buffer.from(received.subarray(8 + headerLength, 4 + total));
        received = received.subarray(4 + total);
        onRequest({ header, body }, socket);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `127.0.0.1:${address.port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('remotingCall', () => {
  it('sends the code, extFields and body in one frame and resolves with the answer to its opaque', async () => {
    const seen: Request[] = [];
    const address = await fakeServer(({ header, body }, socket) => {
      seen.push({ header, body });
      // An answer to another request first, then the one asked for, written in two chunks.
      const other = frame({ code: 1, opaque: header.opaque + 1000, remark: 'not yours' });
      const mine = frame(
        { code: 0, opaque: header.opaque, remark: 'ok', extFields: { offset: '42' } },
        Buffer.from('payload'),
      );
      const both = Buffer.concat([other, mine]);
      socket.write(both.subarray(0, other.length + 5));
      setTimeout(() => socket.write(both.subarray(other.length + 5)), 10);
    });

    const response = await remotingCall(
      address,
      RequestCode.QUERY_CONSUMER_OFFSET,
      { consumerGroup: 'g', topic: 't', queueId: '3' },
      Buffer.from('{"x":1}'),
    );

    expect(response).toEqual({
      code: 0,
      remark: 'ok',
      extFields: { offset: '42' },
      body: Buffer.from('payload'),
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.header).toMatchObject({
      code: RequestCode.QUERY_CONSUMER_OFFSET,
      serializeTypeCurrentRPC: 'JSON',
      extFields: { consumerGroup: 'g', topic: 't', queueId: '3' },
    });
    expect(seen[0]?.body.toString('utf8')).toBe('{"x":1}');
  });

  it('resolves with a refusal as an answer (the caller reads its code), with empty extFields', async () => {
    const address = await fakeServer(({ header }, socket) =>
      socket.write(frame({ code: 17, opaque: header.opaque, remark: 'No topic route info' })),
    );
    const response = await remotingCall(address, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'missing' });
    expect(response.code).toBe(17);
    expect(response.remark).toBe('No topic route info');
    expect(response.extFields).toEqual({});
  });

  it('rejects ECONNREFUSED when nothing listens at the address', async () => {
    const address = await fakeServer(() => {});
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const error = await remotingCall(address, RequestCode.GET_BROKER_CLUSTER_INFO, {}).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RemotingConnectionError);
    expect((error as RemotingConnectionError).code).toBe('ECONNREFUSED');
    expect((error as Error).message).toContain(address);
  });

  it('rejects ETIMEDOUT when the server does not answer within timeoutMs', async () => {
    const address = await fakeServer(() => {});
    const started = Date.now();
    const error = await remotingCall(address, RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined, 100).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RemotingConnectionError);
    expect((error as RemotingConnectionError).code).toBe('ETIMEDOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('rejects ECONNRESET when the server closes the connection without answering', async () => {
    const address = await fakeServer((_request, socket) => socket.end());
    const error = await remotingCall(address, RequestCode.GET_BROKER_CLUSTER_INFO, {}).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RemotingConnectionError);
    expect((error as RemotingConnectionError).code).toBe('ECONNRESET');
  });
});

describe('parseServerJson', () => {
  it("reads fastjson's unquoted integer map keys", () => {
    const body = Buffer.from('{"brokerAddrs":{0:"127.0.0.1:10911", 1 :"127.0.0.1:10912"},"name":"b"}');
    expect(parseServerJson(body)).toEqual({
      brokerAddrs: { '0': '127.0.0.1:10911', '1': '127.0.0.1:10912' },
      name: 'b',
    });
  });
});
