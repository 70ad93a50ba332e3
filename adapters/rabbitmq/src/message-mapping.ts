// A lossless record on the AMQP wire and back:
//   id        → basic.properties.message-id (what `rabbitmqctl` and other clients see)
//   key       → header `x-lossless-key` (a key may be 1 KiB; a routing key only 255 bytes, and fanout ignores it)
//   timestamp → header `x-lossless-timestamp` (ms) and basic.properties.timestamp (seconds, the AMQP convention)
//   headers   → AMQP headers, as strings; no content-type property is set (a `content-type` header stays a header)
//   body      → the content, byte for byte
//   attempt   ← quorum `x-delivery-count` + 1; classic: see `attemptOf`
import { createHash } from 'node:crypto';
import { type MessageRecord, ReservedHeader } from '@lossless/core/driver';
import type { ConsumeMessage, Options } from 'amqplib';

/** Headers the broker sets that are mapped to fields and not passed on as headers. */
const DELIVERY_COUNT = 'x-delivery-count';
const MAPPED = new Set<string>([
  ReservedHeader.ID,
  ReservedHeader.KEY,
  ReservedHeader.TIMESTAMP,
  DELIVERY_COUNT,
]);

/** The body as a Buffer without copying. */
export function toBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** basic.publish properties for a record: persistent, mandatory, with its id, key and timestamp. */
export function publishOptions(
  record: MessageRecord,
  extraHeaders?: Record<string, string>,
): Options.Publish {
  const headers: Record<string, string> = { ...record.headers };
  if (record.key !== undefined) headers[ReservedHeader.KEY] = record.key;
  headers[ReservedHeader.TIMESTAMP] = String(record.timestamp);
  if (extraHeaders) Object.assign(headers, extraHeaders);
  return {
    persistent: true, // delivery mode 2: written to disk before the confirm
    mandatory: true, // an unroutable message comes back (basic.return) instead of vanishing
    messageId: record.id,
    timestamp: Math.floor(record.timestamp / 1000),
    headers,
  };
}

/** One AMQP header value as a string; undefined for values that have no faithful string form (x-death). */
function headerString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

/** The headers a handler sees: the publisher's plus dead-letter bookkeeping; mapped and structured ones dropped. */
export function deliveryHeaders(msg: ConsumeMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = msg.properties.headers ?? {};
  for (const name of Object.keys(raw)) {
    if (MAPPED.has(name)) continue;
    const v = headerString(raw[name]);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** The message id; a message from a publisher that set none gets a stable digest of its content. */
export function messageIdOf(msg: ConsumeMessage): string {
  const id = msg.properties.messageId;
  if (typeof id === 'string' && id.length > 0) return id;
  const fromHeader = headerString(msg.properties.headers?.[ReservedHeader.ID]);
  if (fromHeader) return fromHeader;
  return `sha256:${createHash('sha256').update(msg.content).digest('hex')}`;
}

export function keyOf(msg: ConsumeMessage): string | undefined {
  return headerString(msg.properties.headers?.[ReservedHeader.KEY]);
}

export function timestampOf(msg: ConsumeMessage): number {
  const ms = Number(headerString(msg.properties.headers?.[ReservedHeader.TIMESTAMP]));
  if (Number.isSafeInteger(ms) && ms >= 0) return ms;
  const seconds = Number(msg.properties.timestamp);
  if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  return Date.now();
}

/** The quorum queue's count of earlier deliveries, when the broker set it. */
export function deliveryCountOf(msg: ConsumeMessage): number | undefined {
  const n = Number(headerString(msg.properties.headers?.[DELIVERY_COUNT]));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The headers of a dead-letter copy: everything the original carried except the broker's delivery count. */
export function deadLetterCopyOptions(msg: ConsumeMessage, extra: Record<string, string>): Options.Publish {
  const headers: Record<string, unknown> = {};
  const raw = msg.properties.headers ?? {};
  for (const name of Object.keys(raw)) if (name !== DELIVERY_COUNT) headers[name] = raw[name];
  Object.assign(headers, extra);
  const p = msg.properties;
  const options: Options.Publish = { persistent: true, mandatory: true, headers };
  if (typeof p.messageId === 'string') options.messageId = p.messageId;
  if (typeof p.timestamp === 'number') options.timestamp = p.timestamp;
  if (typeof p.contentType === 'string') options.contentType = p.contentType;
  if (typeof p.contentEncoding === 'string') options.contentEncoding = p.contentEncoding;
  if (typeof p.correlationId === 'string') options.correlationId = p.correlationId;
  if (typeof p.type === 'string') options.type = p.type;
  if (typeof p.appId === 'string') options.appId = p.appId;
  return options;
}
