// The in-memory driver: a broker that lives inside one process and behaves like a durable one — topics,
// subscriptions that keep every message until acked, competing consumers with prefetch, redelivery with an
// attempt count, delayed redelivery, dead letters, stale-ack detection. For core's unit tests and for users who
// test their own code without a broker. It guarantees nothing across a process crash.

import { deadLetterHeaders } from '../driver/dead-letter.js';
import { DeliveryBase } from '../driver/delivery-base.js';
import type {
  Capabilities,
  DeliverySink,
  Driver,
  DriverSubscribeOptions,
  DriverSubscription,
  Health,
  SendOutcome,
} from '../driver/driver.js';
import { Outstanding } from '../driver/outstanding.js';
import { claimSettlement, type DeliverySource } from '../driver/settle-once.js';
import { closedError, ErrorCode, isLosslessError, LosslessError } from '../errors.js';
import type { MessageRecord } from '../message.js';
import type { NormalizedSubscription, NormalizedTopic, NormalizedTopology } from '../topology.js';
import { checkOptions, type OptionShape } from '../validate.js';

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const CONFIRMED: SendOutcome = Object.freeze({ ok: true });

/** What the broker does with one sent record; tests set `faults.onSend` to choose. */
export type SendFault = 'confirm' | 'nack' | 'hang' | LosslessError;

interface Stored {
  readonly record: MessageRecord;
  /** Extra headers the broker added (dead-letter bookkeeping). */
  readonly extraHeaders: Readonly<Record<string, string>>;
  deliveries: number;
}

class Consumer {
  /** Handed out and not settled, at most prefetch: returned to the queue when the consumer closes. */
  readonly live: Outstanding<MemoryDelivery>;
  readonly source: DeliverySource;
  closed = false;
  stopped = false;
  constructor(
    readonly queue: SubscriptionQueue,
    prefetch: number,
    readonly sink: DeliverySink,
  ) {
    this.live = new Outstanding(prefetch);
    this.source = { broker: 'memory', topic: queue.spec.topic, subscription: queue.spec.name };
  }
}

class SubscriptionQueue {
  readonly ready: Stored[] = [];
  readonly consumers: Consumer[] = [];
  private rr = 0;
  private scheduled = false;
  deadLetterQueue: SubscriptionQueue | undefined;

  constructor(
    readonly broker: MemoryBroker,
    public spec: NormalizedSubscription,
    readonly isDeadLetterQueue = false,
  ) {}

  get depth(): number {
    return this.ready.length;
  }

  enqueue(m: Stored, front = false): void {
    if (front) this.ready.unshift(m);
    else this.ready.push(m);
    this.schedule();
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.ready.length > 0) {
      const open = this.consumers.filter((c) => !c.closed && !c.stopped && !c.live.full);
      const c = open[this.rr++ % open.length];
      const m = c && this.ready.shift();
      if (!c || !m) return;
      m.deliveries++;
      const d = new MemoryDelivery(m, c);
      c.live.add(d);
      c.sink(d);
    }
  }
}

class MemoryDelivery extends DeliveryBase {
  constructor(
    private readonly stored: Stored,
    private readonly consumer: Consumer,
  ) {
    const r = stored.record;
    const headers = { ...r.headers, ...stored.extraHeaders };
    super(r.id, r.key, headers, new Uint8Array(r.body), r.timestamp, stored.deliveries);
  }

  private finish(): void {
    const c = this.consumer;
    claimSettlement(
      c.source,
      this,
      c.closed ? 'is stale: its consumer was closed and the message was returned for redelivery' : undefined,
    );
    c.live.delete(this);
    c.queue.schedule();
  }

  async ack(): Promise<void> {
    this.finish();
  }

  async nack(options: { delayMs: number; error: string }): Promise<void> {
    this.finish();
    const q = this.consumer.queue;
    if (options.delayMs > 0) setTimeout(() => q.enqueue(this.stored, true), options.delayMs);
    else q.enqueue(this.stored, true);
  }

