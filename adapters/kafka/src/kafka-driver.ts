// The Kafka driver: one kafkajs client per driver; an admin for topology and cluster description, idempotent
// producers behind per-topic lanes (publish-lane.ts), a consumer per subscription (consumer.ts), and truthful
// health. kafkajs reconnects by itself on its next request; the driver only watches: a socket that closes (every
// socket goes through our socketFactory) or a request that fails for a connection reason makes health
// 'disconnected' until a probe (a TCP connect through the same factory) or a request succeeds again.
//
// With `tls` and `sasl` every connection (the main client's, the pinned metadata admins', the probes') is TLS
// (verified) and logs in. A refused login or an untrusted certificate ends connect() at once with
// PERMISSION_DENIED (kafkajs itself gives up on a SASL failure without retrying; the error table makes the TLS
// failure not retriable), so a wrong password never turns into a reconnect storm.
import { Socket } from 'node:net';
import { consoleLogger, type Logger } from '@lossless/core';
import {
  type Capabilities,
  type DeadLetterDestination,
  type DeliverySink,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  describeError,
  ErrorCode,
  type Health,
  HealthTracker,
  isLosslessError,
  LosslessError,
  type MessageRecord,
  type NormalizedSubscription,
  type NormalizedTopology,
  retryPause,
  Secrets,
  type SendOutcome,
  type SendProgress,
  tlsSecrets,
} from '@lossless/core/driver';
import { type Admin, type ISocketFactory, Kafka, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import { type ConsumerHost, KafkaConsumer } from './consumer.js';
import { classifyNative, toError } from './error-table.js';
import { groupLag } from './lag.js';
import { type Outgoing, toOutgoing } from './message-mapping.js';
import { deadLetterGroupId, deadLetterTopicName, retryTopicName } from './names.js';
import {
  type KafkaDriverOptions,
  optionSecretValues,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { type LaneHost, ProducerPool } from './publish-lane.js';
import { kafkajsSasl } from './sasl.js';
import { defaultSocketFactory, reachable, refuseTls } from './sockets.js';
import { type TopicDefaults, TopologyManager } from './topology.js';

/** The Kafka driver: the core contract plus what an operator may want to see. */
export interface KafkaDriver extends Driver {
  /** The brokers of the cluster as described at connect (undefined before). */
  readonly clusterSize: number | undefined;
  /** The defaults topics are created with, decided at connect from the cluster size and the options. */
  readonly topicDefaults: TopicDefaults | undefined;
}

/** How long a topic's partition count is trusted, ms. */
const PARTITIONS_TTL_MS = 30_000;

/** How often a disconnected driver probes the broker, ms. */
const PROBE_INTERVAL_MS = 1_000;

/** Most OAuth tokens the driver remembers as secrets (a provider refreshes its token every so often). */
const MAX_TOKENS = 16;

class KafkaDriverImpl implements KafkaDriver, LaneHost, ConsumerHost {
  readonly name = 'kafka';
  readonly capabilities: Capabilities;
  readonly logger: Logger;
  /**
   * What the driver must never print: the SASL password, the TLS key and passphrase, user info in addresses,
   * and every OAuth token its provider returned (so replaced when a new token arrives).
   */
  private secrets: Secrets;
  private readonly secretValues: string[];
  private readonly tokens: string[] = [];
  /** kafkajs `ssl` and `sasl` of every client this driver creates. */
  private readonly security: { ssl?: NonNullable<ResolvedOptions['ssl']>; sasl?: SASLOptions };
  readonly options: ResolvedOptions;
  readonly kafka: Kafka;
  readonly chunkBytes: number;
  readonly ackTimeoutMs: number;
  private readonly socketFactory: ISocketFactory;
  private readonly producers: ProducerPool;
  private admin: Admin | undefined;
  private readonly pinned = new Map<string, Promise<Admin>>();
  private topology: TopologyManager | undefined;
  private readonly consumers = new Set<KafkaConsumer>();
  private readonly partitions = new Map<string, { count: Promise<number>; at: number }>();
  private readonly healthState: HealthTracker;
  private connected = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private probing: NodeJS.Timeout | undefined;
  private probeRunning = false;
  clusterSize: number | undefined;
  topicDefaults: TopicDefaults | undefined;

  constructor(options: KafkaDriverOptions) {
    this.options = resolveOptions(options);
    // Read from what resolveOptions kept (read once): the addresses, the SASL password, the key as Node gets it.
    this.secretValues = [...optionSecretValues(this.options), ...tlsSecrets(this.options.ssl)];
    this.secrets = new Secrets(this.secretValues);
    const target = this.options.logger ?? consoleLogger;
    // Through `this.secrets` at each call: it grows when the OAuth provider hands out a new token.
    const level =
      (name: keyof Logger) =>
      (message: string, meta?: Record<string, unknown>): void =>
        this.secrets.logger(target)[name](message, meta);
    this.logger = { debug: level('debug'), info: level('info'), warn: level('warn'), error: level('error') };
    const { ssl, sasl } = this.options;
    this.security = {
      ...(ssl ? { ssl } : {}),
      ...(sasl ? { sasl: kafkajsSasl(sasl, (token) => this.rememberToken(token)) } : {}),
    };
    this.healthState = new HealthTracker((text) => this.secrets.text(text));
    this.healthState.set('connecting', 'not connected yet');
    this.chunkBytes = this.options.maxMessageBytes;
    this.ackTimeoutMs = Math.max(1_000, this.options.requestTimeout - 5_000);
    const replicated =
      this.options.replicated ??
      (this.options.brokers.length >= 3 && (this.options.defaultMinInSyncReplicas ?? 2) >= 2);
    this.capabilities = {
      maxMessageBytes: this.options.maxMessageBytes,
      unroutable: false, // a topic is a log: it keeps every message whether or not a subscription exists
      nativeRedeliveryDelay: false, // Kafka has no delayed redelivery: core holds the message, then nacks
      deadLetters: true, // `<topic>.<subscription>.dlq`, read with subscribe(..., { deadLetters: true })
      keyOrdering: true, // record key → partition; a partition is delivered in offset order
      externalProcess: true,
      replication: replicated, // refined at connect from the cluster's own description
      staleAckDetection: true, // deliveries of revoked partitions or closed subscriptions are rejected
      storesSubscriptionSettings: false, // a consumer group stores no maxDeliveries
      retainsBeforeSubscription: true, // a new consumer group starts at the earliest retained offset
      authentication: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'], // `sasl`
      tls: true,
    };
    const user = this.options.socketFactory ?? defaultSocketFactory;
    this.socketFactory = (args) => this.watch(user(args));
    this.kafka = new Kafka({
      clientId: this.options.clientId,
      brokers: [...this.options.brokers],
      connectionTimeout: this.options.connectionTimeout,
      requestTimeout: this.options.requestTimeout,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
      socketFactory: this.socketFactory,
      ...this.security,
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => this.kafkaLog(entry),
    });
    this.producers = new ProducerPool(this);
  }

  /** A token the OAuth provider returned: a secret from now on. */
  private rememberToken(token: string): void {
    if (this.tokens.includes(token)) return;
    this.tokens.push(token);
    if (this.tokens.length > MAX_TOKENS) this.tokens.shift();
    this.secrets = new Secrets([...this.secretValues, ...this.tokens]);
  }

  private kafkaLog({ namespace, level, log }: LogEntry): void {
    if (this.closed) return;
    const { message, ...rest } = log;
    const line = `kafkajs ${namespace}: ${message}`;
    if (level === logLevel.ERROR) this.logger.warn(line, rest);
    else if (level === logLevel.WARN) this.logger.info(line, rest);
    else this.logger.debug(line, rest);
  }

  debug(message: string): void {
    this.logger.debug(message);
  }

  // --- health -----------------------------------------------------------------------------------------------

  health(): Health {
    return this.healthState.snapshot();
  }

  /** A request went through: connected (once connect() succeeded). */
  onSuccess(): void {
    if (!this.connected || this.closed) return;
    this.healthState.connected();
  }

  /** A request failed for a connection reason: disconnected until a probe or a request succeeds. */
  onTrouble(error: LosslessError): void {
    if (!this.connected || this.closed) return;
    this.healthState.set('disconnected', error.message);
    this.startProbing();
  }

  /** Every socket kafkajs opens: when one closes, check at once whether the broker is still reachable. */
  private watch(socket: Socket): Socket {
    socket.once('close', () => {
      if (this.connected && !this.closed) void this.probe();
    });
    if (!this.options.ssl) refuseTls(socket);
    return socket;
  }

  private startProbing(): void {
    if (this.probing || this.closed) return;
    this.probing = setInterval(() => void this.probe(), PROBE_INTERVAL_MS);
    this.probing.unref();
  }

  private stopProbing(): void {
    if (this.probing) clearInterval(this.probing);
    this.probing = undefined;
  }

  /** One TCP connect to the first bootstrap broker through the socket factory (so a route is honoured). */
  private async probe(): Promise<void> {
    if (this.probeRunning || this.closed) return;
    this.probeRunning = true;
    try {
      const first = this.options.brokers[0];
      if (first === undefined) {
        throw new LosslessError(ErrorCode.INTERNAL, 'kafka: no bootstrap broker to probe', {
          broker: 'kafka',
        });
      }
      const ok = await this.reachable(first, this.options.connectionTimeout);
      if (this.closed) return;
      if (ok) {
        this.stopProbing();
        this.healthState.connected();
      } else {
        this.healthState.set('disconnected', `broker ${first} unreachable`);
        this.startProbing();
      }
    } finally {
      this.probeRunning = false;
    }
  }

  private reachable(address: string, timeoutMs: number): Promise<boolean> {
    const factory = this.options.socketFactory ?? defaultSocketFactory;
    return reachable(factory, address, this.options.ssl, timeoutMs);
  }

  // --- connection -------------------------------------------------------------------------------------------

  private closedError(): LosslessError {
    return new LosslessError(ErrorCode.CLOSED, 'kafka: the driver is closed: create a new one to continue', {
      broker: 'kafka',
    });
  }

  connect(signal: AbortSignal): Promise<void> {
    return this.secrets.guard(() => this.connectOnce(signal));
  }

  /**
   * Connect attempts until one succeeds or the signal aborts. An error the table calls not retriable ends it at
   * once: SASL_AUTHENTICATION_FAILED, CLUSTER_AUTHORIZATION_FAILED and the other refusals (PERMISSION_DENIED), an
   * unknown host name, an unsupported protocol version — retrying to the deadline would only hide the reason.
   */
  private async connectOnce(signal: AbortSignal): Promise<void> {
    if (this.closed) throw this.closedError();
    this.healthState.set('connecting', 'connecting');
    let lastError: unknown;
    const unavailable = () =>
      new LosslessError(
        ErrorCode.UNAVAILABLE,
        `kafka: could not connect to ${this.options.brokers.join(', ')}` +
          `${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
        { broker: 'kafka', cause: lastError ?? signal.reason },
      );
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(unavailable());
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    try {
      for (let retry = 1; !this.closed; retry++) {
        try {
          await Promise.race([this.attemptConnect(), aborted]);
          break;
        } catch (error) {
          if (signal.aborted || this.closed) throw isLosslessError(error) ? error : unavailable();
          const e = classifyNative(error);
          if (e && !e.retriable) throw e;
          lastError = error;
          this.healthState.set('connecting', `connecting: ${describeError(error)}`);
          await retryPause(retry, signal);
        }
      }
      if (this.closed) throw this.closedError();
      this.connected = true;
      this.healthState.connected();
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  /** Admin connect + cluster description (decides the topic defaults) + the first producer. */
  private async attemptConnect(): Promise<void> {
    if (!this.admin) {
      this.admin = this.kafka.admin({ retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 } });
    }
    await this.admin.connect();
    const cluster = await this.admin.describeCluster();
    const size = cluster.brokers.length;
    this.clusterSize = size;
    const rf = this.options.defaultReplicationFactor ?? Math.min(3, size);
    const fixedMinIsr = this.options.defaultMinInSyncReplicas;
    const defaults: TopicDefaults = {
      partitions: this.options.defaultPartitions,
      replicationFactor: rf,
      minInSyncReplicas: (r) => fixedMinIsr ?? (r >= 3 ? 2 : 1),
    };
    this.topicDefaults = defaults;
    if (this.options.replicated === undefined) {
      this.capabilities.replication = size >= 3 && defaults.minInSyncReplicas(rf) >= 2;
    }
    // Set together with topicDefaults, so the manager in use always reads the defaults in use.
    this.topology = new TopologyManager({
      admin: this.admin,
      logger: this.logger,
      defaults: () => defaults,
      liveBrokers: async () => {
        const { brokers } = await this.requireAdmin().describeCluster();
        return brokers.map((b) => `${b.host}:${b.port}`);
      },
      pinnedAdmin: (address) => this.pinnedAdmin(address),
    });
    await this.producers.connect();
  }

  private requireAdmin(): Admin {
    return this.requireConnected().admin;
  }

  private requireTopology(): TopologyManager {
    return this.requireConnected().topology;
  }

  /** The admin and topology manager that connect() sets; throws CLOSED after close(), UNAVAILABLE before connect. */
  private requireConnected(): { admin: Admin; topology: TopologyManager } {
    if (this.closed) throw this.closedError();
    const { admin, topology } = this;
    if (!admin || !topology) {
      throw new LosslessError(ErrorCode.UNAVAILABLE, 'kafka: not connected: call connect() first', {
        broker: 'kafka',
      });
    }
    return { admin, topology };
  }

  /** A cached admin whose connections go only to `address` (a broker's own metadata view). */
  private pinnedAdmin(address: string): Promise<Admin> {
    let admin = this.pinned.get(address);
    if (!admin) {
      const user = this.options.socketFactory ?? defaultSocketFactory;
      const client = new Kafka({
        clientId: `${this.options.clientId}-metadata`,
        brokers: [address],
        connectionTimeout: this.options.connectionTimeout,
        requestTimeout: this.options.requestTimeout,
        retry: { retries: 0 },
        ...this.security,
        logLevel: logLevel.NOTHING,
        socketFactory: (args) => {
          if (`${args.host}:${args.port}` === address) return user(args);
          const socket = new Socket();
          setImmediate(() => socket.destroy(new Error(`metadata client pinned to ${address}`)));
          return socket;
        },
      });
      const created = client.admin({ retry: { retries: 0 } });
      admin = created.connect().then(() => created);
      admin.catch(() => this.pinned.delete(address));
      this.pinned.set(address, admin);
    }
    return admin;
  }

  // --- topology ---------------------------------------------------------------------------------------------

  async declare(topology: NormalizedTopology): Promise<void> {
    const manager = this.requireTopology();
    try {
      await manager.declare(topology);
    } catch (error) {
      const e = toError(error, { doing: 'declaring the topology' });
      if (e.code === ErrorCode.UNAVAILABLE) this.onTrouble(e);
      throw e;
    }
  }

  // --- publish ----------------------------------------------------------------------------------------------

  async send(
    topic: string,
    records: readonly MessageRecord[],
    progress?: SendProgress,
  ): Promise<SendOutcome[]> {
    if (this.closed) throw this.closedError();
    const now = Date.now();
    return this.producers.send(
      topic,
      records.map((r) => toOutgoing(r, now)),
      progress,
    );
  }

  /**
   * Partitions of `topic`, from the admin's metadata, cached for PARTITIONS_TTL_MS (partitions can be added to a
   * topic; a stale count only moves new keys' placement for that long, as with the Java client's metadata).
   */
  partitionCount(topic: string, refresh: boolean): Promise<number> {
    const cached = this.partitions.get(topic);
    if (cached && !refresh && Date.now() - cached.at < PARTITIONS_TTL_MS) return cached.count;
    const count = (async () => {
      try {
        const { topics } = await this.requireAdmin().fetchTopicMetadata({ topics: [topic] });
        const n = topics[0]?.partitions.length ?? 0;
        if (n === 0)
          throw new LosslessError(ErrorCode.UNAVAILABLE, `kafka: no partitions known for '${topic}'`);
        return n;
      } catch (error) {
        this.partitions.delete(topic);
        const e = toError(error, { topic, doing: `reading the partitions of topic '${topic}'` });
        if (e.code === ErrorCode.UNAVAILABLE) this.onTrouble(e);
        throw e;
      }
    })();
    count.catch(() => {});
    this.partitions.set(topic, { count, at: Date.now() });
    return count;
  }

  /** Copies produced by consumers (retry, dead letter) share the producers and their lanes. */
  produce(topic: string, records: readonly Outgoing[]): Promise<SendOutcome[]> {
    return this.producers.send(topic, records);
  }

  // --- consume ----------------------------------------------------------------------------------------------

  async subscribe(options: DriverSubscribeOptions, sink: DeliverySink): Promise<DriverSubscription> {
    const manager = this.requireTopology();
    const { topic, name } = options.subscription;
    const needed = options.deadLetters
      ? [deadLetterTopicName(topic, name)]
      : [topic, retryTopicName(topic, name)];
    const missing = await manager.missing(needed);
    if (missing.length > 0) {
      throw new LosslessError(
        ErrorCode.NOT_FOUND,
        `kafka: subscription '${name}' of topic '${topic}' does not exist${options.deadLetters ? ' or keeps no dead letters' : ''} ` +
          `(missing ${missing.join(', ')}): declare it first`,
        { broker: 'kafka', topic, subscription: name },
      );
    }
    const consumer = new KafkaConsumer(this, options, sink);
    this.consumers.add(consumer);
    try {
      await consumer.start();
    } catch (error) {
      this.consumers.delete(consumer);
      throw error;
    }
    if (this.closed) {
      await consumer.close();
      throw this.closedError();
    }
    return consumer;
  }

  forget(consumer: KafkaConsumer): void {
    this.consumers.delete(consumer);
  }

  /** ConsumerHost.lag: undefined while not connected or when the admin calls fail (a gauge, not a guarantee). */
  async lag(groupId: string, topics: readonly string[]): Promise<number | undefined> {
    if (this.closed || !this.admin) return undefined;
    try {
      return await groupLag(this.admin, groupId, topics);
    } catch {
      return undefined;
    }
  }

  /** Driver.deadLetterDepth: the dead-letter group's lag on `<topic>.<subscription>.dlq`. */
  async deadLetterDepth(spec: NormalizedSubscription): Promise<number> {
    const { admin } = this.requireConnected();
    const topic = deadLetterTopicName(spec.topic, spec.name);
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(topic)) {
        throw new LosslessError(
          ErrorCode.NOT_FOUND,
          `kafka: dead-letter topic '${topic}' does not exist: subscription '${spec.name}' of topic ` +
            `'${spec.topic}' is not declared or keeps no dead letters`,
          { broker: 'kafka', topic: spec.topic, subscription: spec.name },
        );
      }
      return await groupLag(admin, deadLetterGroupId(spec.topic, spec.name), [topic]);
    } catch (error) {
      throw isLosslessError(error) ? error : (this.classify(error) ?? error);
    }
  }

  /**
   * Driver.deadLetterDestinations: the topics named `<topic>.<subscription>.dlq`. Portable names have no dots,
   * so the pair is read back from the name without ambiguity.
   */
  async deadLetterDestinations(topic?: string): Promise<DeadLetterDestination[]> {
    const { admin } = this.requireConnected();
    let names: string[];
    try {
      names = await admin.listTopics();
    } catch (error) {
      throw this.classify(error) ?? error;
    }
    const out: DeadLetterDestination[] = [];
    for (const name of names.sort()) {
      const m = /^([A-Za-z0-9][A-Za-z0-9_-]*)\.([A-Za-z0-9][A-Za-z0-9_-]*)\.dlq$/.exec(name);
      if (!m?.[1] || !m[2] || (topic !== undefined && m[1] !== topic)) continue;
      out.push({ topic: m[1], subscription: m[2], destination: name });
    }
    return out;
  }

  classify(error: unknown): LosslessError | undefined {
    return this.secrets.scrub(classifyNative(error));
  }

  /** Closes subscriptions (committing what they settled), waits for queued sends, disconnects everything. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.consumers].map((c) => c.close()));
      await this.producers.close().catch(() => {});
      this.closed = true;
      this.stopProbing();
      this.healthState.close();
      const admins = [this.admin ? Promise.resolve(this.admin) : undefined, ...this.pinned.values()];
      this.pinned.clear();
      await Promise.allSettled(
        admins.map(async (a) => {
          if (a) await (await a).disconnect();
        }),
      );
    })();
    return this.closing;
  }
}

/**
 * Creates a Kafka driver. Pass it to `connect()` of `@lossless/core`. Throws INVALID_ARGUMENT for bad options.
 * Nothing connects until `connect()`.
 */
export function kafka(options: KafkaDriverOptions): KafkaDriver {
  return new KafkaDriverImpl(options);
}
