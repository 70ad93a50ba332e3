// speaksTls(): a TLS server is recognised; a plaintext server, a closed port and a server that never answers are
// not, the last one within the probe's bound. speaksCleartextHttp2(): an h2c server is recognised; a TLS one, an
// HTTP/1 one, a closed port and a silent one are not.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createH2cServer } from 'node:http2';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { speaksCleartextHttp2, speaksTls } from './tls-probe.js';

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

function listen(server: Server): Promise<string> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as { port: number }).port}`)),
  );
}

/** "host:port" as speaksTls's arguments. */
function at(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}

describe('speaksTls', () => {
  it('tells a TLS port from a plaintext one, a closed one and a silent one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lossless-probe-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      { stdio: 'ignore' },
    );
    const tlsServer = createTlsServer({
      key: readFileSync(join(dir, 'k.pem')),
      cert: readFileSync(join(dir, 'c.pem')),
    });
    rmSync(dir, { recursive: true, force: true });
    const tlsAddress = await listen(tlsServer);
    const plainAddress = await listen(
      createServer((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    const silentAddress = await listen(createServer(() => {}));
    const closed = await listen(createServer());
    servers.pop()?.close();

    expect(await speaksTls(...at(tlsAddress), 1_500)).toBe(true);
    expect(await speaksTls(...at(plainAddress), 1_500)).toBe(false);
    expect(await speaksTls(...at(closed), 1_500)).toBe(false);
    const started = Date.now();
    expect(await speaksTls(...at(silentAddress), 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2_000);

    const h2cAddress = await listen(createH2cServer() as unknown as Server);
    expect(await speaksCleartextHttp2(...at(h2cAddress), 1_500)).toBe(true);
    expect(await speaksTls(...at(h2cAddress), 1_500)).toBe(false);
    expect(await speaksCleartextHttp2(...at(tlsAddress), 1_500)).toBe(false);
    expect(await speaksCleartextHttp2(...at(plainAddress), 1_500)).toBe(false);
    expect(await speaksCleartextHttp2(...at(closed), 1_500)).toBe(false);
    const startedH2 = Date.now();
    expect(await speaksCleartextHttp2(...at(silentAddress), 300)).toBe(false);
    expect(Date.now() - startedH2).toBeLessThan(2_000);
  });
});