  async deadLetter(options: { error: string }): Promise<void> {
    this.finish();
    const q = this.consumer.queue;
    if (!q.spec.deadLetter || !q.deadLetterQueue) return;
    q.deadLetterQueue.enqueue({
      record: this.stored.record,
      extraHeaders: {
        ...this.stored.extraHeaders,
        ...deadLetterHeaders({ error: options.error, attempt: this.attempt, originalTopic: q.spec.topic }),
      },
      deliveries: 0,
    });
  }

  /** Returns the message when its consumer goes away unsettled. */
  release(): void {
    if (this.settled) return;
    this.settled = true;
    this.consumer.queue.enqueue(this.stored, true);
  }
}

/**
 * The network between one driver and the in-memory broker, for tests that cut it. While cut, sends either wait
 * for the network to come back ('blackhole': like bytes held in a dead TCP connection) or fail with UNAVAILABLE
 * ('reset'), and health reports 'disconnected'. Consuming is not affected.
 */
export class MemoryNetwork {
  private mode: 'up' | 'blackhole' | 'reset' = 'up';
  private changed = Date.now();
  private held: { go: () => void; fail: (e: LosslessError) => void }[] = [];

  get state(): 'up' | 'blackhole' | 'reset' {
    return this.mode;
  }

  get since(): number {
    return this.changed;
  }

  cut(mode: 'blackhole' | 'reset'): void {
    this.mode = mode;
    this.changed = Date.now();
    if (mode === 'reset') for (const h of this.held.splice(0)) h.fail(unavailable('connection reset'));
  }

  restore(): void {
    this.mode = 'up';
    this.changed = Date.now();
    for (const h of this.held.splice(0)) h.go();
  }

  /** Runs `f` when the network lets it through. */
  pass<T>(f: () => Promise<T>): Promise<T> {
    if (this.mode === 'up') return f();
    if (this.mode === 'reset') return Promise.reject(unavailable('connection reset'));
    return new Promise<T>((resolve, reject) => {
      this.held.push({ go: () => f().then(resolve, reject), fail: reject });
    });
  }
}

function unavailable(why: string): LosslessError {
  return new LosslessError(ErrorCode.UNAVAILABLE, `the in-memory broker is unreachable: ${why}`, {
    broker: 'memory',
  });
}

/** One in-process broker. Drivers connected to the same broker share its topics and subscriptions. */
export class MemoryBroker {
  readonly topics = new Map<string, { spec: NormalizedTopic; subscriptions: Set<SubscriptionQueue> }>();
  readonly queues = new Map<string, SubscriptionQueue>();
  /** Fault injection for tests: decides per record what the broker answers. */
  readonly faults: { onSend?: (topic: string, record: MessageRecord) => SendFault } = {};
  private reachable = true;
  private changed = Date.now();

  /** Simulates losing (false) or regaining (true) the network to the broker. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
    this.changed = Date.now();
  }

  get isReachable(): boolean {
    return this.reachable;
  }

  get since(): number {
    return this.changed;
  }

  /** Messages waiting (not handed out) in a subscription, for tests. */
  depth(topic: string, subscription: string, deadLetters = false): number {
    const q = this.queues.get(`${topic}\u0000${subscription}`);
    return (deadLetters ? q?.deadLetterQueue?.depth : q?.depth) ?? 0;
  }

