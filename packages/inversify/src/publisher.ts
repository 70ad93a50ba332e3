// A typed publisher for one topic: the value is serialized as JSON, the key and headers come from the
// configuration (or the call), and the bus does the rest (batching, confirms, re-sends).
import { type Bus, type Headers, json, type PublishReceipt } from '@lossless/core';

/** Per-call settings of `Publisher.publish`; they win over the configured ones. */
export interface PublishValueOptions {
  /** Message id; a UUIDv7 when absent. Set it to make a retried publish deduplicable downstream. */
  id?: string;
  /** Partitioning / ordering key; default: the configured `key(value)`. */
  key?: string;
  /** Merged over the configured headers. */
  headers?: Headers;
  timestamp?: number;
  /** Aborting rejects with CANCELLED (after hand-off to the broker the outcome is unknown). */
  signal?: AbortSignal;
}

/** Publishes values of type `T` to one topic. Safe to call concurrently; each call is awaited on its own. */
export interface Publisher<T> {
  readonly topic: string;
  /**
   * Serializes `value` as JSON and publishes it. Resolves only once the broker confirmed it durably; rejects
   * with a `LosslessError` otherwise (never both). After the bus closed: CLOSED.
   */
  publish(value: T, options?: PublishValueOptions): Promise<PublishReceipt>;
}

/** How a publisher builds messages from values. */
export interface PublisherSettings<T> {
  topic: string;
  /** The message key of a value (per-key order, partitioning). */
  key?: (value: T) => string | undefined;
  /** Headers of every message, or of a given value. */
  headers?: Headers | ((value: T) => Headers);
}

/** @internal The module's implementation of `Publisher<T>`. */
export class JsonPublisher<T> implements Publisher<T> {
  readonly topic: string;

  constructor(
    private readonly bus: Bus,
    private readonly settings: PublisherSettings<T>,
  ) {
    this.topic = settings.topic;
  }

  publish(value: T, options: PublishValueOptions = {}): Promise<PublishReceipt> {
    const { signal, ...overrides } = options;
    const configured =
      typeof this.settings.headers === 'function' ? this.settings.headers(value) : this.settings.headers;
    const key = overrides.key ?? this.settings.key?.(value);
    const headers = configured || overrides.headers ? { ...configured, ...overrides.headers } : undefined;
    const message = json(value, {
      ...(overrides.id === undefined ? {} : { id: overrides.id }),
      ...(key === undefined ? {} : { key }),
      ...(headers === undefined ? {} : { headers }),
      ...(overrides.timestamp === undefined ? {} : { timestamp: overrides.timestamp }),
    });
    return this.bus.publish(this.topic, message, signal ? { signal } : undefined);
  }
}
