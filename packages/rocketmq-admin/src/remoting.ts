// RocketMQ's remoting protocol, the TCP protocol the name server and the broker speak to admin tools — just
// enough of it to create and inspect topics, groups and consumer offsets from Node (the gRPC proxy has no admin
// API). A frame is [total length][serialize type << 24 | header length][JSON header][body], all big-endian; the
// total length counts everything after itself, and the answer carries the request's `opaque`. This is the only
// implementation of the protocol in the repository: the driver and the broker kit import it from this package.
// A request is signed (acl-signing.ts) when credentials are given, and goes over TLS when `tls` is.
import { createConnection, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { type RemotingCredentials, signExtFields } from './acl-signing.js';

/** Request codes (org.apache.rocketmq.remoting.protocol.RequestCode, 5.3.x). */
export const RequestCode = {
  QUERY_CONSUMER_OFFSET: 14,
  UPDATE_CONSUMER_OFFSET: 15,
  UPDATE_AND_CREATE_TOPIC: 17,
  GET_MAX_OFFSET: 30,
  GET_ROUTEINFO_BY_TOPIC: 105,
  GET_BROKER_CLUSTER_INFO: 106,
  UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: 200,
  GET_ALL_SUBSCRIPTIONGROUP_CONFIG: 201,
  DELETE_SUBSCRIPTIONGROUP: 207,
  DELETE_TOPIC_IN_BROKER: 215,
  DELETE_TOPIC_IN_NAMESRV: 216,
  GET_TOPIC_CONFIG: 351,
  /** ACL 2.0 user and ACL administration (broker; super users only). */
  AUTH_CREATE_USER: 3001,
  AUTH_UPDATE_USER: 3002,
  AUTH_GET_USER: 3004,
  AUTH_CREATE_ACL: 3006,
  AUTH_UPDATE_ACL: 3007,
  AUTH_GET_ACL: 3009,
} as const;

/** Response codes (org.apache.rocketmq.remoting.protocol.ResponseCode) the admin acts on. */
export const ResponseCode = {
  SUCCESS: 0,
  SYSTEM_ERROR: 1,
  SYSTEM_BUSY: 2,
  TOPIC_NOT_EXIST: 17,
  QUERY_NOT_FOUND: 22,
  /** The ACL refused the request: unknown user, wrong signature, or no right on the resource. */
  NO_PERMISSION: 16,
  SUBSCRIPTION_GROUP_NOT_EXIST: 26,
} as const;

/** MQVersion.Version.V5_3_3.ordinal(): servers answer routes in standard JSON to versions ≥ 4.9.4. */
const REMOTING_VERSION = 479;

/** One answer of a name server or broker. */
export interface RemotingResponse {
  /** ResponseCode; 0 is success. */
  code: number;
  remark: string | undefined;
  /** The response's custom header (e.g. `offset` of QUERY_CONSUMER_OFFSET), all values as strings. */
  extFields: Record<string, string>;
  body: Buffer;
}

/** A connection-level failure of a remoting call (refused, reset, timed out). `code` is the socket errno. */
export class RemotingConnectionError extends Error {
  override readonly name = 'RemotingConnectionError';
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How a request reaches its server. */
export interface RemotingCallOptions {
  /** Sign the request (ACL): the ext fields get AccessKey, SecurityToken and Signature. */
  credentials?: RemotingCredentials | undefined;
  /** Speak TLS: Node's tls.connect options (ca, servername, …); host and port come from the address. */
  tls?: ConnectionOptions | undefined;
}

let opaqueSeq = 1;

/**
 * Sends one request on a fresh TCP connection and resolves with the answer (whatever its code). Rejects with a
 * RemotingConnectionError when the address cannot be reached, the connection drops, or no answer comes within
 * `timeoutMs`. Safe to call concurrently; nothing is retried.
 */
export function remotingCall(
  address: string,
  code: number,
  extFields: Record<string, string>,
  body?: Buffer,
  timeoutMs = 5_000,
  options: RemotingCallOptions = {},
): Promise<RemotingResponse> {
  const colon = address.lastIndexOf(':');
  const host = colon > 0 ? address.slice(0, colon) : address;
  const port = colon > 0 ? Number(address.slice(colon + 1)) : 9876;
  const opaque = opaqueSeq++;
  const header = Buffer.from(
    JSON.stringify({
      code,
      language: 'JAVA',
      version: REMOTING_VERSION,
      opaque,
      flag: 0,
      serializeTypeCurrentRPC: 'JSON',
      extFields: options.credentials ? signExtFields(extFields, body, options.credentials) : extFields,
    }),
    'utf8',
  );
  const payload = body ?? Buffer.alloc(0);
  const frame = Buffer.alloc(8 + header.length + payload.length);
  frame.writeInt32BE(4 + header.length + payload.length, 0);
  frame.writeInt32BE(header.length & 0xffffff, 4);
  header.copy(frame, 8);
  payload.copy(frame, 8 + header.length);
  return new Promise((resolve, reject) => {
    const socket: Socket = options.tls
      ? tlsConnect({ ...options.tls, host, port })
      : createConnection({ host, port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, response?: RemotingResponse) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else if (response) resolve(response);
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new RemotingConnectionError(`remoting ${address} code ${code}: timed out`, 'ETIMEDOUT')),
    );
    socket.once('error', (e: NodeJS.ErrnoException) =>
      finish(
        new RemotingConnectionError(
          `remoting ${address} code ${code}: ${e.message}`,
          e.code ?? 'ECONNRESET',
          {
            cause: e,
          },
        ),
      ),
    );
    socket.once('close', () =>
      finish(
        new RemotingConnectionError(`remoting ${address} code ${code}: connection closed`, 'ECONNRESET'),
      ),
    );
    socket.once(options.tls ? 'secureConnect' : 'connect', () => socket.write(frame));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 4) {
        const total = received.readInt32BE(0);
        if (received.length < 4 + total) return;
        const headerLength = received.readInt32BE(4) & 0xffffff;
        const head = JSON.parse(received.subarray(8, 8 + headerLength).toString('utf8')) as {
          code: number;
          opaque: number;
          remark?: string;
          extFields?: Record<string, string>;
        };
        const responseBody = received.subarray(8 + headerLength, 4 + total);
        received = received.subarray(4 + total);
        if (head.opaque === opaque) {
          finish(undefined, {
            code: head.code,
            remark: head.remark,
            extFields: head.extFields ?? {},
            body: Buffer.from(responseBody),
          });
          return;
        }
      }
    });
  });
}

/**
 * Parses a body the server wrote with fastjson, which writes integer map keys unquoted (`{0:"host:port"}`), so
 * plain JSON.parse fails on route and cluster answers. Quotes such keys first.
 */
export function parseServerJson<T>(body: Buffer): T {
  const text = body.toString('utf8').replace(/([{,])\s*(-?\d+)\s*:/g, '$1"$2":');
  return JSON.parse(text) as T;
}
