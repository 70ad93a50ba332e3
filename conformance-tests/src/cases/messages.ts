// Messages that carry everything a message can carry, and the byte-for-byte comparison of what arrived with what
// was sent: cases that follow a message through redelivery, retry, dead-lettering or an outbox replay check every
// field each time, not only on the first delivery.
import { Limits } from '@lossless/core';
import { check } from '../context.js';

export interface SentMessage {
  id: string;
  key: string;
  timestamp: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** What a delivery exposes that must survive every hop. */
export interface ArrivedMessage {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timestamp: number;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** `length` bytes that differ from position to position (a shifted or cut copy does not compare equal). */
export function patternBytes(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7919 + seed * 31 + (i >>> 8)) & 0xff;
  return bytes;
}

/** A printable string of exactly `bytes` UTF-8 bytes, varying along its length. */
export function patternText(bytes: number, seed = 0): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; i < bytes; i++) s += alphabet[(i * 7 + seed * 13 + (i >>> 6)) % alphabet.length];
  return s;
}

/** Bytes that headers count against maxMessageBytes (core counts each name and value as UTF-8). */
export function headerBytes(headers: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers))
    n += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8');
  return n;
}

/**
 * A message with an id, a non-ASCII key, a timestamp from the past (so a broker that stamps "now" shows), and
 * headers of every kind: unicode names and values, an empty value, case-sensitive names, a long value.
 */
export function richMessage(id: string, seed = 0): SentMessage {
  return {
    id,
    key: `customer-ü-${seed}`,
    timestamp: Date.UTC(2025, 5, 6, 7, 8, 9, 100 + (seed % 800)),
    headers: {
      type: 'OrderPaid',
      'ünïcödé-name': 'välüe ✓ 世界 🚚',
      empty: '',
      'Case-Sensitive': 'Yes',
      'case-sensitive': 'no',
      long: patternText(2_048, seed),
      seq: String(seed),
    },
    body: patternBytes(1_000 + (seed % 24), seed),
  };
}

/** Fails unless `got` is `sent` byte for byte: id, key, timestamp, body and every header, with no header added. */
export function checkSameMessage(where: string, got: ArrivedMessage, sent: SentMessage): void {
  check(got.id === sent.id, `${where}: the id changed (${got.id}, sent ${sent.id})`);
  check(got.key === sent.key, `${where}: the key changed (${JSON.stringify(got.key)}, sent ${sent.key})`);
  check(
    got.timestamp === sent.timestamp,
    `${where}: the timestamp changed (${got.timestamp}, sent ${sent.timestamp})`,
  );
  check(sameBytes(got.body, sent.body), `${where}: the body changed (${got.body.byteLength} bytes arrived)`);
  for (const [name, value] of Object.entries(sent.headers)) {
    const arrived = got.headers[name];
    check(
      arrived === value,
      `${where}: header ${JSON.stringify(name)} arrived as ${describeValue(arrived)}, sent ${describeValue(value)}`,
    );
  }
  for (const name of Object.keys(got.headers)) {
    check(
      name in sent.headers || name.toLowerCase().startsWith('x-lossless-'),
      `${where}: header ${JSON.stringify(name)} arrived that was never sent`,
    );
  }
}

function describeValue(v: string | undefined): string {
  if (v === undefined) return 'missing';
  return v.length > 40 ? `${v.length} bytes (${JSON.stringify(v.slice(0, 16))}…)` : JSON.stringify(v);
}

/** The headers of a message at core's limits: `count` headers, their names and values adding up to `total` bytes. */
export function headersOfSize(count: number, total: number, seed = 0): Record<string, string> {
  const headers: Record<string, string> = {};
  let left = total;
  for (let i = 0; i < count; i++) {
    const name = `h${String(i).padStart(2, '0')}`;
    const share = Math.floor(left / (count - i));
    const value = Math.min(Limits.headerValueMaxBytes, share - name.length);
    headers[name] = patternText(Math.max(0, value), seed + i);
    left -= name.length + Math.max(0, value);
  }
  return headers;
}
