// Publishing: one idempotent kafkajs producer (acks=all, maxInFlightRequests 1) shared by lanes, one lane per
// topic. A lane places every record in a partition itself and sends one call at a time: everything queued, every
// partition's chunk (each within the broker's record-batch limit) in the same `producer.send`, which kafkajs
// writes as one Produce request per leader broker — as a raw user sending batches does. It answers per record
// (partition, offset) or with the error of its call.
//
// Why a failed call replaces the producer: kafkajs gives each batch sequence numbers when it sends it and ROLLS
// THEM BACK when the request fails — for every partition of the request, including partitions the broker did
// store (a produce response with one partition error throws for all). A later batch of the same size on such a
// partition would then reuse sequence numbers the broker already has, and the broker would acknowledge it as a
// duplicate without storing it: a silent loss. kafkajs's own retry of the SAME call re-sends the same records
// with the same numbers (the broker's deduplication is right there), so the lane keeps it (a few quick
// retries), never lets two calls of the topic overlap, makes partitioning deterministic (a record without a key
// is placed by its message id), and after a call that failed anyway retires the producer: the next call goes
// out under a fresh producer id, whose sequence numbers the broker cannot confuse with the old ones. Core then
// re-sends the failed records with the same message ids (at-least-once: a record the broker did store comes
// twice, consumers deduplicate by id).
//
// Why every partition must be in the answer: kafkajs's retry of a call keeps the answers of brokers that
// already answered and re-sends only to the others, regrouped by the CURRENT leaders. When a broker dies and its
// partitions move to a broker that already answered for its own partitions, the moved partitions are never
// re-sent, yet the call resolves (read in kafkajs 2.2.4 sendMessages.js; 11 confirmed messages lost out of 2,000
// when a node of a 3-node cluster was SIGKILLed, when the driver trusted such an answer). So a partition missing
// from the answer is a failure of that partition's records, never a confirm, and — its sequence numbers were
// rolled back too — the producer is retired as after a failed call. (Until this release the lane sent one call
// per partition instead, which made the same loss impossible but cost a round trip per partition per round: on
// one broker, with maxInFlightRequests 1, kafkajs runs a producer's requests one after another.)
import {
  ErrorCode,
  isLosslessError,
  LosslessError,
  type SendOutcome,
  type SendProgress,
} from '@lossless/core/driver';
import type { Kafka, Message, PartitionerArgs, Producer } from 'kafkajs';
import { toError } from './error-table.js';
import type { Outgoing } from './message-mapping.js';
import { partitionFor } from './murmur2.js';

/** What a lane needs from the driver. */
export interface LaneHost {
  /** The driver's kafkajs client (one per driver; every producer generation is created from it). */
  readonly kafka: Kafka;
  /** Largest chunk of records in one request, bytes (the broker's record-batch limit applies per partition). */
  readonly chunkBytes: number;
  /** The broker's wait for acks=all, ms (the produce request's `timeout`). */
  readonly ackTimeoutMs: number;
  /** Partitions of `topic` (cached metadata); throws the mapped error (NOT_FOUND for an unknown topic). */
  partitionCount(topic: string, refresh: boolean): Promise<number>;
  /** A request went through (health). */
  onSuccess(): void;
  /** A request failed with a connection-level error (health). */
  onTrouble(error: LosslessError): void;
  debug(message: string): void;
}

/** Most records of one partition in one call: bounds encoding work and the re-sends after one failed call. */
const MAX_CHUNK_RECORDS = 2_000;
/** Most records in one call, over all its partitions. */
const MAX_CALL_RECORDS = 4_000;
/** Most bytes in one call, over all its partitions (each partition's chunk stays within `chunkBytes`). */
const MAX_CALL_BYTES = 16 * 1024 * 1024;