  declare(topology: NormalizedTopology): void {
    for (const t of topology.topics) {
      const existing = this.topics.get(t.name);
      if (existing) {
        if (JSON.stringify(existing.spec) !== JSON.stringify(t)) {
          throw new LosslessError(
            ErrorCode.CONFLICT,
            `topic '${t.name}' exists with other settings (${JSON.stringify(existing.spec)})`,
            { broker: 'memory', topic: t.name },
          );
        }
      } else {
        this.topics.set(t.name, { spec: t, subscriptions: new Set() });
      }
    }
    for (const s of topology.subscriptions) {
      const key = `${s.topic}\u0000${s.name}`;
      const existing = this.queues.get(key);
      if (existing) {
        if (JSON.stringify(existing.spec) !== JSON.stringify(s)) {
          throw new LosslessError(ErrorCode.CONFLICT, `subscription '${s.name}' exists with other settings`, {
            broker: 'memory',
            topic: s.topic,
            subscription: s.name,
          });
        }
        continue;
      }
      const topic = this.topics.get(s.topic);
      if (!topic) {
        throw new LosslessError(ErrorCode.NOT_FOUND, `topic '${s.topic}' does not exist`, {
          broker: 'memory',
          topic: s.topic,
        });
      }
      const q = new SubscriptionQueue(this, s);
      q.deadLetterQueue = new SubscriptionQueue(this, s, true);
      this.queues.set(key, q);
      topic.subscriptions.add(q);
    }
  }
}

export interface MemoryDriverOptions {
  /** The broker to connect to; a new private one when absent. */
  broker?: MemoryBroker;
  /** Largest message accepted, bytes. Default 4 MiB (the smallest default of the real brokers). */
  maxMessageBytes?: number;
  /** A network a test can cut between this driver and the broker. */
  network?: MemoryNetwork;
}

const MEMORY_OPTIONS_SHAPE: OptionShape = {
  broker: {
    type: 'custom',
    check: (v) => (v instanceof MemoryBroker ? undefined : 'a MemoryBroker'),
  },
  maxMessageBytes: { type: 'integer', min: 1, max: 2 ** 31 - 1 },
  network: {
    type: 'custom',
    check: (v) => (v instanceof MemoryNetwork ? undefined : 'a MemoryNetwork'),
  },
};

class MemoryDriver implements Driver {
  readonly name = 'memory';
  readonly capabilities: Capabilities;
  private closed = false;
  /** Open subscriptions: closing the driver closes them, as a dropped connection would. */
  private readonly open = new Set<DriverSubscription>();

  constructor(
    readonly broker: MemoryBroker,
    maxMessageBytes: number,
    private readonly network: MemoryNetwork,
  ) {
    this.capabilities = {
      maxMessageBytes,
      unroutable: true,
      nativeRedeliveryDelay: true,
      deadLetters: true,
      keyOrdering: true,
      externalProcess: false,
      replication: false,
      staleAckDetection: true,
      storesSubscriptionSettings: true,
      retainsBeforeSubscription: false,
    };
  }

  async connect(): Promise<void> {
    if (!this.broker.isReachable) {
      throw new LosslessError(ErrorCode.UNAVAILABLE, 'the in-memory broker is unreachable', {
        broker: 'memory',
      });
    }
  }

  private check(): void {
    if (this.closed) throw closedError('the memory driver', { broker: 'memory' });
    if (!this.broker.isReachable) {
      throw new LosslessError(ErrorCode.UNAVAILABLE, 'the in-memory broker is unreachable', {
        broker: 'memory',
      });
    }
  }

  async declare(topology: NormalizedTopology): Promise<void> {
    this.check();
    this.broker.declare(topology);
  }

  send(topic: string, records: readonly MessageRecord[]): Promise<SendOutcome[]> {
    return this.network.pass(() => this.store(topic, records));
  }

