// Consuming one subscription: a kafkajs consumer in the subscription's group reads the topic and its retry topic
// (or, for dead letters, the dead-letter topic) with manual commits, follows its partition ownership across
// rebalances, and hands deliveries to core up to `prefetch` unsettled at once. What it settles is tracked per
// partition (partition-track.ts) and committed up to the contiguous watermark (commit-loop.ts); a nack or a dead
// letter is a copy produced before the original counts as settled (copies.ts). A delivery of a partition this
// consumer no longer owns, or of a closed subscription, is stale: settling it rejects with STALE_DELIVERY and
// commits nothing, so the new owner reads it again from the committed offset.
//
// kafkajs specifics this file is built around (read in kafkajs 2.2.4's runner, fetcher and offset manager):
// - A fetcher waits until every batch of one fetch response was processed before it fetches again, and
//   `resolveOffset` only moves the fetch position. So eachBatch returns once its messages were HANDED OUT (not
//   settled), resolving the last one handed out when it returns (once per batch: kafkajs parses the offset into a
//   Long on every call); the commit position is ours alone (`autoCommit: false`).
// - kafkajs has no "partitions revoked" callback: it rejoins as soon as a heartbeat answers
//   REBALANCE_IN_PROGRESS. When that heartbeat is our own (eachBatch waiting for prefetch room, which is when
//   many deliveries are unsettled), we stop handing out, wait up to `revocationDrainMs` for unsettled deliveries,
//   commit, and only then let kafkajs rejoin. When kafkajs sees it first, we commit what is settled at that
//   moment (the REBALANCING event; the old generation may still commit while the group prepares).
// - After a rejoin kafkajs fetches again from the COMMITTED offset, even for partitions it keeps: offsets this
//   consumer already handed out (and still tracks) are skipped instead of delivered twice.
// - A commit is accepted for a partition the member no longer owns (kafkajs #1046): we commit only partitions of
//   the assignment we know, and never past a message that is neither settled nor safely re-produced.
import type { Logger } from '@lossless/core';
import {
  Credit,
  claimSettlement,
  DeliveryBase,
  type DeliverySink,
  type DeliverySource,
  type DriverSubscribeOptions,
  type DriverSubscription,
  ErrorCode,
  LosslessError,
  type NormalizedSubscription,
  nativeCode,
  type SendOutcome,
  staleDelivery,
} from '@lossless/core/driver';
import type { Batch, Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { CommitLoop } from './commit-loop.js';
import { type Copy, deadLetterCopy, deadLetterRetryCopy, produceCopy, retryCopy } from './copies.js';
import { classifyNative, toError } from './error-table.js';
import { fromKafka, type IncomingFields, type Outgoing, visibleHeaders } from './message-mapping.js';
import { consumerGroupId, deadLetterGroupId, deadLetterTopicName, retryTopicName } from './names.js';
import type { ResolvedOptions } from './options.js';
import { PartitionTrack, type Slot } from './partition-track.js';

/** What a consumer needs from the driver. */
export interface ConsumerHost {
  readonly kafka: Kafka;
  readonly options: ResolvedOptions;
  readonly logger: Logger;
  /** Produces copies (retry, dead letter) through the driver's idempotent producer lanes. */
  produce(topic: string, records: readonly Outgoing[]): Promise<SendOutcome[]>;
  onSuccess(): void;
  onTrouble(error: LosslessError): void;
  forget(consumer: KafkaConsumer): void;
  /** A consumer group's lag over `topics`: end offsets minus committed ones; undefined when unknown now. */
  lag(groupId: string, topics: readonly string[]): Promise<number | undefined>;
}

/** Batches kafkajs may hand to eachBatch at once (they are merged by timestamp before delivery). */
const PARTITIONS_AT_ONCE = 32;

/** A fetched batch whose messages are being handed out. */
interface Work {
  readonly topic: string;
  readonly partition: number;
  readonly track: PartitionTrack;
  readonly messages: KafkaMessage[];
  index: number;
  /** The record timestamp of `messages[index]`, parsed once per message (dispatch picks the oldest head). */
  headTimestamp: number;
  readonly resolveOffset: (offset: string) => void;
  done: boolean;
  readonly finish: () => void;
}

class KafkaDelivery extends DeliveryBase {
  constructor(
    readonly consumer: KafkaConsumer,
    readonly track: PartitionTrack,
    readonly slot: Slot,
    readonly fields: IncomingFields,
    deadLetters: boolean,
  ) {
    const headers = visibleHeaders(fields, deadLetters);
    super(fields.id, fields.key, headers, fields.body, fields.timestamp, fields.attempt);
  }

  ack(): Promise<void> {
    return this.consumer.ack(this);
  }

  nack(options: { delayMs: number; error: string }): Promise<void> {
    // nativeRedeliveryDelay is false: core already held the message for the delay.
    return this.consumer.nack(this, options.error);
  }

  deadLetter(options: { error: string }): Promise<void> {
    return this.consumer.deadLetter(this, options.error);
  }
}

const GROUP_CHANGES = new Set(['REBALANCE_IN_PROGRESS', 'NOT_COORDINATOR_FOR_GROUP', 'ILLEGAL_GENERATION']);

function isRebalance(error: unknown): boolean {
  const type = nativeCode(error, ['type']);
  return typeof type === 'string' && GROUP_CHANGES.has(type);
}

function isMembershipLost(error: unknown): boolean {
  return nativeCode(error, ['type']) === 'UNKNOWN_MEMBER_ID';
}

/** One kafkajs consumer for one subscribe() call. */
export class KafkaConsumer implements DriverSubscription {
  private readonly spec: NormalizedSubscription;
  private readonly source: DeliverySource;
  private readonly deadLetters: boolean;
  readonly groupId: string;
  readonly topics: readonly string[];
  private readonly consumer: Consumer;
  private readonly tracks = new Map<string, PartitionTrack>();
  private readonly works: Work[] = [];
  /** Deliveries handed to core and not yet settled by it (the prefetch bound). */
  private readonly outstanding: Credit;
  private readonly commits: CommitLoop;
  /** Aborted on close: ends the waits between copy retries. */
  private readonly abort = new AbortController();
  private stopped = false;
  private closed = false;
  private stopping: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set while a rebalance drain runs: nothing new is handed out. */
  private draining: Promise<void> | undefined;
  private memberId: string | undefined;
  /** Wakes waiters (drain, batch waits) whenever something settles or changes. */
  private readonly listeners = new Set<() => void>();
  /** A dispatch is queued for the freed prefetch slots (claim). */
  private dispatchQueued = false;
  private readonly queuedDispatch = () => {
    this.dispatchQueued = false;
    this.dispatch();
  };
  private readonly removers: (() => void)[] = [];

  constructor(
    private readonly host: ConsumerHost,
    options: DriverSubscribeOptions,
    private readonly sink: DeliverySink,
  ) {
    this.spec = options.subscription;
    this.deadLetters = options.deadLetters;
    this.outstanding = new Credit(options.prefetch);
    const { topic, name } = this.spec;
    this.source = { broker: 'kafka', topic, subscription: name };
    this.groupId = options.deadLetters ? deadLetterGroupId(topic, name) : consumerGroupId(topic, name);
    this.topics = options.deadLetters
      ? [deadLetterTopicName(topic, name)]
      : [topic, retryTopicName(topic, name)];
    const o = host.options;
    this.consumer = host.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: o.sessionTimeout,
      heartbeatInterval: o.heartbeatInterval,
      rebalanceTimeout: o.rebalanceTimeout,
      // Short long-polls: a stopped (paused) consumer sleeps this long per loop, which bounds close().
      maxWaitTimeInMs: 500,
      maxBytesPerPartition: Math.max(1024 * 1024, o.maxMessageBytes + 64 * 1024),
      allowAutoTopicCreation: false,
      retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    this.commits = new CommitLoop({
      groupId: this.groupId,
      logger: host.logger,
      tracks: () => this.tracks.values(),
      commitOffsets: (offsets) => this.consumer.commitOffsets(offsets),
      isGroupChange: (error) => isRebalance(error) || isMembershipLost(error),
    });
  }

  private context(doing: string, messageId?: string) {
    return { topic: this.spec.topic, subscription: this.spec.name, messageId, doing };
  }

  /** Joins the group and starts fetching. Rejects with the mapped error when kafkajs cannot start. */
  async start(): Promise<void> {
    const c = this.consumer;
    this.removers.push(
      c.on(c.events.GROUP_JOIN, (e) => this.onJoin(e.payload.memberId, e.payload.memberAssignment)),
      c.on(c.events.REBALANCING, () => {
        // kafkajs saw the rebalance first and rejoins now: commit what is settled while the old generation
        // can still commit (the group is preparing the rebalance).
        this.commits.soon(true);
      }),
      c.on(c.events.CRASH, (e) => this.onCrash(e.payload.error, e.payload.restart)),
      c.on(c.events.FETCH, () => this.host.onSuccess()),
      c.on(c.events.HEARTBEAT, () => this.host.onSuccess()),
    );
    try {
      await c.connect();
      await c.subscribe({ topics: [...this.topics], fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: PARTITIONS_AT_ONCE,
        eachBatch: (payload) => this.eachBatch(payload),
      });
    } catch (error) {
      for (const remove of this.removers.splice(0)) remove();
      await c.disconnect().catch(() => {});
      throw toError(error, this.context(`starting consumer group '${this.groupId}'`));
    }
  }

  // --- membership -------------------------------------------------------------------------------------------

  private onJoin(memberId: string, assignment: Record<string, number[]>): void {
    if (this.closed) return;
    const owned = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) owned.add(`${topic}|${p}`);
    }
    const sameMember = this.memberId === memberId;
    this.memberId = memberId;
    for (const [key, track] of this.tracks) {
      // Kept only while owned without a gap: same member id (no lost membership) and still assigned.
      if (!sameMember || !owned.has(key)) this.revoke(key, track);
    }
    this.wake();
    this.commits.soon();
  }

  private onCrash(error: Error, restart: boolean): void {
    // kafkajs disconnects and (when restart) starts a new member later: every ownership is over.
    for (const [key, track] of this.tracks) this.revoke(key, track);
    this.memberId = undefined;
    const e = classifyNative(error, this.context('consuming'));
    if (e?.code === ErrorCode.UNAVAILABLE) this.host.onTrouble(e);
    if (!restart && !this.closed) {
      this.host.logger.error(
        `kafka: consumer of group '${this.groupId}' stopped: ${error.message}; subscribe again to continue`,
      );
    }
    this.wake();
  }

  /** The partition's ownership ended: its unsettled deliveries go stale, its unhanded messages are dropped. */
  private revoke(key: string, track: PartitionTrack): void {
    track.revoked = true;
    this.tracks.delete(key);
    for (const w of this.works) if (w.track === track) this.finishWork(w);
  }

  private trackFor(topic: string, partition: number): PartitionTrack {
    const key = `${topic}|${partition}`;
    let track = this.tracks.get(key);
    if (!track) {
      track = new PartitionTrack(topic, partition);
      this.tracks.set(key, track);
    }
    return track;
  }

  // --- fetching and handing out -----------------------------------------------------------------------------

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat } = payload;
    if (this.stopped || this.closed || this.draining) return;
    const track = this.trackFor(batch.topic, batch.partition);
    const messages = this.fresh(batch, track, resolveOffset);
    const head = messages[0];
    if (head === undefined) return;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const work: Work = {
      topic: batch.topic,
      partition: batch.partition,
      track,
      messages,
      index: 0,
      headTimestamp: Number(head.timestamp),
      resolveOffset,
      done: false,
      finish,
    };
    this.works.push(work);
    this.dispatch();
    // Wait until every message of the batch was handed out (prefetch room), heartbeating meanwhile: the
    // session must survive slow handlers, and our heartbeat is where a rebalance can be seen before kafkajs
    // rejoins, so unsettled deliveries can still be settled and committed.
    while (!work.done) {
      const tick = new Promise<'tick'>((resolve) => {
        const t = setTimeout(() => resolve('tick'), this.host.options.heartbeatInterval);
        void finished.then(() => clearTimeout(t));
      });
      if ((await Promise.race([finished, tick])) !== 'tick') break;
      try {
        await heartbeat();
      } catch (error) {
        if (isRebalance(error) || isMembershipLost(error)) {
          await this.drainForRebalance(isMembershipLost(error), heartbeat);
          throw error;
        }
        this.host.logger.debug(`kafka: heartbeat of group '${this.groupId}' failed: ${String(error)}`);
      }
    }
  }

  /** The batch's messages not yet handed out during this ownership (kafkajs re-fetches from the committed offset). */
  private fresh(
    batch: Batch,
    track: PartitionTrack,
    resolveOffset: (offset: string) => void,
  ): KafkaMessage[] {
    if (track.next < 0) return batch.messages;
    const out: KafkaMessage[] = [];
    let skipped: string | undefined;
    for (const m of batch.messages) {
      if (Number(m.offset) < track.next) skipped = m.offset;
      else out.push(m);
    }
    if (skipped !== undefined) resolveOffset(skipped);
    return out;
  }

  /** Hands out messages, oldest record timestamp first across partitions, while there is prefetch room. */
  private dispatch(): void {
    while (!this.stopped && !this.closed && !this.draining && !this.outstanding.full) {
      let pick: Work | undefined;
      for (const w of this.works) {
        if (w.index >= w.messages.length) continue;
        if (pick === undefined || w.headTimestamp < pick.headTimestamp) pick = w;
      }
      if (!pick) return;
      const m = pick.messages[pick.index];
      if (m === undefined) {
        throw new LosslessError(
          ErrorCode.INTERNAL,
          `kafka: dispatch picked ${pick.topic}/${pick.partition} with nothing left to hand out`,
          { broker: 'kafka', topic: pick.topic },
        );
      }
      pick.index++;
      const offset = Number(m.offset);
      const slot = pick.track.hand(offset);
      const next = pick.messages[pick.index];
      if (next === undefined) this.finishWork(pick);
      else pick.headTimestamp = Number(next.timestamp);
      let fields: IncomingFields;
      try {
        fields = fromKafka(pick.topic, pick.partition, m, this.deadLetters);
      } catch (error) {
        // Undecodable: count it settled (skip) rather than block the partition forever; say so loudly.
        slot.settled = true;
        this.host.logger.error(
          `kafka: skipping undecodable record ${pick.topic}/${pick.partition}@${m.offset}: ${String(error)}`,
        );
        continue;
      }
      const delivery = new KafkaDelivery(this, pick.track, slot, fields, this.deadLetters);
      this.outstanding.take();
      this.sink(delivery);
    }
  }

  private finishWork(w: Work): void {
    if (w.done) return;
    w.done = true;
    // The fetch position moves past what was handed out; the rest is fetched again (from `track.next` on). Not
    // for a revoked partition: after a rejoin kafkajs reads from the committed offset, and its new offset
    // manager may not know the partition at all.
    const last = w.messages[w.index - 1]; // undefined while nothing was handed out (index 0)
    if (last !== undefined && !w.track.revoked) w.resolveOffset(last.offset);
    const i = this.works.indexOf(w);
    if (i >= 0) this.works.splice(i, 1);
    w.finish();
  }

  /**
   * A rebalance is starting and kafkajs will rejoin once eachBatch returns: hand out nothing more, give the
   * unsettled deliveries up to revocationDrainMs to settle, commit, then let go.
   */
  private drainForRebalance(membershipLost: boolean, heartbeat: () => Promise<void>): Promise<void> {
    this.draining ??= (async () => {
      this.host.logger.debug(
        `kafka: group '${this.groupId}' is rebalancing: draining ${this.unsettledInTracks()} unsettled deliveries ` +
          `before letting go${membershipLost ? ' (membership lost: nothing to commit)' : ''}`,
      );
      for (const w of [...this.works]) this.finishWork(w);
      if (!membershipLost) {
        // Heartbeats keep the member alive meanwhile (they answer REBALANCE_IN_PROGRESS, which is expected):
        // a member silent for sessionTimeout would be expelled and lose every partition at once.
        const o = this.host.options;
        const beat = setInterval(() => void heartbeat().catch(() => {}), o.heartbeatInterval);
        try {
          const deadline = Date.now() + Math.min(o.revocationDrainMs, o.sessionTimeout);
          await this.until(() => this.unsettledInTracks() === 0 || this.closed, deadline);
          await this.commits.now();
        } finally {
          clearInterval(beat);
        }
      }
    })().finally(() => {
      this.draining = undefined;
      if (membershipLost) for (const [key, track] of this.tracks) this.revoke(key, track);
      queueMicrotask(() => this.dispatch());
    });
    return this.draining;
  }

  private unsettledInTracks(): number {
    let n = 0;
    for (const t of this.tracks.values()) n += t.unsettled;
    return n;
  }

  private wake(): void {
    if (this.listeners.size === 0) return; // the usual case: nobody waits (until() is for drains and close)
    for (const l of [...this.listeners]) l();
  }

  /** Resolves when `ready()` holds (checked on every wake) or at `deadline`. */
  private until(ready: () => boolean, deadline: number): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const check = () => {
        if (ready()) done();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.listeners.add(check);
    });
  }

  // --- settlement -------------------------------------------------------------------------------------------

  /** Why `d` can no longer be settled (its partition or subscription is gone), or undefined while it can. */
  private staleWhy(d: KafkaDelivery): string | undefined {
    if (this.closed) {
      return (
        'is stale: its subscription was closed before the settlement; the message was not committed and ' +
        'will be redelivered'
      );
    }
    if (d.track.revoked) {
      return (
        `is stale: partition ${d.track.topic}/${d.track.partition} was reassigned (rebalance); the message was ` +
        'not committed and will be redelivered to its new owner'
      );
    }
    return undefined;
  }

  /** Core's first settlement of `d`: frees its prefetch slot. Throws STALE_DELIVERY when it cannot count. */
  private claim(d: KafkaDelivery): void {
    if (!d.settled) {
      this.outstanding.give();
      // One dispatch for every slot freed in this turn (a burst of acks), not one per ack.
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        queueMicrotask(this.queuedDispatch);
      }
    }
    claimSettlement(this.source, d, this.staleWhy(d));
  }

  /** `d`'s offset may be committed now. */
  private settled(d: KafkaDelivery): void {
    d.slot.settled = true;
    this.wake();
    this.commits.soon();
  }

  async ack(d: KafkaDelivery): Promise<void> {
    this.claim(d);
    this.settled(d);
  }

  /** Re-produces the message for attempt + 1 (the retry topic, or back to the dead-letter topic), then settles. */
  async nack(d: KafkaDelivery, error: string): Promise<void> {
    this.claim(d);
    await this.copy(
      d,
      this.deadLetters
        ? deadLetterRetryCopy(this.spec, d.fields, d.attempt)
        : retryCopy(this.spec, d.fields, d.attempt, error),
    );
    this.settled(d);
  }

  /** Copies the message to the dead-letter topic with its data, then settles (or just drops it). */
  async deadLetter(d: KafkaDelivery, error: string): Promise<void> {
    this.claim(d);
    if (this.spec.deadLetter && !this.deadLetters) {
      const at = { topic: d.track.topic, partition: d.track.partition, offset: d.slot.offset };
      await this.copy(d, deadLetterCopy(this.spec, d.fields, d.attempt, error, at));
    }
    // deadLetter false (or already a dead letter): the message is dropped, as the subscription asked.
    this.settled(d);
  }

  /** Produces `copy` until confirmed while `d` is owned; throws STALE_DELIVERY when `d` went stale meanwhile. */
  private async copy(d: KafkaDelivery, copy: Copy): Promise<void> {
    await produceCopy(this.host, copy, this.source, () => this.staleWhy(d), this.abort.signal);
    const why = this.staleWhy(d);
    if (why !== undefined) throw staleDelivery(this.source, d.id, why);
  }

  /** The group's lag over the topics it reads (the topic and its retry topic, or the dead-letter topic). */
  backlog(): Promise<number | undefined> {
    return this.host.lag(this.groupId, this.topics);
  }

  // --- stop and close ---------------------------------------------------------------------------------------

  /** Hands out nothing more (pauses fetching); deliveries already handed out can still be settled. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      for (const w of [...this.works]) this.finishWork(w);
      try {
        this.consumer.pause(this.topics.map((topic) => ({ topic })));
      } catch {
        /* not running (crashed): nothing is fetched anyway */
      }
      this.wake();
    })();
    return this.stopping;
  }

  /**
   * Commits what was settled, then leaves the group: unsettled deliveries are not committed and are redelivered
   * (to this group's next consumer); settling them afterwards rejects with STALE_DELIVERY. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.stop();
      await this.draining?.catch(() => {});
      await this.commits.now().catch(() => {});
      this.closed = true;
      this.commits.stop();
      this.abort.abort();
      for (const [key, track] of this.tracks) this.revoke(key, track);
      this.wake();
      for (const remove of this.removers.splice(0)) remove();
      await this.consumer.disconnect().catch((error: unknown) => {
        this.host.logger.debug(`kafka: disconnecting consumer of '${this.groupId}': ${String(error)}`);
      });
      this.host.forget(this);
    })();
    return this.closing;
  }
}
