// One dead letter as the commands show it: the message (id, key, headers, body) and the bookkeeping the driver
// wrote when it gave up (attempt, last error, reason, original topic — and partition and offset on Kafka).
import { RESERVED_HEADER_PREFIX, ReservedHeader } from '@lossless/core';
import type { DriverDelivery } from '@lossless/core/driver';

/** Bytes of the body shown by `show`. */
export const PREVIEW_BYTES = 80;

/** The header a redriven message carries: when it left the dead-letter destination (ISO 8601). */
export const REDRIVEN_AT_HEADER = 'lossless-redriven-at';
/** The header a redriven message carries: which subscription's dead letters it came from (`topic/subscription`). */
export const REDRIVEN_FROM_HEADER = 'lossless-redriven-from';

export interface DeadLetter {
  readonly id: string;
  readonly key: string | undefined;
  /** The delivery attempt that gave up (`x-lossless-attempt`), when the driver wrote it. */
  readonly attempt: number | undefined;
  readonly lastError: string | undefined;
  /** `max-deliveries`, or `kept-in-dead-letters` for one a dead-letter reader failed on. */
  readonly reason: string | undefined;
  readonly originalTopic: string | undefined;
  /** Kafka: the partition and `topic@offset` the message was read from when it died. */
  readonly originalPartition: number | undefined;
  readonly originalOffset: string | undefined;
  /** When the message was published (ISO 8601). */
  readonly timestamp: string;
  /** Set when this message was redriven before and died again. */
  readonly redrivenAt: string | undefined;
  /** The application's own headers (what a redrive sends again). */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
  /** The first PREVIEW_BYTES bytes, printable ASCII as is, everything else escaped (`\n`, `\xNN`). */
  readonly bodyPreview: string;
}

/** `bytes` as printable text: ASCII 0x20–0x7e as is (backslash doubled), the rest escaped; "…" when cut. */
export function preview(bytes: Uint8Array, max = PREVIEW_BYTES): string {
  let out = '';
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] ?? 0;
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b <= 0x7e) out += String.fromCharCode(b);
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > max ? `${out}…` : out;
}

function int(value: string | undefined): number | undefined {
  const n = Number(value);
  return value !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

/** The application's headers of a dead letter: everything but the reserved `x-lossless-` ones. */
export function applicationHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!k.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) out[k] = v;
  }
  return out;
}

export function describeDeadLetter(d: DriverDelivery): DeadLetter {
  const h = d.headers;
  return {
    id: d.id,
    key: d.key,
    attempt: int(h[ReservedHeader.ATTEMPT]),
    lastError: h[ReservedHeader.LAST_ERROR],
    reason: h[ReservedHeader.DEAD_LETTER_REASON],
    originalTopic: h[ReservedHeader.ORIGINAL_TOPIC],
    originalPartition: int(h['x-lossless-original-partition']),
    originalOffset: h['x-lossless-original-offset'],
    timestamp: new Date(d.timestamp).toISOString(),
    redrivenAt: h[REDRIVEN_AT_HEADER],
    headers: applicationHeaders(h),
    bodyBytes: d.body.byteLength,
    bodyPreview: preview(d.body),
  };
}
