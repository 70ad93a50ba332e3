// What a case's security request means on a secured kit fixture, once for every adapter: which user logs in with
// which password, which CA the client trusts, which name it expects, and whether it speaks TLS at all. Each
// adapter turns the answer into its own driver's options (RabbitMQ `auth` + `tls`, Kafka `sasl` + `tls`, RocketMQ
// `auth` + `tls`); third-party adapters can do the same.
import { readFileSync } from 'node:fs';
import type { SecureSettings } from '@lossless/brokers';
import type { SecurityRequest } from './adapter.js';

export interface SecureClient {
  readonly username: string;
  /** The user's password, or the wrong one the case asked for. */
  readonly password: string;
  /**
   * PEM texts: the CA to trust (the kit's, or the impostor's), the name to expect, and the kit's client certificate
   * and key (CN = the admin), for brokers that ask for one. Undefined: the case wants plaintext on the TLS port.
   */
  readonly tls:
    | { readonly ca: string; readonly servername: string; readonly cert: string; readonly key: string }
    | undefined;
}

export function secureClient(security: SecureSettings, request: SecurityRequest): SecureClient {
  const user = request.user === 'limited' ? security.limited : security.admin;
  const password = request.password ?? user.password;
  if (request.plaintext) return { username: user.username, password, tls: undefined };
  return {
    username: user.username,
    password,
    tls: {
      ca: readFileSync(request.trust === 'impostor' ? security.impostorCaFile : security.caFile, 'utf8'),
      servername: request.servername ?? security.servername,
      cert: readFileSync(security.clientCertFile, 'utf8'),
      key: readFileSync(security.clientKeyFile, 'utf8'),
    },
  };
}