/** One send() call: its outcomes, filled in as the records' calls are answered. */
class Submission {
  private left: number;
  readonly outcomes: SendOutcome[];
  constructor(
    count: number,
    private readonly progress: SendProgress | undefined,
    private readonly resolve: (outcomes: SendOutcome[]) => void,
  ) {
    this.left = count;
    this.outcomes = new Array<SendOutcome>(count);
  }
  settle(index: number, outcome: SendOutcome): void {
    this.outcomes[index] = outcome;
    this.progress?.(index, outcome);
    if (--this.left === 0) this.resolve(this.outcomes);
  }
}

/** One record of a submission, queued on a lane (no closure per record: the lane handles thousands a second). */
class Entry {
  /** Send on its own (after its chunk failed with TOO_LARGE, to find which record is too large). */
  alone = false;
  constructor(
    readonly out: Outgoing,
    private readonly submission: Submission,
    private readonly index: number,
  ) {}
  settle(outcome: SendOutcome): void {
    this.submission.settle(this.index, outcome);
  }
}

/** One producer with the calls running on it; retired after a failed call, disconnected when idle. */
class Generation {
  active = 0;
  retired = false;
  connected: Promise<void> | undefined;
  constructor(readonly producer: Producer) {}
}

/**
 * The driver's producers: the current generation, and retired ones until their last call returns. Partitions
 * chosen by the custom partitioner are remembered per message object, to compute each record's offset.
 */
export class ProducerPool {
  private current: Generation | undefined;
  private readonly all = new Set<Generation>();
  private readonly lanes = new Map<string, Lane>();
  private closed = false;
  constructor(readonly host: LaneHost) {}

  private create(): Generation {
    const producer = this.host.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Quick retries of the same call only (see the file comment); core owns every other re-send.
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1_000 },
      // Every message carries the partition the lane chose (murmur2 of the key, or of the id without a key).
      createPartitioner:
        () =>
        ({ message }: PartitionerArgs) =>
          message.partition ?? 0,
    });
    const gen = new Generation(producer);
    this.all.add(gen);
    return gen;
  }

  /** Connects the first producer (part of the driver's connect). */
  async connect(): Promise<void> {
    const gen = this.acquire();
    try {
      await this.ready(gen);
    } finally {
      this.release(gen);
    }
  }

  private acquire(): Generation {
    if (!this.current || this.current.retired) this.current = this.create();
    this.current.active++;
    return this.current;
  }

  private ready(gen: Generation): Promise<void> {
    gen.connected ??= gen.producer.connect();
    return gen.connected;
  }

  private release(gen: Generation): void {
    gen.active--;
    if (gen.retired && gen.active === 0) this.dispose(gen);
  }

  private retire(gen: Generation): void {
    if (gen.retired) return;
    gen.retired = true;
    if (this.current === gen) this.current = undefined;
    if (gen.active === 0) this.dispose(gen);
  }

  private dispose(gen: Generation): void {
    this.all.delete(gen);
    gen.producer.disconnect().catch(() => {});
  }

  /** The partition of a record: murmur2 of its partitioning key over `count` partitions (Java-compatible). */
  partitionOf(key: string, count: number): number {
    return partitionFor(key, count);
  }

  /**
   * One call on the current producer: the base offset of each of `partitions` the broker answered for. A failure
   * retires the producer and throws the mapped error; so does an answer without one of `partitions` (see the file
   * comment), which is left out of the map for the caller to fail.
   */
  async produce(
    topic: string,
    messages: Message[],
    partitions: readonly number[],
  ): Promise<Map<number, bigint>> {
    if (this.closed) throw closedError(topic);
    const gen = this.acquire();
    try {
      await this.ready(gen);
      const meta = await gen.producer.send({
        topic,
        messages,
        acks: -1,
        timeout: this.host.ackTimeoutMs,
      });
      this.host.onSuccess();
      const bases = new Map<number, bigint>();
      for (const m of meta) {
        const offset = m.baseOffset ?? m.offset;
        if (offset === undefined || !partitions.includes(m.partition)) continue;
        const base = BigInt(offset);
        if (base >= 0n) bases.set(m.partition, base);
      }
      if (bases.size < partitions.length) {
        this.retire(gen);
        this.host.debug(`kafka: the answer for '${topic}' lacked partitions; the producer is replaced`);
      }
      return bases;
    } catch (error) {
      this.retire(gen);
      const e = toError(error, { topic, doing: `publishing to topic '${topic}'` });
      if (e.code === ErrorCode.UNAVAILABLE) this.host.onTrouble(e);
      this.host.debug(`kafka: send to '${topic}' failed (${e.code}); the producer is replaced`);
      throw e;
    } finally {
      this.release(gen);
    }
  }

  /**
   * Queues records on the topic's lane; resolves with one outcome per record, in order, and tells `progress` each
   * outcome as its partition's produce request is answered. Never rejects.
   */
  send(topic: string, records: readonly Outgoing[], progress?: SendProgress): Promise<SendOutcome[]> {
    if (this.closed) return Promise.resolve(records.map(() => ({ ok: false, error: closedError(topic) })));
    let lane = this.lanes.get(topic);
    if (!lane) {
      lane = new Lane(this, topic);
      this.lanes.set(topic, lane);
    }
    return lane.submit(records, progress);
  }

  /** Waits for queued sends, then disconnects every producer. Later sends resolve CLOSED. */
  async close(): Promise<void> {
    await Promise.all([...this.lanes.values()].map((l) => l.idle()));
    this.closed = true;
    await Promise.all([...this.all].map((g) => g.producer.disconnect().catch(() => {})));
    this.all.clear();
    this.current = undefined;
  }
}

