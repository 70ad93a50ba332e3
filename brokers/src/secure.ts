// What every secured fixture shares: the throwaway PKI under the kit home (one for all of them), the two users and
// the prefix the limited one has rights on. The passwords are fixed and recognisable on purpose: a throwaway broker
// on 127.0.0.1 protects nothing, and a test can grep a run's whole output for them.
import { join } from 'node:path';
import { kitHome } from './home.js';
import { type Pki, throwawayPki } from './pki.js';
import type { KitUser, SecureSettings } from './types.js';

export const ADMIN_USER: KitUser = { username: 'lossless-admin', password: 'Adm1n-s3cret-for-lossless-kit' };
export const LIMITED_USER: KitUser = {
  username: 'lossless-limited',
  password: 'L1mited-s3cret-for-lossless-kit',
};
/** The limited user's rights cover topics and subscriptions whose lossless names begin with this. */
export const LIMITED_PREFIX = 'granted';
/** The DNS name of the broker certificates (they also cover IP 127.0.0.1). */
export const SERVERNAME = 'localhost';

function pkiDir(home?: string): string {
  return join(kitHome(home), 'pki');
}

/** The PKI of the secured fixtures, made at the first `up` of any of them and kept while valid. */
export function securePki(home?: string): Promise<Pki> {
  return throwawayPki(pkiDir(home), { clients: [ADMIN_USER.username] });
}

/** The settings part every secured fixture reports (valid before up: the paths are fixed). */
export function secureSettings(home?: string): SecureSettings {
  const dir = pkiDir(home);
  return {
    caFile: join(dir, 'ca.crt'),
    impostorCaFile: join(dir, 'impostor-ca.crt'),
    clientCertFile: join(dir, `client-${ADMIN_USER.username}.crt`),
    clientKeyFile: join(dir, `client-${ADMIN_USER.username}.key`),
    servername: SERVERNAME,
    admin: ADMIN_USER,
    limited: LIMITED_USER,
    limitedPrefix: LIMITED_PREFIX,
  };
}
