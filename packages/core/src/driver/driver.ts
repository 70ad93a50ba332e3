// The driver contract: what an adapter implements for one broker.
//
// Application code should use `@lossless/core` (connect, Bus), not this module. A driver is deliberately
// narrow and batch-shaped (go-cloud's split): it does NOT validate, batch, re-send, time out, count handler
// attempts or limit concurrency. Core does all of that once, for every broker. On a transient failure a driver
// returns (or throws) an error whose `retriable` is true, and core decides what to do. What every consumer needs
// besides — settle-once with STALE_DELIVERY, dead-letter headers, a prefetch bound, health, backoff waits — a
// driver takes from `@lossless/core/driver` instead of writing it again.
//
// A driver retries by itself only where core cannot, and says why where it does: re-opening a consumer or a
// connection after a loss (there is no caller to return to); a produce the broker client must repeat with the
// same sequence numbers (kafkajs); a copy that stands in for a nack where the broker has none (Kafka's retry and
// dead-letter copies: the original cannot be handed back, so it stays unsettled until its copy is stored); a
// per-key chain where a key's next send must wait for the previous one's answer (RocketMQ FIFO).
import type { LosslessError } from '../errors.js';
import type { MessageRecord } from '../message.js';
import type { NormalizedSubscription, NormalizedTopology } from '../topology.js';

/** What a broker (through this driver) can do. The conformance suite skips a case only from these, with a reason. */
export interface Capabilities {
  /** Largest message (body + headers, bytes) the broker accepts as configured. Core rejects larger with TOO_LARGE. */
  maxMessageBytes: number;
  /**
   * Largest total of header names and values (bytes) the broker and client carry, when that is below core's own
   * limits (64 headers of 16 KiB): RocketMQ's proxy takes 16 KiB of user properties, amqplib encodes a header
   * table of at most 64 KiB. Core rejects more with TOO_LARGE before anything is sent. Absent: core's limits.
   */
  maxHeaderBytes?: number;
  /**
   * The broker reports a message that no subscription takes (RabbitMQ `mandatory`). When false, a topic keeps
   * every message whether or not a subscription exists (Kafka, RocketMQ), so there is no unroutable message.
   */
  unroutable: boolean;
  /** `nack({ delayMs })` delays redelivery natively. When false, core holds the message for the delay, then nacks. */
  nativeRedeliveryDelay: boolean;
  /** Dead-lettered messages can be read back with `subscribe(..., { deadLetters: true })`. */
  deadLetters: boolean;
  /** Messages of one key can be delivered in order (Kafka partitions, RocketMQ FIFO, RabbitMQ single active consumer). */
  keyOrdering: boolean;
  /** The broker runs in its own process(es), so it can be killed, restarted and cut off by the fault cases. */
  externalProcess: boolean;
  /** More than one node holds each message (the fixture in use runs a replicated cluster). */
  replication: boolean;
  /** An ack after the delivery went stale is reported (R4) rather than silently ignored. */
  staleAckDetection: boolean;
  /**
   * The broker keeps a subscription's maxDeliveries, so re-declaring it with another value — from any process —
   * is a CONFLICT. Absent or false (Kafka: a consumer group stores no such setting): the other value is accepted
   * and the first process's setting is not enforced on the second.
   */
  storesSubscriptionSettings?: boolean;
  /** A subscription declared after messages were published receives them (the topic is a log). */
  retainsBeforeSubscription: boolean;
  /**
   * The ways the driver can authenticate to its broker (e.g. `PLAIN`, `SCRAM-SHA-512`, `EXTERNAL`), and whether it
   * speaks TLS (the `tls` option). Absent: neither (an in-process broker). Shown in the capability matrix; the
   * conformance suite's security group runs against a broker that requires them.
   */
  authentication?: readonly string[];
  tls?: boolean;
}

/** The broker's answer for one record of a batch. */
export type SendOutcome =
  | {
      ok: true /** Broker coordinates, for the receipt: partition/offset, a broker message id… */;
      details?: Readonly<Record<string, string | number>>;
    }
  | { ok: false; error: LosslessError };

/** Reports the outcome of `records[index]` of a `send` call before the whole batch is answered. */
export type SendProgress = (index: number, outcome: SendOutcome) => void;

export type HealthState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface Health {
  state: HealthState;
  /** Why the driver is not connected, if it knows. */
  reason?: string;
  /** When the state last changed (ms since the epoch). */
  since: number;
}

/** One delivery handed to core. Core settles each delivery exactly once: ack, nack or deadLetter. */
export interface DriverDelivery {
  readonly id: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timestamp: number;
  /** 1 on the first delivery, +1 on every redelivery, as counted by the broker (or a header where it has none). */
  readonly attempt: number;
  /** The handler succeeded: remove the message for this subscription (ack / commit). */
  ack(): Promise<void>;
  /** The handler failed: deliver the message again later (attempt + 1). `delayMs` only when nativeRedeliveryDelay. */
  nack(options: { delayMs: number; error: string }): Promise<void>;
  /**
   * Give up: move the message to the subscription's dead-letter destination with its body, headers, attempt and
   * `error` (or drop it when the subscription has no dead letters).
   */
  deadLetter(options: { error: string }): Promise<void>;
  /** Keep the message reserved while a long handler runs (RocketMQ invisible time, Kafka heartbeat). Optional. */
  extend?(): Promise<void>;
}

