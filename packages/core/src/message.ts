// What a message is, on the way in (OutgoingMessage, from the application) and on the wire (MessageRecord,
// what core hands a driver), plus the validation every message passes before anything is sent.
import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { ErrorCode, invalidArgument, LosslessError } from './errors.js';
import { closest, describeValue } from './validate.js';

export type Headers = Record<string, string>;

/** What the application publishes. Only `body` is required. */
export interface OutgoingMessage {
  /** Bytes, or a string (sent as UTF-8). Use `json()` for objects. */
  body: Uint8Array | string;
  /** Kept across re-sends, redeliveries and outbox replay; UUIDv7 when absent. Consumers deduplicate by it. */
  id?: string;
  /** Partitioning / ordering key: messages with the same key keep their publish order. */
  key?: string;
  /** String to string; names are case-sensitive; the `x-lossless-` prefix is reserved. */
  headers?: Headers;
  /** Milliseconds since the epoch; now when absent. */
  timestamp?: number;
}

/** A validated message as core hands it to a driver. Immutable once built: re-sends reuse the same record. */
export interface MessageRecord {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Headers>;
  readonly body: Uint8Array;
  readonly timestamp: number;
}

/** Headers lossless itself writes on the wire where a broker has no native field. Users may not set these. */
export const ReservedHeader = {
  ID: 'x-lossless-id',
  KEY: 'x-lossless-key',
  TIMESTAMP: 'x-lossless-timestamp',
  ATTEMPT: 'x-lossless-attempt',
  LAST_ERROR: 'x-lossless-last-error',
  DEAD_LETTER_REASON: 'x-lossless-dead-letter-reason',
  ORIGINAL_TOPIC: 'x-lossless-original-topic',
} as const;
export const RESERVED_HEADER_PREFIX = 'x-lossless-';

export const Limits = {
  /** Portable across RabbitMQ (255 bytes), Kafka (249) and RocketMQ (127, no dots). */
  nameMaxLength: 100,
  idMaxLength: 128,
  keyMaxBytes: 1024,
  headerNameMaxBytes: 200,
  headerValueMaxBytes: 16 * 1024,
  headersMax: 64,
} as const;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** Names already validated: publish validates its topic on every call, so remember the good ones (bounded). */
const validNames = new Set<string>();
const VALID_NAMES_REMEMBERED = 10_000;

// uuid asks the OS for 16 random bytes per id; one syscall per id was a third of publish's CPU time. A pool
// refilled 4 KiB at a time gives the same cryptographic randomness for 256 ids per syscall.
const randomPool = new Uint8Array(4096);
let randomPos = randomPool.length;
function pooledRandom(): Uint8Array {
  if (randomPos + 16 > randomPool.length) {
    randomFillSync(randomPool);
    randomPos = 0;
  }
  randomPos += 16;
  return randomPool.subarray(randomPos - 16, randomPos);
}
const uuidOptions = { rng: pooledRandom };

/** A new message id: a UUIDv7 (time-ordered). */
export function newMessageId(): string {
  return uuidv7(uuidOptions);
}
const ID = /^[\x21-\x7e]+$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Throws INVALID_ARGUMENT unless `name` is a portable topic or subscription name. */
export function validateName(kind: 'topic' | 'subscription', name: unknown): asserts name is string {
  if (typeof name === 'string' && validNames.has(name)) return;
  if (typeof name !== 'string' || name.length === 0) {
    throw invalidArgument(`${kind} name must be a non-empty string, got ${describe(name)}`);
  }
  if (name.length > Limits.nameMaxLength || !NAME.test(name)) {
    throw invalidArgument(
      `${kind} name ${JSON.stringify(name)} is not portable: use 1-${Limits.nameMaxLength} ASCII letters, digits, ` +
        `'-' or '_', starting with a letter or digit (RocketMQ allows no dots, Kafka and RabbitMQ limit the length)`,
    );
  }
  if (validNames.size < VALID_NAMES_REMEMBERED) validNames.add(name);
}

function describe(v: unknown): string {
  return describeValue(v);
}

function closeTo(k: string): string {
  const near = closest(k, [...MESSAGE_KEYS]);
  return near ? ` (did you mean '${near}'?)` : '';
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function validateHeaders(headers: unknown, topic: string): Headers {
  if (headers === undefined) return EMPTY_HEADERS;
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw invalidArgument(`headers must be an object of string values, got ${describe(headers)}`, { topic });
  }
  const entries = Object.entries(headers);
  if (entries.length > Limits.headersMax) {
    throw invalidArgument(`at most ${Limits.headersMax} headers are allowed, got ${entries.length}`, {
      topic,
    });
  }
  for (const [name, value] of entries) {
    if (name.length === 0 || byteLength(name) > Limits.headerNameMaxBytes || /[\0\r\n:]/.test(name)) {
      throw invalidArgument(
        `header name ${JSON.stringify(name)} is invalid: 1-${Limits.headerNameMaxBytes} bytes, no NUL, CR, LF or ':'`,
        { topic },
      );
    }
    if (PROTOTYPE_NAMES.has(name)) {
      throw invalidArgument(
        `header name ${JSON.stringify(name)} is a JavaScript Object.prototype member, which not every client keeps: choose another name`,
        { topic },
      );
    }
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      throw invalidArgument(
        `header ${JSON.stringify(name)} uses the reserved prefix '${RESERVED_HEADER_PREFIX}'`,
        {
          topic,
        },
      );
    }
    if (typeof value !== 'string') {
      throw invalidArgument(`header ${JSON.stringify(name)} must be a string, got ${describe(value)}`, {
        topic,
      });
    }
    if (value.includes('\0') || byteLength(value) > Limits.headerValueMaxBytes) {
      throw invalidArgument(
        `header ${JSON.stringify(name)} is invalid: at most ${Limits.headerValueMaxBytes} bytes and no NUL`,
        { topic },
      );
    }
  }
  // A prototype-free copy: a handler that reads headers.toString gets undefined, not a function.
  return Object.freeze(Object.assign(Object.create(null) as Headers, headers));
}

