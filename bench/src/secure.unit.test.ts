// The pure parts of the secured runs: the TLS cost rows, the password scrubbing, and the TLS probe's "never throws".
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { negotiatedTls, rememberSecrets, scrub, tlsCost, tlsCostTable } from './secure.js';
import type { ResultRow } from './stats.js';

const row = (scenario: string, library: number, raw: number, unit: string, ratio: number): ResultRow => ({
  scenario,
  library,
  raw,
  ratio,
  unit,
});

describe('tlsCost', () => {
  const plain = [row('publish', 10_000, 20_000, 'msg/s', 0.5), row('latency p50', 2, 1, 'ms', 0.5)];
  const secured = [
    row('publish', 8_000, 10_000, 'msg/s', 0.8),
    row('latency p50', 4, 2, 'ms', 0.5),
    row('only secured', 1, 1, 'ms', 1),
  ];

  it('gives the share of its plain figure each side keeps, oriented so that below 1 is what TLS costs', () => {
    const [publish, latency] = tlsCost(plain, secured);
    expect(publish?.library.kept).toBeCloseTo(0.8);
    expect(publish?.raw.kept).toBeCloseTo(0.5);
    expect(latency?.library.kept).toBeCloseTo(0.5); // twice the plain latency
    expect(publish?.ratio).toEqual({ plain: 0.5, tls: 0.8 });
  });

  it('leaves out a scenario the plain run did not measure', () => {
    expect(tlsCost(plain, secured).map((r) => r.scenario)).toEqual(['publish', 'latency p50']);
    expect(tlsCostTable(tlsCost(plain, secured))).not.toContain('only secured');
  });
});

describe('scrub', () => {
  it('replaces every password of a secured fixture, wherever it appears', () => {
    rememberSecrets({
      caFile: '',
      impostorCaFile: '',
      clientCertFile: '',
      clientKeyFile: '',
      servername: 'localhost',
      admin: { username: 'admin', password: 'Adm1n-test-pw' },
      limited: { username: 'limited', password: 'L1m-test-pw' },
      limitedPrefix: 'granted',
    });
    expect(scrub('login admin:Adm1n-test-pw then L1m-test-pw, Adm1n-test-pw')).toBe(
      'login admin:*** then ***, ***',
    );
  });
});

describe('negotiatedTls', () => {
  it('says the parameters are unknown, instead of throwing, when the port does not speak TLS', async () => {
    const server = createServer((socket) => socket.end('not TLS\r\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await expect(negotiatedTls('127.0.0.1', port, {})).resolves.toMatch(/^TLS \(parameters unknown: /);
    } finally {
      server.close();
    }
  });
});
