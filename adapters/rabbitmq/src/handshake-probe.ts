// Why RabbitMQ refused to open a virtual host. When the broker answers `connection.open` with
// `connection.close`, amqplib 2.3.1 throws "Expected ConnectionOpenOk; got <ConnectionClose channel:0>" and
// drops the frame's reply code and text (lib/connection.js, `expect()` formats the frame without its fields).
// The reason matters: 530 "vhost x not found" is NOT_FOUND, 530 "access to vhost 'x' refused for user 'u'" is
// PERMISSION_DENIED. So, only after such a refusal, the driver repeats the handshake once with this minimal
// AMQP 0-9-1 client (protocol header, start-ok with PLAIN, tune-ok, open) and reads the close frame itself.
// AMQP 0-9-1 spec, sections 2.2.4 (connection class) and 4.2.3 (frame format).
//
// The other question a failed handshake leaves open: a broker that closes an amqp:// socket before saying a word
// may be a node still booting (retry) or a TLS-only listener (RabbitMQ's `listeners.tcp = none`), which drops a
// plaintext client without an answer, forever. Core's speaksTls() tells them apart with a TLS hello of its own.

import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { NodeTlsOptions } from '@lossless/core/driver';

/** A SASL login as amqplib's `credentials` build it: the mechanism and its response bytes. */
export interface ProbeCredentials {
  readonly mechanism: string;
  response(): Buffer;
}

/** The broker's `connection.close` fields. */
export interface CloseReason {
  readonly replyCode: number;
  readonly replyText: string;
}

const FRAME_METHOD = 1;
const FRAME_END = 0xce;
const CONNECTION = 10;
const START = 10;
const START_OK = 11;
const TUNE = 30;
const TUNE_OK = 31;
const OPEN = 40;
const OPEN_OK = 41;
const CLOSE = 50;
const CLOSE_OK = 51;

function shortString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > 255) throw new RangeError('short string longer than 255 bytes');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function longString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

function methodFrame(method: number, args: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt8(FRAME_METHOD, 0);
  header.writeUInt16BE(0, 1); // channel 0
  header.writeUInt32BE(4 + args.length, 3);
  const ids = Buffer.alloc(4);
  ids.writeUInt16BE(CONNECTION, 0);
  ids.writeUInt16BE(method, 2);
  return Buffer.concat([header, ids, args, Buffer.from([FRAME_END])]);
}

function decodeOrSelf(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Repeats the handshake of `url` and returns the broker's close reason when it refuses `connection.open` (or
 * the login); undefined when it opens the vhost, times out or the connection fails otherwise. Never throws.
 * The credentials go only to the broker, as amqplib sends them: `login.credentials` when given, else PLAIN with
 * the URL's user info (`guest`/`guest` when it has none); over TLS with `login.tls` for amqps:// URLs.
 */
export function probeCloseReason(
  url: string,
  timeoutMs: number,
  login: { tls?: NodeTlsOptions | undefined; credentials?: ProbeCredentials | undefined } = {},
): Promise<CloseReason | undefined> {
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      resolve(undefined);
      return;
    }
    const tls = u.protocol === 'amqps:';
    const port = Number(u.port || (tls ? 5671 : 5672));
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const user = u.username === '' && u.password === '' ? 'guest' : decodeOrSelf(u.username);
    const pass = u.username === '' && u.password === '' ? 'guest' : decodeOrSelf(u.password);
    const vhost = u.pathname.length > 1 ? decodeOrSelf(u.pathname.slice(1)) : '/';
    let socket: Socket;
    let buffer = Buffer.alloc(0);
    let settled = false;
    const done = (reason: CloseReason | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(reason);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const onFrame = (method: number, args: Buffer) => {
      if (method === START) {
        const mechanism = login.credentials?.mechanism ?? 'PLAIN';
        const response = login.credentials?.response() ?? Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8');
        socket.write(
          methodFrame(
            START_OK,
            Buffer.concat([
              longString(Buffer.alloc(0)), // client-properties: an empty table
              shortString(mechanism),
              longString(response),
              shortString('en_US'),
            ]),
          ),
        );
      } else if (method === TUNE) {
        const channelMax = args.readUInt16BE(0);
        const frameMax = args.readUInt32BE(2);
        const tuneOk = Buffer.alloc(8);
        tuneOk.writeUInt16BE(channelMax, 0);
        tuneOk.writeUInt32BE(frameMax, 2);
        tuneOk.writeUInt16BE(0, 6); // no heartbeat
        socket.write(methodFrame(TUNE_OK, tuneOk));
        socket.write(
          methodFrame(OPEN, Buffer.concat([shortString(vhost), shortString(''), Buffer.from([0])])),
        );
      } else if (method === CLOSE) {
        const replyCode = args.readUInt16BE(0);
        const textLength = args.readUInt8(2);
        const replyText = args.subarray(3, 3 + textLength).toString('utf8');
        socket.write(methodFrame(CLOSE_OK, Buffer.alloc(0)));
        done({ replyCode, replyText });
      } else if (method === OPEN_OK) {
        done(undefined); // it opens now: nothing to explain
      }
    };
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        while (buffer.length >= 7) {
          const size = buffer.readUInt32BE(3);
          if (buffer.length < 7 + size + 1) return;
          const type = buffer.readUInt8(0);
          const payload = buffer.subarray(7, 7 + size);
          buffer = buffer.subarray(8 + size);
          if (type !== FRAME_METHOD || payload.length < 4 || payload.readUInt16BE(0) !== CONNECTION) continue;
          onFrame(payload.readUInt16BE(2), payload.subarray(4));
        }
      } catch {
        done(undefined);
      }
    };
    const onConnect = () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])); // "AMQP" 0-9-1
    try {
      socket = tls
        ? tlsConnect({ ...(isIP(host) ? {} : { servername: host }), ...login.tls, host, port }, onConnect)
        : netConnect({ host, port }, onConnect);
    } catch {
      clearTimeout(timer);
      resolve(undefined);
      return;
    }
    socket.on('data', onData);
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
  });
}
