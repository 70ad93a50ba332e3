// Publishing with confirms: one confirm channel per destination (a topic's exchange, or a dead-letter queue),
// on one connection. Per-destination channels keep a 404 (a missing exchange closes the channel) from failing
// the publishes of other topics, and let the driver tell which batch it concerns without parsing messages.
//
// A lane writes records strictly in call order (a promise chain), so batches core pipelines keep their order,
// and waits while the connection is blocked (memory/disk alarm) or the channel's buffer is full ('drain').
// Each record's outcome comes from the broker: ack → ok (unless a basic.return for its id came first: RabbitMQ
// sends the return before the ack of an unroutable `mandatory` message), nack → NACKED, channel closed before
// the answer → UNAVAILABLE (it may still be stored: core re-sends with the same id, consumers deduplicate).
//
// A nack retires the channel: later records go on a fresh one. RabbitMQ before 3.12.5 keeps, per channel and
// quorum queue, a client whose first enqueue asks the leader recorded when the channel first published to that
// queue; if that node is down the broker nacks and keeps the same stale leader, so that channel nacks every
// later publish to the queue for as long as it lives (rabbit_fifo_client:enqueue/3, `{badrpc, nodedown}`,
// fixed upstream by rabbitmq-server 27886dd / b43d616). A new channel starts a new client from the queue's
// current record, which names the new leader once it is elected. See README "Quorum queues on a cluster".
import { ErrorCode, LosslessError, type SendOutcome, type SendProgress } from '@lossless/core/driver';
import type { ChannelModel, ConfirmChannel, Message, Options } from 'amqplib';
import { classifyNative, type ErrorContext, toError } from './error-table.js';

/** One record ready for the wire. */
export interface OutgoingAmqp {
  readonly id: string;
  readonly body: Buffer;
  readonly options: Options.Publish;
}

/** What the lane publishes to and how it names it in errors. */
export interface LaneTarget {
  readonly exchange: string;
  readonly routingKey: string;
  /** For error context. */
  readonly topic?: string;
  readonly subscription?: string;
  /** "topic 'orders'" or "dead-letter queue 'orders.warehouse.dlq'". */
  readonly label: string;
  /** Message of NOT_FOUND when the channel closes with 404. */
  readonly notFound: string;
  /** Message of UNROUTABLE for a returned message. */
  readonly unroutable: (id: string) => string;
}

/** The connection-wide state a lane needs: the model, the alarm state, and why the connection ended. */
export interface LaneConnection {
  readonly model: ChannelModel;
  /** Resolves at once when not blocked; else when unblocked; rejects when the connection ends. */
  whenUnblocked(): Promise<void>;
  readonly blocked: boolean;
}

interface TrackedChannel {
  readonly ch: ConfirmChannel;
  closed: boolean;
  closeError: (Error & { code?: unknown }) | undefined;
  /** Ids returned by basic.return whose ack has not come yet (count, for the rare duplicate id). */
  readonly returned: Map<string, number>;
  readonly drainWaiters: Set<(closed: boolean) => void>;
  /** Publishes written on this channel whose ack or nack has not come yet. */
  unconfirmed: number;
  /** Nacked: no further writes; closed once `unconfirmed` reaches 0. */
  retired: boolean;
  /** Resolved when a retired channel has no unconfirmed publishes left, or closed. */
  readonly settledWaiters: Set<() => void>;
}

/** How long a lane waits for a retired channel's confirms before writing on a new one (keeps order). */
const RETIRE_SETTLE_MS = 2_000;