export interface DriverSubscribeOptions {
  readonly subscription: NormalizedSubscription;
  /** Read the dead-letter destination of the subscription instead of its live messages. */
  readonly deadLetters: boolean;
  /** How many unsettled deliveries the driver may hand out at once (RabbitMQ prefetch). */
  readonly prefetch: number;
  /** Deliver one key's messages in order (one at a time per key). */
  readonly keyOrdering: boolean;
}

/** Called by the driver for each delivery. Must not throw; core catches handler errors itself. */
export type DeliverySink = (delivery: DriverDelivery) => void;

export interface DriverSubscription {
  /**
   * Stop fetching new messages; deliveries already handed out can still be settled. Idempotent. Resolves once
   * no new delivery will reach the sink.
   */
  stop(): Promise<void>;
  /**
   * Release everything: unsettled deliveries return to the broker and are redelivered (to this or another
   * consumer). Idempotent; settling a delivery afterwards rejects with STALE_DELIVERY or CLOSED.
   */
  close(): Promise<void>;
  /**
   * Optional: messages of this subscription not consumed yet, as the broker counts them (Kafka: the group's lag
   * over the partitions it reads; RabbitMQ: the queue's ready messages), or undefined when the broker cannot tell
   * now. Read by core's `lossless.consume.lag` gauge at each metric collection; must not throw for a transient
   * failure (undefined instead) and should answer within a few seconds.
   */
  backlog?(): Promise<number | undefined>;
}

/** A subscription's dead-letter destination as the broker names it (`Driver.deadLetterDestinations`). */
export interface DeadLetterDestination {
  /** The portable topic and subscription the dead letters belong to. */
  readonly topic: string;
  readonly subscription: string;
  /** The broker's own name of the destination (a queue, a topic), for operators. */
  readonly destination: string;
}

export interface Driver {
  /** The broker's name ("rabbitmq", "kafka", "rocketmq", "memory"), used in errors and reports. */
  readonly name: string;
  readonly capabilities: Capabilities;
  /**
   * Connects, or rejects with a typed error (UNAVAILABLE when the broker cannot be reached) once `signal`
   * aborts. Called once, before anything else.
   */
  connect(signal: AbortSignal): Promise<void>;
  /**
   * Creates what is missing; leaves what exists and matches alone; rejects with CONFLICT when something exists
   * with other settings. Safe to call concurrently and repeatedly with the same topology.
   */
  declare(topology: NormalizedTopology): Promise<void>;
  /**
   * Sends the records in order and resolves with one outcome per record, in the same order, once the broker has
   * answered for each (a durable confirm, a nack, a return). Never retries. May be called again before an earlier
   * call resolved (core pipelines batches); per-key order across calls must be kept for calls made in order.
   * An error thrown (instead of per-record outcomes) applies to every record of the batch.
   *
   * `progress` (optional to call): a driver whose broker answers record by record may report each outcome as it
   * arrives — at most once per index, the same outcome the returned array holds, before the promise settles —
   * so the publish it belongs to settles then, not when the batch's last answer comes. Core treats the first
   * report of an index as that record's outcome; a driver that never calls it is just as correct.
   */
  send(topic: string, records: readonly MessageRecord[], progress?: SendProgress): Promise<SendOutcome[]>;
  /** Starts consuming; `sink` gets each delivery. Rejects with NOT_FOUND when the subscription does not exist. */
  subscribe(options: DriverSubscribeOptions, sink: DeliverySink): Promise<DriverSubscription>;
  /** The connection's state now. Cheap; called often. */
  health(): Health;
  /** Maps a native error of this broker's client to a LosslessError; undefined for errors it does not know. */
  classify(error: unknown): LosslessError | undefined;
  /**
   * Optional (operations tools, e.g. `lossless dlq list`): how many messages the subscription's dead-letter
   * destination holds that no dead-letter reader removed yet, as the broker counts them (RabbitMQ: the `.dlq`
   * queue's ready messages, so ones held unacked by a reader at that moment are not counted; Kafka: the lag of
   * the dead-letter group on the `.dlq` topic). Rejects NOT_FOUND when the destination does not exist, with a
   * retriable error when the broker cannot answer now. Reads only: moves, reserves and settles nothing. Absent:
   * the broker cannot count without reading (RocketMQ's pop consumption: a tool counts by reading).
   */
  deadLetterDepth?(subscription: NormalizedSubscription): Promise<number>;
  /**
   * Optional: every dead-letter destination the broker holds (of `topic` only, when given), found by listing
   * the broker's queues or topics. Absent where the protocol has no listing (AMQP 0-9-1 has none: RabbitMQ's
   * listing is the management plugin's HTTP API) or the names cannot be mapped back to the portable pair.
   */
  deadLetterDestinations?(topic?: string): Promise<DeadLetterDestination[]>;
  /** Closes connections. Called once, after core has flushed publishes and closed subscriptions. */
  close(): Promise<void>;
}
