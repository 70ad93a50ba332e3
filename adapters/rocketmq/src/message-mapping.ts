// A lossless message on RocketMQ's wire, and back. The body travels as the RocketMQ body; user headers travel as
// user properties with their own names; our id, key and timestamp travel as `x-lossless-*` properties (RocketMQ's
// own message id is assigned per send and so differs between re-sends: it is a receipt detail, not our id).
//
// RocketMQ limits this mapping works around:
//   - the proxy refuses an empty body (MESSAGE_BODY_EMPTY): an empty body travels as one byte plus the
//     `x-lossless-empty-body` property, and comes back empty;
//   - a message group (FIFO) is at most 64 bytes without control characters: a longer key is replaced by a hash
//     of it, so one key still maps to one group (order is per group);
//   - a message key (`keys`, used for the broker's index) may not be blank or hold control characters: such a
//     key is not indexed, but still travels as `x-lossless-key`.
import { createHash } from 'node:crypto';
import { type MessageRecord, ReservedHeader } from '@lossless/core/driver';
import type { MessageOptions, MessageView } from 'rocketmq-client-nodejs';

/** Driver-internal property: the body was empty (the proxy refuses empty bodies). */
export const EMPTY_BODY_PROPERTY = 'x-lossless-empty-body';

/**
 * Driver-internal property: the names of headers whose value is the empty string (JSON array). The broker's
 * property encoding drops properties with an empty value.
 */
export const EMPTY_HEADERS_PROPERTY = 'x-lossless-empty-headers';

/** Properties the driver writes itself and removes from the headers a consumer sees. */
const INTERNAL = new Set<string>([
  ReservedHeader.ID,
  ReservedHeader.KEY,
  ReservedHeader.TIMESTAMP,
  EMPTY_BODY_PROPERTY,
  EMPTY_HEADERS_PROPERTY,
]);

const MESSAGE_GROUP_MAX_BYTES = 64;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what RocketMQ refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

function usableAsKey(s: string): boolean {
  return s.trim().length > 0 && !CONTROL.test(s);
}

/** The FIFO message group of a key: the key itself when RocketMQ accepts it, else a stable hash of it. */
export function messageGroupOf(key: string): string {
  if (usableAsKey(key) && Buffer.byteLength(key, 'utf8') <= MESSAGE_GROUP_MAX_BYTES) return key;
  return `sha1-${createHash('sha1').update(key, 'utf8').digest('hex')}`;
}

/**
 * The client's message for one record. On a FIFO topic every message needs a message group: the key's, or
 * for a keyless message its own id's (keyless messages promise no order). `extraProperties` (dead-letter
 * bookkeeping) are added after the record's headers.
 */
export function toRocketMessage(
  topic: string,
  record: MessageRecord,
  fifo: boolean,
  extraProperties: Readonly<Record<string, string>> = {},
): MessageOptions {
  const properties = new Map<string, string>();
  const emptyHeaders: string[] = [];
  for (const [name, value] of [...Object.entries(record.headers), ...Object.entries(extraProperties)]) {
    if (value === '') emptyHeaders.push(name);
    else properties.set(name, value);
  }
  if (emptyHeaders.length > 0) properties.set(EMPTY_HEADERS_PROPERTY, JSON.stringify(emptyHeaders));
  properties.set(ReservedHeader.ID, record.id);
  properties.set(ReservedHeader.TIMESTAMP, String(record.timestamp));
  if (record.key !== undefined) properties.set(ReservedHeader.KEY, record.key);
  let body = Buffer.from(record.body.buffer, record.body.byteOffset, record.body.byteLength);
  if (body.byteLength === 0) {
    body = Buffer.from([0]);
    properties.set(EMPTY_BODY_PROPERTY, '1');
  }
  const message: MessageOptions = { topic, body, properties };
  if (record.key !== undefined && usableAsKey(record.key)) message.keys = [record.key];
  if (fifo) message.messageGroup = messageGroupOf(record.key ?? record.id);
  return message;
}

/** What a delivery carries, decoded from a received message. */
export interface DecodedMessage {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timestamp: number;
}

/**
 * Decodes a received message. A message that did not come from lossless (no `x-lossless-id`) gets RocketMQ's
 * message id, its first key and its born timestamp.
 */
export function fromRocketMessage(view: MessageView): DecodedMessage {
  const props = view.properties;
  const headers: Record<string, string> = {};
  for (const [name, value] of props) if (!INTERNAL.has(name)) headers[name] = value;
  const empties = props.get(EMPTY_HEADERS_PROPERTY);
  if (empties !== undefined) {
    try {
      for (const name of JSON.parse(empties) as unknown[]) if (typeof name === 'string') headers[name] = '';
    } catch {
      // Not ours: leave the headers as they came.
    }
  }
  const stamp = Number(props.get(ReservedHeader.TIMESTAMP));
  const empty = props.get(EMPTY_BODY_PROPERTY) === '1';
  return {
    id: props.get(ReservedHeader.ID) ?? view.messageId,
    key: props.get(ReservedHeader.KEY) ?? view.keys[0],
    headers,
    body: empty ? new Uint8Array(0) : new Uint8Array(view.body),
    timestamp: Number.isSafeInteger(stamp) ? stamp : (view.bornTimestamp?.getTime() ?? Date.now()),
  };
}

/** The record a dead-lettered delivery is re-sent as (same id, key, timestamp, headers without bookkeeping). */
export function recordOf(decoded: DecodedMessage): MessageRecord {
  return {
    id: decoded.id,
    key: decoded.key,
    headers: decoded.headers,
    body: decoded.body,
    timestamp: decoded.timestamp,
  };
}