export class PublishLane {
  private channel: TrackedChannel | undefined;
  private opening: Promise<TrackedChannel> | undefined;
  /** The last channel retired by a nack, until its publishes are settled. */
  private retiring: TrackedChannel | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly connection: LaneConnection,
    readonly target: LaneTarget,
  ) {}

  /**
   * Publishes in order and resolves with one outcome per record once the broker answered each; `progress` hears
   * each outcome as its confirm (or nack, or failure) arrives. Never rejects. Calls are serialized: a later
   * call's records go on the wire after an earlier call's.
   */
  send(records: readonly OutgoingAmqp[], progress?: SendProgress): Promise<SendOutcome[]> {
    const outcomes = new Array<Promise<SendOutcome>>(records.length);
    const written = this.tail.then(() => this.write(records, outcomes, progress));
    this.tail = written;
    return written.then(() => Promise.all(outcomes));
  }

  private context(messageId?: string): ErrorContext {
    return {
      topic: this.target.topic,
      subscription: this.target.subscription,
      messageId,
      doing: `publishing to ${this.target.label}`,
    };
  }

  /** Writes every record; never throws (a failure becomes the outcome of the records not yet written). */
  private async write(
    records: readonly OutgoingAmqp[],
    outcomes: Promise<SendOutcome>[],
    progress: SendProgress | undefined,
  ): Promise<void> {
    let i = 0;
    try {
      for (const record of records) {
        const index = i;
        if (this.connection.blocked) await this.connection.whenUnblocked();
        const tc = this.channel && !this.channel.closed ? this.channel : await this.fresh();
        let wrote = true;
        outcomes[i] = new Promise<SendOutcome>((settle) => {
          const resolve = (outcome: SendOutcome) => {
            progress?.(index, outcome);
            settle(outcome);
          };
          try {
            wrote = tc.ch.publish(
              this.target.exchange,
              this.target.routingKey,
              record.body,
              record.options,
              (err) => {
                tc.unconfirmed -= 1;
                if (err instanceof Error && err.message === 'message nacked') this.retire(tc);
                if (tc.retired && tc.unconfirmed <= 0) this.settle(tc);
                resolve(this.outcome(tc, record.id, err));
              },
            );
            tc.unconfirmed += 1;
          } catch (error) {
            // Nothing went on the wire: amqplib throws before writing (closed channel, header table > 64 KiB).
            resolve({ ok: false, error: this.failure(tc, error, record.id) });
          }
        });
        if (!wrote) await this.drain(tc);
        i++;
      }
    } catch (error) {
      const failure = toError(error, this.context());
      for (; i < records.length; i++) outcomes[i] ??= Promise.resolve({ ok: false, error: failure });
    }
  }

  private outcome(tc: TrackedChannel, id: string, err: unknown): SendOutcome {
    if (err === null || err === undefined) {
      const returns = tc.returned.get(id);
      if (returns !== undefined) {
        if (returns <= 1) tc.returned.delete(id);
        else tc.returned.set(id, returns - 1);
        return {
          ok: false,
          error: new LosslessError(ErrorCode.UNROUTABLE, this.target.unroutable(id), {
            broker: 'rabbitmq',
            retriable: false,
            topic: this.target.topic,
            subscription: this.target.subscription,
            messageId: id,
          }),
        };
      }
      return { ok: true };
    }
    return { ok: false, error: this.failure(tc, err, id) };
  }

  /** Why a record failed: the channel's close reason when it closed (404 → NOT_FOUND), else the error itself. */
  private failure(tc: TrackedChannel, error: unknown, id: string): LosslessError {
    const reason = tc.closed || tc.closeError ? tc.closeError : undefined;
    if (reason?.code === 404) {
      return new LosslessError(ErrorCode.NOT_FOUND, this.target.notFound, {
        broker: 'rabbitmq',
        cause: reason,
        topic: this.target.topic,
        subscription: this.target.subscription,
        messageId: id,
      });
    }
    if (reason?.code === 403) return toError(reason, this.context(id));
    // Any other close (connection lost, 320, 541…): the message may or may not be stored. Retriable.
    const known = classifyNative(error, this.context(id));
    if (known) return known;
    return new LosslessError(
      ErrorCode.UNAVAILABLE,
      `rabbitmq: no confirm for message ${id} on ${this.target.label}: the channel closed` +
        `${reason ? ` (${reason.message})` : ''}; it may or may not be stored`,
      {
        broker: 'rabbitmq',
        cause: reason ?? error,
        topic: this.target.topic,
        subscription: this.target.subscription,
        messageId: id,
      },
    );
  }

  private drain(tc: TrackedChannel): Promise<void> {
    if (tc.closed) return Promise.reject(this.closedError(tc));
    return new Promise<void>((resolve, reject) => {
      const waiter = (closed: boolean) => {
        tc.drainWaiters.delete(waiter);
        if (closed) reject(this.closedError(tc));
        else resolve();
      };
      tc.drainWaiters.add(waiter);
    });
  }

  private closedError(tc: TrackedChannel): LosslessError {
    return this.failure(tc, new Error('channel closed'), '(batch)');
  }

  /**
   * Stops writing on `tc` after a nack (see the header): the next record opens a new channel. `tc` is closed
   * once its last publish is answered, so that no confirm is cut off.
   */
  private retire(tc: TrackedChannel): void {
    if (tc.retired || tc.closed) return;
    tc.retired = true;
    if (this.channel === tc) this.channel = undefined;
    this.retiring = tc;
  }

  private settle(tc: TrackedChannel): void {
    for (const w of [...tc.settledWaiters]) w();
    tc.settledWaiters.clear();
    if (this.retiring === tc) this.retiring = undefined;
    if (!tc.closed) tc.ch.close().catch(() => {});
  }

  /** A new channel, once the retired one (if any) has its answers, or after RETIRE_SETTLE_MS. */
  private async fresh(): Promise<TrackedChannel> {
    const old = this.retiring;
    if (old && !old.closed && old.unconfirmed > 0) {
      let waiter: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        waiter = resolve;
        old.settledWaiters.add(resolve);
        timer = setTimeout(resolve, RETIRE_SETTLE_MS);
      });
      clearTimeout(timer);
      if (waiter) old.settledWaiters.delete(waiter);
    }
    return this.channel && !this.channel.closed ? this.channel : this.open();
  }

  private open(): Promise<TrackedChannel> {
    this.opening ??= this.connection.model
      .createConfirmChannel()
      .then((ch) => {
        const tc: TrackedChannel = {
          ch,
          closed: false,
          closeError: undefined,
          returned: new Map(),
          drainWaiters: new Set(),
          unconfirmed: 0,
          retired: false,
          settledWaiters: new Set(),
        };
        // amqplib emits 'error' (with the close frame's code) before 'close'; without a listener it would throw.
        ch.on('error', (error: Error) => {
          tc.closeError = error;
        });
        ch.on('close', () => {
          tc.closed = true;
          if (this.channel === tc) this.channel = undefined;
          for (const w of [...tc.drainWaiters]) w(true);
          for (const w of [...tc.settledWaiters]) w();
          tc.settledWaiters.clear();
          if (this.retiring === tc) this.retiring = undefined;
        });
        ch.on('drain', () => {
          for (const w of [...tc.drainWaiters]) w(false);
        });
        ch.on('return', (msg: Message) => {
          const id = msg.properties.messageId;
          if (typeof id === 'string') tc.returned.set(id, (tc.returned.get(id) ?? 0) + 1);
        });
        this.channel = tc;
        return tc;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  /** Closes the channel; unconfirmed publishes fail with UNAVAILABLE. */
  async close(): Promise<void> {
    const tc = this.channel;
    const old = this.retiring;
    this.channel = undefined;
    this.retiring = undefined;
    if (old && !old.closed) await old.ch.close().catch(() => {});
    if (tc && !tc.closed) await tc.ch.close().catch(() => {});
  }
}
