// Publishing: one idempotent kafkajs producer (acks=all, maxInFlightRequests 1) shared by lanes, one lane per
// topic. A lane places every record in a partition itself and sends one request at a time per partition
// (partitions in parallel), coalescing everything queued into chunks that fit the broker's record-batch limit;
// it answers per record (partition, offset) or with the error of its chunk.
//
// Why one request at a time per partition, and why a failed send replaces the producer: kafkajs gives each batch
// sequence numbers when it sends it and ROLLS THEM BACK when the request fails — for every partition of the
// request, including partitions the broker did store (a produce response with one partition error throws for
// all). A later batch of the same size on such a partition would then reuse sequence numbers the broker already
// has, and the broker would acknowledge it as a duplicate without storing it: a silent loss. kafkajs's own
// retry of the SAME call re-sends the same records with the same numbers (the broker's deduplication is right
// there), so the lane keeps it (a few quick retries), never lets another call of the partition overlap it, makes
// partitioning deterministic (a record without a key is placed by its message id), and after a call that
// failed anyway retires the producer: the next call goes out under a fresh producer id, whose sequence numbers
// the broker cannot confuse with the old ones. Core then re-sends the failed records with the same message ids
// (at-least-once: a record the broker did store comes twice, consumers deduplicate by id).
//
// And why one request per PARTITION: kafkajs's retry of a call keeps the answers of brokers that already
// answered and re-sends only to the others, regrouped by the CURRENT leaders. When a broker dies and its
// partitions move to a broker that already answered for its own partitions, the moved partitions are never
// re-sent, yet the call resolves (read in kafkajs 2.2.4 sendMessages.js; 11 confirmed messages lost out of 2,000
// when a node of a 3-node cluster was SIGKILLed, before this driver split calls by partition). A call of one
// partition has one leader: its retry is always a full re-send. As a second guard, a record whose partition is
// missing from the broker's answer is a failure, never a confirm.
import {
  ErrorCode,
  isLosslessError,
  LosslessError,
  type SendOutcome,
  type SendProgress,
} from '@lossless/core/driver';
import { type Kafka, type Message, type PartitionerArgs, Partitioners, type Producer } from 'kafkajs';
import { toError } from './error-table.js';
import type { Outgoing } from './message-mapping.js';

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

/** Most records in one request: bounds encoding work and the loss of one failed chunk. */
const MAX_CHUNK_RECORDS = 2_000;

interface Entry {
  readonly out: Outgoing;
  readonly settle: (outcome: SendOutcome) => void;
  /** Send on its own (after its chunk failed with TOO_LARGE, to find which record is too large). */
  alone: boolean;
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
  /** Java-compatible murmur2 partitioning (kafkajs's default partitioner), fed the partition count. */
  private readonly murmur = Partitioners.DefaultPartitioner();

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

  /** The partition of a record: murmur2 of its partitioning key over `count` partitions. */
  partitionOf(topic: string, key: string, count: number): number {
    const partitionMetadata = Array.from({ length: count }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [],
      isr: [],
      offlineReplicas: [],
      partitionErrorCode: 0,
    }));
    return this.murmur({ topic, partitionMetadata, message: { key, value: null } });
  }

  /** One request on the current producer; a failure retires it. Throws the mapped error. */
  async produce(topic: string, messages: Message[]): Promise<{ partition: number; baseOffset: string }[]> {
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
      return meta.map((m) => ({ partition: m.partition, baseOffset: m.baseOffset ?? m.offset ?? '-1' }));
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

/** The partition drain() placed the entry in: every entry gets one before any is sent. */
function placedPartition(e: Entry): number {
  const partition = e.out.message.partition;
  if (partition === undefined) {
    const message = `kafka: message ${e.out.id} reached a send without a partition`;
    throw new LosslessError(ErrorCode.INTERNAL, message, { broker: 'kafka', messageId: e.out.id });
  }
  return partition;
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
    return new Promise<SendOutcome[]>((resolve) => {
      const outcomes = new Array<SendOutcome>(records.length);
      let left = records.length;
      if (left === 0) {
        resolve([]);
        return;
      }
      records.forEach((out, i) => {
        this.queue.push({
          out,
          alone: false,
          settle: (outcome) => {
            outcomes[i] = outcome;
            progress?.(i, outcome);
            if (--left === 0) resolve(outcomes);
          },
        });
      });
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

  /** The next chunk of one partition: queued entries of that partition, in order, within the byte budget. */
  private take(partition: number, from: Entry[]): Entry[] {
    const chunk: Entry[] = [];
    let bytes = 0;
    for (let i = 0; chunk.length < MAX_CHUNK_RECORDS; ) {
      const e = from[i];
      if (e === undefined) break; // past the end of `from`
      if (e.out.message.partition !== partition) {
        i++;
        continue;
      }
      const first = chunk[0];
      if (
        first !== undefined &&
        (e.alone || first.alone || bytes + e.out.bytes > this.pool.host.chunkBytes)
      ) {
        break;
      }
      bytes += e.out.bytes;
      chunk.push(e);
      from.splice(i, 1);
    }
    return chunk;
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
      for (const e of batch)
        e.out.message.partition = this.pool.partitionOf(this.topic, e.out.partitionKey, count);
      // One call per partition at a time (its own leader), partitions in parallel, in queue order within each.
      const retry: Entry[] = [];
      while (batch.length > 0) {
        const partitions = [...new Set(batch.map(placedPartition))];
        const chunks = partitions.map((partition) => ({ partition, entries: this.take(partition, batch) }));
        const failed = await Promise.all(chunks.map((c) => this.sendChunk(c.partition, c.entries)));
        for (const f of failed) retry.push(...f);
        if (failed.some((f) => f.length > 0)) refresh = true;
      }
      // Entries to send on their own (a TOO_LARGE chunk being split) go first, before newer ones.
      this.queue.unshift(...retry);
    }
  }

  /** Sends one chunk of one partition and settles its entries; returns entries to send again on their own. */
  private async sendChunk(partition: number, chunk: Entry[]): Promise<Entry[]> {
    try {
      const meta = await this.pool.produce(
        this.topic,
        chunk.map((e) => e.out.message),
      );
      const start = meta.find((m) => m.partition === partition);
      if (!start || BigInt(start.baseOffset) < 0n) {
        // Never a confirm without the broker's answer for this partition (see the file comment).
        throw new LosslessError(
          ErrorCode.UNAVAILABLE,
          `kafka: the broker's answer for topic '${this.topic}' lacked partition ${partition}: not confirmed, re-send`,
          { broker: 'kafka', topic: this.topic },
        );
      }
      const base = BigInt(start.baseOffset);
      chunk.forEach((e, i) => {
        e.settle({ ok: true, details: { partition, offset: String(base + BigInt(i)) } });
      });
      return [];
    } catch (error) {
      const e = isLosslessError(error) ? error : toError(error, { topic: this.topic });
      if (e.code === ErrorCode.TOO_LARGE && chunk.length > 1) {
        // Find the culprit: each record again on its own (the broker stored none of this partition's batch).
        for (const entry of chunk) entry.alone = true;
        return chunk;
      }
      for (const entry of chunk) {
        entry.settle({ ok: false, error: e.withContext({ topic: this.topic, messageId: entry.out.id }) });
      }
      return [];
    }
  }
}
