// A throwaway PKI for secured broker fixtures, made with the machine's `openssl`: a test CA, a server certificate
// for 127.0.0.1 / localhost signed by it, client certificates (CN = the user name, for certificate login), and an
// impostor — a server certificate for the same names from another CA, which a client trusting the test CA must
// refuse. Keys are unencrypted PKCS#8 PEM (what Kafka's PEM keystore and RocketMQ's proxy need; RabbitMQ and the
// Node clients take it too). Made once per directory and kept while valid, so every fixture of a run shares it.
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Paths of one certificate and its private key (PEM files). */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface Pki {
  readonly dir: string;
  /** The test CA's certificate: what clients and servers trust. */
  readonly ca: string;
  /** The broker's certificate for IP 127.0.0.1 and DNS localhost. */
  readonly server: CertFiles;
  /** Client certificates by user name (CN = the name). */
  readonly clients: Readonly<Record<string, CertFiles>>;
  /** A server certificate for the same names from another CA (and that CA), for "untrusted server" cases. */
  readonly impostor: CertFiles & { readonly ca: string };
}

export interface PkiOptions {
  /** Client certificates to make (CN = each name). Default ['alice']. */
  readonly clients?: readonly string[];
  /** Validity in days. Default 30; a PKI with less than a day left is made again. */
  readonly days?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    const e = error as { code?: unknown; stderr?: unknown };
    if (e.code === 'ENOENT')
      throw new Error('the secured fixtures need `openssl` on the PATH (apt-get install openssl)');
    throw new Error(`openssl ${args[0]} failed: ${String(e.stderr ?? error).trim()}`);
  }
}

/** `openssl` arguments from a template: words split on spaces, `{name}` replaced by `values.name` (kept whole). */
function args(template: string, values: Record<string, string>): string[] {
  return template
    .split(' ')
    .map((word) => word.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? ''));
}

/** A CA: self-signed, allowed to sign certificates and nothing else. */
async function makeCa(dir: string, base: string, subject: string, days: number): Promise<void> {
  const template =
    'req -x509 -newkey rsa:2048 -nodes -sha256 -days {days} -keyout {base}.key -out {base}.crt -subj {subject} ' +
    '-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign';
  await openssl(args(template, { days: String(days), base, subject: `/CN=${subject}` }), dir);
}

/** A leaf certificate `base` signed by CA `ca`, with the given extensions. */
async function makeLeaf(dir: string, ca: string, base: string, cn: string, ext: string, days: number) {
  writeFileSync(join(dir, `${base}.ext`), ext);
  const values = { ca, base, days: String(days), subject: `/CN=${cn}` };
  await openssl(
    args('req -newkey rsa:2048 -nodes -keyout {base}.key -out {base}.csr -subj {subject}', values),
    dir,
  );
  const sign =
    'x509 -req -in {base}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -out {base}.crt -days {days} -sha256 ' +
    '-extfile {base}.ext';
  await openssl(args(sign, values), dir);
  rmSync(join(dir, `${base}.csr`), { force: true });
  rmSync(join(dir, `${base}.ext`), { force: true });
}

const SERVER_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
  'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n';
const CLIENT_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';

function layout(dir: string, clients: readonly string[]): Pki {
  const files = (base: string): CertFiles => ({
    cert: join(dir, `${base}.crt`),
    key: join(dir, `${base}.key`),
  });
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    server: files('server'),
    clients: Object.fromEntries(clients.map((name) => [name, files(`client-${name}`)])),
    impostor: { ...files('impostor'), ca: join(dir, 'impostor-ca.crt') },
  };
}

/** Whether every file of `pki` exists and its certificates stay valid for at least another day. */
function usable(pki: Pki): boolean {
  const certs = [
    pki.ca,
    pki.server.cert,
    pki.impostor.cert,
    ...Object.values(pki.clients).map((c) => c.cert),
  ];
  const keys = [pki.server.key, pki.impostor.key, ...Object.values(pki.clients).map((c) => c.key)];
  if (![...certs, ...keys].every((f) => existsSync(f))) return false;
  const dayAhead = Date.now() + 24 * 3600 * 1000;
  return certs.every((f) => new Date(new X509Certificate(readFileSync(f)).validTo).getTime() > dayAhead);
}

/**
 * The PKI under `dir` (made there if missing, incomplete or about to expire). Safe to call from parallel fixtures
 * of one process; across processes the kit's up() lock serializes the callers.
 */
export async function throwawayPki(dir: string, options: PkiOptions = {}): Promise<Pki> {
  const clients = options.clients ?? ['alice'];
  for (const name of clients) {
    if (!NAME.test(name)) throw new Error(`pki: client name '${name}' must match ${NAME}`);
  }
  const days = options.days ?? 30;
  const pki = layout(dir, clients);
  if (usable(pki)) return pki;
  // Made in a fresh directory next to `dir`, then moved in: a half-made PKI is never seen.
  const work = `${dir}.making-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await makeCa(work, 'ca', 'lossless throwaway test CA', days);
  await makeLeaf(work, 'ca', 'server', 'localhost', SERVER_EXT, days);
  for (const name of clients) await makeLeaf(work, 'ca', `client-${name}`, name, CLIENT_EXT, days);
  await makeCa(work, 'impostor-ca', 'an untrusted CA', days);
  await makeLeaf(work, 'impostor-ca', 'impostor', 'localhost', SERVER_EXT, days);
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return pki;
}