/**
 * Header names that are Object.prototype members (`__proto__`, `constructor`, `toString`…). Client libraries
 * build header maps by assignment, where `__proto__` silently vanishes (or replaces the map's prototype) and the
 * others shadow methods some of them call; rejected on every adapter alike rather than round-tripped on some.
 */
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

const MESSAGE_KEYS: ReadonlySet<string> = new Set(['body', 'id', 'key', 'headers', 'timestamp']);

const EMPTY_HEADERS: Headers = Object.freeze({}) as Headers;

/**
 * Validates an outgoing message and builds the record a driver sends. Throws INVALID_ARGUMENT or TOO_LARGE;
 * never sends. `maxBytes` is the broker's (or the configured) limit for the body plus headers.
 */
export function buildRecord(
  topic: string,
  message: OutgoingMessage,
  maxBytes: number,
  maxHeaderBytes = Number.POSITIVE_INFINITY,
): MessageRecord {
  if (message === null || typeof message !== 'object') {
    throw invalidArgument(`a message must be an object with a body, got ${describe(message)}`, { topic });
  }
  for (const k in message) {
    if (!MESSAGE_KEYS.has(k)) {
      throw invalidArgument(
        `unknown message field '${k}'${closeTo(k)}; a message has body, id, key, headers and timestamp`,
        { topic },
      );
    }
  }
  const { body, id, key, timestamp } = message;
  let bytes: Uint8Array;
  if (body instanceof Uint8Array) bytes = body;
  else if (typeof body === 'string') bytes = encoder.encode(body);
  else
    throw invalidArgument(`message body must be a Uint8Array or a string, got ${describe(body)}`, { topic });

  if (id !== undefined && (typeof id !== 'string' || id.length > Limits.idMaxLength || !ID.test(id))) {
    throw invalidArgument(
      `message id must be 1-${Limits.idMaxLength} printable ASCII characters without spaces, got ${describe(id)}`,
      { topic },
    );
  }
  if (
    key !== undefined &&
    (typeof key !== 'string' || key.length === 0 || byteLength(key) > Limits.keyMaxBytes)
  ) {
    throw invalidArgument(`message key must be a non-empty string of at most ${Limits.keyMaxBytes} bytes`, {
      topic,
    });
  }
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) {
    throw invalidArgument(
      `timestamp must be a non-negative integer (ms since the epoch), got ${describe(timestamp)}`,
      {
        topic,
      },
    );
  }
  const headers = validateHeaders(message.headers, topic);
  let headerSize = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) headerSize += byteLength(name) + byteLength(value);
  }
  if (headerSize > maxHeaderBytes) {
    throw new LosslessError(
      ErrorCode.TOO_LARGE,
      `headers of ${headerSize} bytes (names + values) exceed the ${maxHeaderBytes} bytes this broker carries for ` +
        `topic '${topic}': move large values into the body`,
      { topic, ...(id ? { messageId: id } : {}) },
    );
  }
  const size = bytes.byteLength + headerSize;
  if (size > maxBytes) {
    throw new LosslessError(
      ErrorCode.TOO_LARGE,
      `message of ${size} bytes (body + headers) exceeds the limit of ${maxBytes} bytes for topic '${topic}': ` +
        'store large payloads elsewhere and send a reference',
      { topic, ...(id ? { messageId: id } : {}) },
    );
  }
  return {
    id: id ?? newMessageId(),
    key,
    headers,
    body: bytes,
    timestamp: timestamp ?? Date.now(),
  };
}

/** A message body from a JSON value, with a `content-type` header. */
export function json(value: unknown, rest: Omit<OutgoingMessage, 'body'> = {}): OutgoingMessage {
  return {
    ...rest,
    body: encoder.encode(JSON.stringify(value)),
    headers: { 'content-type': 'application/json', ...rest.headers },
  };
}

/** A message body from a string (UTF-8). */
export function text(value: string, rest: Omit<OutgoingMessage, 'body'> = {}): OutgoingMessage {
  return { ...rest, body: encoder.encode(value) };
}

/** Decodes a UTF-8 body; throws INVALID_ARGUMENT on invalid UTF-8. */
export function decodeText(body: Uint8Array): string {
  try {
    return decoder.decode(body);
  } catch (cause) {
    throw new LosslessError(ErrorCode.INVALID_ARGUMENT, 'message body is not valid UTF-8', { cause });
  }
}

/** Parses a JSON body. */
export function decodeJson<T = unknown>(body: Uint8Array): T {
  const s = decodeText(body);
  try {
    return JSON.parse(s) as T;
  } catch (cause) {
    throw new LosslessError(ErrorCode.INVALID_ARGUMENT, 'message body is not valid JSON', { cause });
  }
}
