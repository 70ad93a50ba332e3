// Signing of remoting requests for a RocketMQ whose broker (or proxy) checks ACLs. ACL 2.0 (5.3) authenticates a
// remoting request by the ext fields `AccessKey` (the user name), `SecurityToken` (optional) and `Signature`: the
// server (DefaultAuthenticationContextBuilder, remoting path) sorts every ext field but `Signature` by key
// (a Java TreeMap: UTF-16 code-unit order, which is also JavaScript's default sort), concatenates their values,
// appends the request body, and checks that `Signature` is the Base64 HMAC-SHA1 of that with the user's secret
// (AclUtils.combineRequestContent, AclSigner.calSignature). ACL 1.0's AclClientRPCHook signs the same way, so a
// broker with either ACL accepts these requests.
import { createHmac } from 'node:crypto';

/** A user's credentials: ACL 2.0's username / password, or an ACL 1.0 access key / secret key. */
export interface RemotingCredentials {
  readonly accessKey: string;
  /** Never sent: only its HMAC is. */
  readonly secretKey: string;
  /** A temporary credential's token (STS), sent as the `SecurityToken` ext field. */
  readonly securityToken?: string | undefined;
}

/** The ext field names of a signed request (org.apache.rocketmq.acl.common.SessionCredentials). */
export const ACCESS_KEY_FIELD = 'AccessKey';
export const SECURITY_TOKEN_FIELD = 'SecurityToken';
export const SIGNATURE_FIELD = 'Signature';

/** The bytes the server signs: the values of `fields` sorted by key (without Signature), then the body. */
export function signedContent(fields: Record<string, string>, body?: Buffer): Buffer {
  const values = Object.keys(fields)
    .filter((k) => k !== SIGNATURE_FIELD)
    .sort()
    .map((k) => fields[k] ?? '')
    .join('');
  const head = Buffer.from(values, 'utf8');
  return body && body.length > 0 ? Buffer.concat([head, body]) : head;
}

/** `extFields` with `AccessKey`, `SecurityToken` (when set) and the `Signature` over them and the body. */
export function signExtFields(
  extFields: Record<string, string>,
  body: Buffer | undefined,
  credentials: RemotingCredentials,
): Record<string, string> {
  const fields: Record<string, string> = { ...extFields, [ACCESS_KEY_FIELD]: credentials.accessKey };
  delete fields[SIGNATURE_FIELD];
  if (credentials.securityToken !== undefined) fields[SECURITY_TOKEN_FIELD] = credentials.securityToken;
  const signature = createHmac('sha1', Buffer.from(credentials.secretKey, 'utf8'))
    .update(signedContent(fields, body))
    .digest('base64');
  return { ...fields, [SIGNATURE_FIELD]: signature };
}