function closedError(topic: string): LosslessError {
  return new LosslessError(ErrorCode.CLOSED, 'kafka: the driver is closed: create a new one to continue', {
    broker: 'kafka',
    topic,
  });
}

/** The queue of one topic: one request at a time, everything queued coalesced into byte-bounded chunks. */
class Lane {
  private readonly queue: Entry[] = [];
  private running: Promise<void> | undefined;

  constructor(
    private readonly pool: ProducerPool,
    readonly topic: string,
  ) {}

  submit(records: readonly Outgoing[], progress?: SendProgress): Promise<SendOutcome[]> {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise<SendOutcome[]>((resolve) => {
      const submission = new Submission(records.length, progress, resolve);
      for (let i = 0; i < records.length; i++) {
        const out = records[i];
        if (out !== undefined) this.queue.push(new Entry(out, submission, i));
      }
      this.kick();
    });
  }

  /**
   * Starts draining unless a drain runs. The `.finally` that clears `running` comes microtasks after drain()
   * saw an empty queue: records submitted in between would wait for a drain that never comes (a publish that
   * never settled, seen when the caller resumed one microtask later), so a non-empty queue starts a new drain.
   */
  private kick(): void {
    if (this.running) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    let refresh = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.queue.length);
      let count: number;
      try {
        count = await this.pool.host.partitionCount(this.topic, refresh);
      } catch (error) {
        // Metadata can fail with anything kafkajs throws: map it, never assume it is typed already.
        const e = toError(error, { topic: this.topic, doing: `reading the partitions of '${this.topic}'` });
        for (const entry of batch) {
          entry.settle({ ok: false, error: e.withContext({ topic: this.topic, messageId: entry.out.id }) });
        }
        continue;
      }
      refresh = false;
      // Each partition's entries in queue order; calls take from the front of every partition at once.
      const pending = new Map<number, PartitionQueue>();
      for (const e of batch) {
        const partition = this.pool.partitionOf(e.out.partitionKey, count);
        e.out.message.partition = partition;
        let q = pending.get(partition);
        if (!q) {
          q = { partition, entries: [], next: 0 };
          pending.set(partition, q);
        }
        q.entries.push(e);
      }
      const retry: Entry[] = [];
      for (let call = this.nextCall(pending); call.length > 0; call = this.nextCall(pending)) {
        const result = await this.sendCall(call);
        if (result.failed) refresh = true;
        retry.push(...result.alone);
      }
      // Entries to send on their own (a TOO_LARGE call being split) go first, before newer ones.
      this.queue.unshift(...retry);
    }
  }

  /**
   * The next call: from every partition, its queued entries in order within the partition's byte budget, within
   * the call's bounds. An entry to be sent alone goes in a call of its own, and nothing of its partition passes it.
   */
  private nextCall(pending: Map<number, PartitionQueue>): Chunk[] {
    const host = this.pool.host;
    const call: Chunk[] = [];
    let records = 0;
    let bytes = 0;
    for (const q of pending.values()) {
      const head = q.entries[q.next];
      if (head?.alone) {
        q.next++;
        return [{ partition: q.partition, entries: [head] }];
      }
    }
    for (const q of pending.values()) {
      const entries: Entry[] = [];
      let chunkBytes = 0;
      for (let e: Entry | undefined = q.entries[q.next]; e !== undefined && !e.alone; e = q.entries[q.next]) {
        const full =
          entries.length >= MAX_CHUNK_RECORDS ||
          chunkBytes + e.out.bytes > host.chunkBytes ||
          records >= MAX_CALL_RECORDS ||
          bytes + e.out.bytes > Math.max(host.chunkBytes, MAX_CALL_BYTES);
        // A record alone larger than the budget still goes (the broker's answer decides).
        if (full && (entries.length > 0 || call.length > 0)) break;
        entries.push(e);
        chunkBytes += e.out.bytes;
        bytes += e.out.bytes;
        records++;
        q.next++;
      }
      if (entries.length > 0) call.push({ partition: q.partition, entries });
      if (records >= MAX_CALL_RECORDS) break;
    }
    return call;
  }

  /**
   * Sends one call and settles its entries. Returns whether anything failed (metadata is then refreshed) and the
   * entries to send again on their own (a TOO_LARGE call: the broker stored none of its batches).
   */
  private async sendCall(call: Chunk[]): Promise<{ failed: boolean; alone: Entry[] }> {
    const messages: Message[] = [];
    for (const c of call) for (const e of c.entries) messages.push(e.out.message);
    try {
      const bases = await this.pool.produce(
        this.topic,
        messages,
        call.map((c) => c.partition),
      );
      let failed = false;
      for (const { partition, entries } of call) {
        const base = bases.get(partition);
        if (base === undefined) {
          // Never a confirm without the broker's answer for this partition (see the file comment).
          failed = true;
          const error = new LosslessError(
            ErrorCode.UNAVAILABLE,
            `kafka: the broker's answer for topic '${this.topic}' lacked partition ${partition}: not confirmed, re-send`,
            { broker: 'kafka', topic: this.topic },
          );
          this.fail(entries, error);
          continue;
        }
        // Offsets as numbers while they are exact (always, in practice), as decimal strings either way.
        const small = base <= BigInt(Number.MAX_SAFE_INTEGER - entries.length);
        const first = Number(base);
        entries.forEach((e, i) => {
          const offset = small ? String(first + i) : String(base + BigInt(i));
          e.settle({ ok: true, details: { partition, offset } });
        });
      }
      return { failed, alone: [] };
    } catch (error) {
      const e = isLosslessError(error) ? error : toError(error, { topic: this.topic });
      if (e.code === ErrorCode.TOO_LARGE && messages.length > 1) {
        // Find the culprit: each record again on its own.
        const alone = call.flatMap((c) => c.entries);
        for (const entry of alone) entry.alone = true;
        return { failed: true, alone };
      }
      for (const c of call) this.fail(c.entries, e);
      return { failed: true, alone: [] };
    }
  }

  private fail(entries: readonly Entry[], error: LosslessError): void {
    for (const entry of entries) {
      entry.settle({ ok: false, error: error.withContext({ topic: this.topic, messageId: entry.out.id }) });
    }
  }
}

/** One partition's entries of a drain, and the first not yet taken into a call. */
interface PartitionQueue {
  readonly partition: number;
  readonly entries: Entry[];
  next: number;
}

/** The entries of one partition in one call, in queue order. */
interface Chunk {
  readonly partition: number;
  readonly entries: Entry[];
}