  private async store(topic: string, records: readonly MessageRecord[]): Promise<SendOutcome[]> {
    this.check();
    const t = this.broker.topics.get(topic);
    const outcomes: SendOutcome[] = [];
    let hang = false;
    for (const record of records) {
      if (!t) {
        outcomes.push({
          ok: false,
          error: new LosslessError(ErrorCode.NOT_FOUND, `topic '${topic}' does not exist: declare it first`, {
            broker: 'memory',
            topic,
          }),
        });
        continue;
      }
      const fault = this.broker.faults.onSend?.(topic, record) ?? 'confirm';
      if (fault === 'hang') {
        hang = true;
        continue;
      }
      if (fault === 'nack') {
        outcomes.push({
          ok: false,
          error: new LosslessError(ErrorCode.NACKED, `the broker refused message ${record.id}`, {
            broker: 'memory',
            topic,
          }),
        });
        continue;
      }
      if (isLosslessError(fault)) {
        outcomes.push({ ok: false, error: fault });
        continue;
      }
      if (t.subscriptions.size === 0) {
        outcomes.push({
          ok: false,
          error: new LosslessError(
            ErrorCode.UNROUTABLE,
            `message ${record.id} to topic '${topic}' reached no subscription: declare one before publishing`,
            { broker: 'memory', topic, retriable: false },
          ),
        });
        continue;
      }
      // The broker keeps its own copy, as a real one would.
      const stored = { ...record, body: new Uint8Array(record.body) };
      for (const q of t.subscriptions) q.enqueue({ record: stored, extraHeaders: NO_HEADERS, deliveries: 0 });
      outcomes.push(CONFIRMED);
    }
    // The confirm comes asynchronously, as from a real broker.
    await Promise.resolve();
    if (hang) return new Promise<SendOutcome[]>(() => {});
    return outcomes;
  }

  async subscribe(options: DriverSubscribeOptions, sink: DeliverySink): Promise<DriverSubscription> {
    this.check();
    const { subscription: spec } = options;
    const main = this.broker.queues.get(`${spec.topic}\u0000${spec.name}`);
    if (!main) {
      throw new LosslessError(
        ErrorCode.NOT_FOUND,
        `subscription '${spec.name}' of topic '${spec.topic}' does not exist: declare it first`,
        { broker: 'memory', topic: spec.topic, subscription: spec.name },
      );
    }
    const q = options.deadLetters ? main.deadLetterQueue : main;
    if (!q) {
      // declare() gives every subscription queue its dead-letter queue.
      throw new LosslessError(
        ErrorCode.INTERNAL,
        `subscription '${spec.name}' of topic '${spec.topic}' has no dead-letter queue`,
        { broker: 'memory', topic: spec.topic, subscription: spec.name },
      );
    }
    const consumer = new Consumer(q, options.prefetch, sink);
    q.consumers.push(consumer);
    q.schedule();
    const detach = () => {
      const i = q.consumers.indexOf(consumer);
      if (i >= 0) q.consumers.splice(i, 1);
    };
    const subscription: DriverSubscription = {
      backlog: async () => q.depth,
      stop: async () => {
        consumer.stopped = true;
      },
      close: async () => {
        this.open.delete(subscription);
        if (consumer.closed) return;
        consumer.stopped = true;
        consumer.closed = true;
        detach();
        // Unsettled deliveries go back to the front of the queue, as when a channel closes.
        for (const d of consumer.live.drain().reverse()) d.release();
        q.schedule();
      },
    };
    this.open.add(subscription);
    return subscription;
  }

  health(): Health {
    if (this.closed) return { state: 'closed', since: this.broker.since };
    if (this.network.state !== 'up') {
      return { state: 'disconnected', reason: `network ${this.network.state}`, since: this.network.since };
    }
    return this.broker.isReachable
      ? { state: 'connected', since: this.broker.since }
      : { state: 'disconnected', reason: 'broker unreachable', since: this.broker.since };
  }

  classify(): LosslessError | undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.open].map((s) => s.close()));
  }
}

/** A driver for an in-process broker. Pass the same `broker` to several drivers to share it. */
export function memoryDriver(given?: MemoryDriverOptions): Driver & { readonly broker: MemoryBroker } {
  const options = checkOptions<MemoryDriverOptions>('memoryDriver()', given, MEMORY_OPTIONS_SHAPE, {
    broker: 'memory',
  });
  return new MemoryDriver(
    options.broker ?? new MemoryBroker(),
    options.maxMessageBytes ?? 4 * 1024 * 1024,
    options.network ?? new MemoryNetwork(),
  );
}
