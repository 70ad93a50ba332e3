// How a lossless message maps onto a Kafka record and back: the id, the original timestamp (when Kafka's own
// record timestamp cannot carry it), the attempt and dead-letter bookkeeping travel as `x-lossless-*` headers;
// the key is the record key (murmur2 partitioning, per-key order); user headers are UTF-8 record headers.
import { type MessageRecord, ReservedHeader } from '@lossless/core/driver';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';

/** Headers this adapter adds on dead-lettered copies, besides core's ReservedHeader set. */
export const KafkaHeader = {
  ORIGINAL_PARTITION: 'x-lossless-original-partition',
  ORIGINAL_OFFSET: 'x-lossless-original-offset',
  /** Deliveries of a dead letter on the dead-letter topic (its `x-lossless-attempt` keeps the attempt at death). */
  DEAD_LETTER_ATTEMPT: 'x-lossless-dead-letter-attempt',
} as const;

/**
 * Kafka keeps a record's timestamp as given (CreateTime), but uses it for time-based retention (an old timestamp
 * can make a fresh record eligible for deletion) and Kafka 4 rejects timestamps more than an hour ahead
 * (`log.message.timestamp.after.max.ms`). A timestamp within this window of now is the record timestamp; any
 * other is sent as `x-lossless-timestamp` and the record gets the send time.
 */
const TIMESTAMP_PAST_MS = 60 * 60 * 1000;
const TIMESTAMP_FUTURE_MS = 10 * 60 * 1000;

/** Bytes a record adds beyond body, header and key bytes (framing varints, attributes): an estimate. */
const RECORD_OVERHEAD = 64;

/** A record ready for kafkajs, with its size estimate (for chunking) and what picks its partition. */
export interface Outgoing {
  readonly message: Message;
  readonly bytes: number;
  /** Partitioning key: the record key, or the message id when there is none (a re-send lands in the same partition). */
  readonly partitionKey: string;
  readonly id: string;
}

function bytesOf(headers: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) n += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  }
  return n;
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** A published record as a Kafka message. */
export function toOutgoing(record: MessageRecord, now = Date.now()): Outgoing {
  const headers: Record<string, string> = { ...record.headers, [ReservedHeader.ID]: record.id };
  let timestamp = record.timestamp;
  if (timestamp < now - TIMESTAMP_PAST_MS || timestamp > now + TIMESTAMP_FUTURE_MS) {
    headers[ReservedHeader.TIMESTAMP] = String(record.timestamp);
    timestamp = now;
  }
  const message: Message = {
    key: record.key ?? null,
    value: asBuffer(record.body),
    headers,
    timestamp: String(timestamp),
  };
  return {
    message,
    bytes:
      record.body.byteLength +
      bytesOf(headers) +
      (record.key ? Buffer.byteLength(record.key) : 0) +
      RECORD_OVERHEAD,
    partitionKey: record.key ?? record.id,
    id: record.id,
  };
}

/** A copy of a consumed message for the retry or dead-letter topic: same key, body and headers, plus `extra`. */
export function toCopy(
  source: IncomingFields,
  extra: Readonly<Record<string, string>>,
  keepReserved = false,
): Outgoing {
  const headers: Record<string, string> = {
    ...(keepReserved ? source.reserved : {}),
    ...source.userHeaders,
    [ReservedHeader.ID]: source.id,
    [ReservedHeader.TIMESTAMP]: String(source.timestamp),
    ...extra,
  };
  const message: Message = {
    key: source.key ?? null,
    value: asBuffer(source.body),
    headers,
    timestamp: String(Date.now()),
  };
  return {
    message,
    bytes:
      source.body.byteLength +
      bytesOf(headers) +
      (source.key ? Buffer.byteLength(source.key) : 0) +
      RECORD_OVERHEAD,
    partitionKey: source.key ?? source.id,
    id: source.id,
  };
}

/** What a consumed Kafka record means to lossless. */
export interface IncomingFields {
  readonly id: string;
  readonly key: string | undefined;
  readonly body: Uint8Array;
  readonly timestamp: number;
  readonly attempt: number;
  /** Headers the application set (no `x-lossless-*`). */
  readonly userHeaders: Readonly<Record<string, string>>;
  /** Our bookkeeping headers as found on the record (attempt, last error, dead-letter data). */
  readonly reserved: Readonly<Record<string, string>>;
}

function headerText(value: IHeaders[string]): string | undefined {
  if (value === undefined) return undefined;
  // kafkajs gives an array when a header name repeats: the last one wins, as in a JS object.
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

const HIDDEN: ReadonlySet<string> = new Set([
  ReservedHeader.ID,
  ReservedHeader.KEY,
  ReservedHeader.TIMESTAMP,
  KafkaHeader.DEAD_LETTER_ATTEMPT,
]);

/** Decodes a consumed record. A record without our id header (written by another client) gets `topic-partition-offset`. */
export function fromKafka(
  topic: string,
  partition: number,
  message: KafkaMessage,
  deadLetters: boolean,
): IncomingFields {
  const userHeaders: Record<string, string> = {};
  const reserved: Record<string, string> = {};
  const headers = message.headers ?? {};
  for (const name of Object.keys(headers)) {
    const value = headerText(headers[name]);
    if (value === undefined) continue;
    if (name.toLowerCase().startsWith('x-lossless-')) reserved[name] = value;
    else userHeaders[name] = value;
  }
  const id = reserved[ReservedHeader.ID] ?? `${topic}-${partition}-${message.offset}`;
  const stamped = Number(reserved[ReservedHeader.TIMESTAMP]);
  const attempt = Number(reserved[deadLetters ? KafkaHeader.DEAD_LETTER_ATTEMPT : ReservedHeader.ATTEMPT]);
  const value = message.value;
  return {
    id,
    key: message.key === null ? undefined : message.key.toString('utf8'),
    body:
      value === null ? new Uint8Array(0) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    timestamp: Number.isSafeInteger(stamped) ? stamped : Number(message.timestamp),
    attempt: Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1,
    userHeaders,
    reserved,
  };
}

/**
 * The headers a handler sees: the application's own; on a dead-letter subscription also our bookkeeping
 * (attempt, last error, reason, original topic/partition/offset), as core's contract for dead letters asks.
 */
export function visibleHeaders(
  fields: IncomingFields,
  deadLetters: boolean,
): Readonly<Record<string, string>> {
  if (!deadLetters) return fields.userHeaders;
  const out: Record<string, string> = { ...fields.userHeaders };
  for (const [k, v] of Object.entries(fields.reserved)) if (!HIDDEN.has(k)) out[k] = v;
  return out;
}
