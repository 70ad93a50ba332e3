// The driver's sockets: the default factory kafkajs opens every connection with (TCP or TLS, keep-alive), the
// check that turns a TLS answer to a plaintext connection into an error at once, and the reachability probe that
// health uses (one connect through the same factory, so a route or a proxy is honoured).
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { NodeTlsOptions } from '@lossless/core/driver';
import type { ISocketFactory, ISocketFactoryArgs } from 'kafkajs';
import { TLS_REQUIRED } from './error-table.js';

/** kafkajs's own factory, with keep-alive: TLS when kafkajs hands it `ssl` (SNI = the host when it is a name). */
export const defaultSocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : netConnect({ host, port }, onConnect);
  socket.setKeepAlive(true, 30_000);
  return socket;
};

/**
 * True when the first bytes a plaintext connection receives are a TLS record (content type 21 alert or 22
 * handshake, version 3.x). A Kafka response starts with its int32 size, and 0x1503…/0x1603… (over 350 MB) is
 * none a broker sends.
 */
export function isTlsRecord(chunk: Buffer): boolean {
  return chunk.length >= 2 && (chunk[0] === 0x15 || chunk[0] === 0x16) && chunk[1] === 0x03;
}

/**
 * For a driver without `tls`: a plaintext connection to a TLS listener is answered with a TLS alert and closed
 * (seen from Kafka 4.4's SASL_SSL listener), which kafkajs takes for a dropped connection and retries until the
 * connect deadline. Seen in the first bytes, it becomes a socket error with the driver's code (mapped to
 * INVALID_ARGUMENT, not retriable) at once. Call right after the socket is made, before kafkajs reads from it.
 */
export function refuseTls(socket: Socket): void {
  socket.once('data', (chunk: Buffer | string) => {
    if (typeof chunk !== 'string' && isTlsRecord(chunk)) {
      const error = Object.assign(
        new Error('the broker answered with TLS: this listener requires TLS (set the tls option)'),
        { code: TLS_REQUIRED },
      );
      socket.destroy(error);
    }
  });
}

/**
 * Whether `address` accepts a connection through `factory` within `timeoutMs`: with `ssl` (the same argument
 * kafkajs hands the factory) that is a verified TLS handshake. Never rejects.
 */
export function reachable(
  factory: ISocketFactory,
  address: string,
  ssl: NodeTlsOptions | undefined,
  timeoutMs: number,
): Promise<boolean> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    let socket: Socket | undefined;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket?.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    try {
      const args = { host, port, ssl, onConnect: () => finish(true) } as unknown as ISocketFactoryArgs;
      socket = factory(args);
      socket.once('error', () => finish(false));
      socket.once('close', () => finish(false));
    } catch {
      finish(false);
    }
  });
}
