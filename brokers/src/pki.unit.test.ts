// The throwaway PKI, proven with real TLS handshakes on a local port (Node's tls, no broker): a client trusting
// the test CA accepts the server certificate for 127.0.0.1 and for localhost, refuses the impostor and a wrong
// server name, and a server that requires client certificates accepts alice's; a second call reuses the files.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertFiles, type Pki, throwawayPki } from './pki.js';

const root = mkdtempSync(join(tmpdir(), 'lossless-pki-'));
let pki: Pki;

beforeAll(async () => {
  pki = await throwawayPki(join(root, 'pki'), { clients: ['alice'] });
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A TLS server with `cert` on a free port, asking for client certificates signed by the test CA. */
async function server(cert: CertFiles): Promise<{ server: Server; port: number; peers: string[] }> {
  const peers: string[] = [];
  const s = createServer(
    {
      cert: readFileSync(cert.cert),
      key: readFileSync(cert.key),
      ca: readFileSync(pki.ca),
      requestCert: true,
      rejectUnauthorized: false,
    },
    (socket) => {
      const peer = socket.getPeerCertificate();
      peers.push(socket.authorized ? String(peer.subject?.CN) : 'unauthorized');
      socket.end('hello');
    },
  );
  s.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const address = s.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server: s, port: address.port, peers };
}

/** Connects and resolves with what the server said, or rejects with the client's TLS error. */
function hello(port: number, options: { servername?: string; client?: CertFiles }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(pki.ca),
      ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...(options.client
        ? { cert: readFileSync(options.client.cert), key: readFileSync(options.client.key) }
        : {}),
    });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('throwawayPki', () => {
  it('serves 127.0.0.1 and localhost to a client trusting the test CA, and accepts a client certificate', async () => {
    const s = await server(pki.server);
    try {
      expect(await hello(s.port, {})).toBe('hello');
      expect(await hello(s.port, { servername: 'localhost' })).toBe('hello');
      const alice = pki.clients.alice;
      if (alice === undefined) throw new Error('no client certificate for alice');
      expect(await hello(s.port, { client: alice })).toBe('hello');
      expect(s.peers).toEqual(['unauthorized', 'unauthorized', 'alice']);
    } finally {
      s.server.close();
    }
  });

  it('a client trusting the test CA refuses the impostor and a name the certificate does not carry', async () => {
    const impostor = await server(pki.impostor);
    const real = await server(pki.server);
    try {
      await expect(hello(impostor.port, {})).rejects.toMatchObject({
        code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      });
      await expect(hello(real.port, { servername: 'broker.example.com' })).rejects.toMatchObject({
        code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      });
    } finally {
      impostor.server.close();
      real.server.close();
    }
  });

  it('keys are unencrypted PKCS#8, and a second call reuses the files', async () => {
    expect(readFileSync(pki.server.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const before = statSync(pki.server.cert).mtimeMs;
    const again = await throwawayPki(pki.dir, { clients: ['alice'] });
    expect(again).toEqual(pki);
    expect(statSync(pki.server.cert).mtimeMs).toBe(before);
    await expect(throwawayPki(join(root, 'bad'), { clients: ['../x'] })).rejects.toThrow(/client name/);
  });
});
