// The RocketMQ 5 driver: rocketmq-client-nodejs over the gRPC proxy for messages, the remoting admin for
// topology. publish → one synchronous send per record (SEND_OK after the broker's SYNC_FLUSH) → consume with a
// SimpleConsumer per subscription (receive, ack, changeInvisibleDuration). The driver validates, batches and
// retries nothing: core does (see @lossless/core/driver).
import { format } from 'node:util';
import { consoleLogger, type Logger } from '@lossless/core';
import {
  abortableDelay,
  type Capabilities,
  type DeliverySink,
  type Driver,
  type DriverSubscribeOptions,
  type DriverSubscription,
  ErrorCode,
  type Health,
  HealthTracker,
  LosslessError,
  type MessageRecord,
  type NormalizedSubscription,
  type NormalizedTopic,
  type NormalizedTopology,
  nodeTlsOptions,
  retryPause,
  type Secrets,
  type SendOutcome,
  type SendProgress,
  speaksCleartextHttp2,
  speaksTls,
} from '@lossless/core/driver';
import { RocketMqAdmin, type TopicInfo } from '@lossless/rocketmq-admin';
import { type ILogger, Producer, SimpleConsumer, StatusChecker } from 'rocketmq-client-nodejs';
import definitionPb from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb.js';
import servicePb from 'rocketmq-client-nodejs/proto/apache/rocketmq/v2/service_pb.js';
import { type ConsumerHost, RocketMqSubscription } from './consumer.js';
import { classifyNative, lookup, whileBrokerRestarts } from './error-table.js';
import { type DecodedMessage, recordOf, toRocketMessage } from './message-mapping.js';
import { consumerGroupName, deadLetterGroupName, deadLetterTopicName } from './naming.js';
import {
  optionSecrets,
  type ResolvedOptions,
  type RocketMqDriverOptions,
  resolveOptions,
} from './options.js';
import { guardTelemetry } from './telemetry-guard.js';
import { type ChannelCredentials, channelCredentials, secureChannels } from './tls-channel.js';

/** Queues of a topic declared without `partitions`. */
export const DEFAULT_QUEUES = 4;
/** Queues of a dead-letter topic: one, so that dead letters come back in the order they were stored. */
const DEAD_LETTER_QUEUES = 1;
/** A topic that does not exist: a route query for it answers TOPIC_NOT_FOUND, which proves the proxy is up. */
const PROBE_TOPIC = 'lossless-connectivity-probe';
/** How often the health probe asks the proxy, ms. */
const PROBE_INTERVAL_MS = 2_000;
/** How long a new topic may take to appear in the proxy's routes, ms (the proxy caches routes). */
const ROUTE_WAIT_MS = 60_000;
/** How long subscribe() retries starting a consumer while the proxy is unreachable (e.g. just restarted), ms. */
const CONSUMER_START_WAIT_MS = 60_000;

/**
 * The proxy authenticated the caller and its ACL refused the topic: 40300 FORBIDDEN, or — as a 5.3.3 proxy
 * answers an authorisation failure — 40100 with "has no permission to access" (a failed authentication says
 * "check signature failed" or "User:… is not found"). For the connectivity probe, a topic a limited user has no
 * rights on, it proves the proxy is up and the credentials are good.
 */
function refusedOnlyByAcl(error: unknown): boolean {
  const found = lookup(error);
  if (found?.key === 40300) return true;
  return (
    found?.key === 40100 &&
    /has no permission to access/.test(found.native instanceof Error ? found.native.message : '')
  );
}

/**
 * How long each of the "is the proxy a TLS-only port?" probes may take (core's speaksCleartextHttp2, then
 * speaksTls): grpc-js hides the socket, so a plaintext client on a TLS-only proxy sees only dropped connections,
 * and the probes tell that apart from a proxy that answers plaintext but not (yet) our query.
 */
const TLS_PROBE_MS = 1_500;

/** Host and port of the first of `endpoints` ("host:port", several separated by ';'; checked by the factory). */
function firstHostPort(endpoints: string): [string, number] {
  const first = endpoints.split(';')[0] ?? '';
  const colon = first.lastIndexOf(':');
  return [first.slice(0, colon), Number(first.slice(colon + 1))];
}

/** What a connect attempt may be refused with that no retry changes (see connectOnce). */
const REFUSALS: ReadonlySet<string> = new Set([
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.UNSUPPORTED,
]);

/** The driver, with the admin it uses for topology (for tooling and tests). */
export interface RocketMqDriver extends Driver {
  readonly admin: RocketMqAdmin;
}

function clientLogger(logger: Logger | undefined): ILogger {
  if (!logger) return { info() {}, warn() {}, error() {}, debug() {} };
  const debug = (...args: unknown[]) => logger.debug(`rocketmq client: ${format(...args)}`);
  return { info: debug, warn: debug, error: debug, debug };
}

class RocketMqDriverImpl implements RocketMqDriver, ConsumerHost {
  readonly name = 'rocketmq';
  readonly capabilities: Capabilities;
  readonly admin: RocketMqAdmin;
  readonly invisibleDurationMs: number;
  readonly awaitDurationMs: number;
  readonly requestTimeoutMs: number;
  private readonly options: ResolvedOptions;
  private readonly logger: Logger;
  private readonly clientLogger: ILogger;
  /** What the driver must never print: the secret key, the security token, user info in an address. */
  private readonly secrets: Secrets;
  /** TLS credentials of every gRPC channel (undefined: plaintext). */
  private readonly channelCredentials: ChannelCredentials | undefined;
  private producer: Producer | undefined;
  private readonly healthState: HealthTracker;
  /** Aborted on close: ends the driver's polling waits. */
  private readonly closeSignal = new AbortController();
  private everConnected = false;
  private closed = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** Whether a topic is FIFO, per topic, from its route (the message types its queues accept). */
  private readonly topicKinds = new Map<string, Promise<boolean>>();
  /**
   * Topics this driver has seen exist (declared through it, or routed by the proxy). A NOT_FOUND on a send to one
   * of them is a broker restarting behind a live proxy — it unregisters from the name server and the proxy caches
   * "no such topic" for a while after it is back — so it is re-sent until the confirm deadline, not given up.
   */
  private readonly knownTopics = new Set<string>();
  /**
   * What was declared through this driver (topics by name, subscriptions by group), to declare again what a
   * replicated broker group lost in a failover: a slave copies its master's topics and groups only every ~10 s
   * and drops what its master lacks, so a slave promoted soon after a declare may not know the topic (every
   * send answers "no topic in this broker" until it is created again). See healTopology.
   */
  private readonly declaredTopics = new Map<string, NormalizedTopic>();
  private readonly declaredSubscriptions = new Map<string, NormalizedSubscription>();
  /** A re-declare in progress per topic (one at a time). */
  private readonly healing = new Map<string, Promise<void>>();
  /** The last send of each key (per topic): the next one of the key waits for it. */
  private readonly keyTails = new Map<string, Promise<unknown>>();
  private readonly subscriptions = new Set<RocketMqSubscription>();

  constructor(options: RocketMqDriverOptions) {
    this.options = resolveOptions(options);
    this.secrets = optionSecrets(this.options); // the addresses in use, read once by resolveOptions
    this.logger = this.secrets.logger(this.options.logger ?? consoleLogger);
    this.healthState = new HealthTracker((text) => this.secrets.text(text));
    this.clientLogger = clientLogger(this.options.logger && this.secrets.logger(this.options.logger));
    this.invisibleDurationMs = this.options.invisibleDurationMs;
    this.awaitDurationMs = this.options.awaitDurationMs;
    this.requestTimeoutMs = this.options.requestTimeoutMs;
    const tls = this.options.tls;
    this.channelCredentials = tls
      ? channelCredentials(
          nodeTlsOptions(tls, { where: 'rocketmq()', broker: 'rocketmq', logger: this.logger }),
        )
      : undefined;
    const auth = this.options.auth;
    this.admin = new RocketMqAdmin({
      namesrv: this.options.namesrv,
      cluster: this.options.cluster,
      requestTimeoutMs: this.options.requestTimeoutMs,
      // The same credentials sign declare()'s and subscribe()'s remoting calls to the name server and broker.
      ...(auth ? { credentials: auth } : {}),
    });
    this.capabilities = {
      maxMessageBytes: this.options.maxMessageBytes,
      // The proxy refuses more than 16 KiB of user properties (code 43101, found by conformance P12/P14); the
      // driver's own properties take part of it.
      maxHeaderBytes: 15 * 1024,
      unroutable: false,
      nativeRedeliveryDelay: true,
      deadLetters: true,
      keyOrdering: true,
      externalProcess: true,
      replication: this.options.replicated,
      staleAckDetection: true,
      storesSubscriptionSettings: true, // the group's retryMaxTimes
      retainsBeforeSubscription: false,
      authentication: ['ACL 2.0 access key / secret key (HMAC-SHA1)'], // `auth`
      tls: true, // to the proxy; no client certificate
    };
  }

  // --- connection and health ---------------------------------------------------------------------------------

  connect(signal: AbortSignal): Promise<void> {
    return this.secrets.guard(() => this.connectOnce(signal));
  }

  /**
   * Starts the producer and asks the proxy for a route until it answers. A refusal no retry can change — the
   * proxy's UNAUTHORIZED (40100) / FORBIDDEN (40300) / PAYMENT_REQUIRED (40200), gRPC UNAUTHENTICATED (16) /
   * PERMISSION_DENIED (7), an illegal access point, an endpoint that is no RocketMQ 5 proxy — ends connect() at
   * once with that error instead of UNAVAILABLE at the deadline.
   */
  private async connectOnce(signal: AbortSignal): Promise<void> {
    this.healthState.set('connecting');
    // A producer without topics starts without touching the network; routes are fetched per topic on use.
    const producer = new Producer({
      endpoints: this.options.endpoints,
      namespace: this.options.namespace,
      // Core owns re-sends (with the same message id); the client must not retry behind its back.
      maxAttempts: 1,
      requestTimeout: this.options.requestTimeoutMs,
      logger: this.clientLogger,
      ...this.clientSecurity(),
    });
    this.secured(producer);
    guardTelemetry(producer);
    this.producer = producer;
    await producer.startup();
    let last: LosslessError | undefined;
    // Asked once per connect, on the first unreachable answer without `tls` (see tls-probe.ts).
    let askedTls = false;
    for (;;) {
      if (signal.aborted) {
        throw new LosslessError(
          ErrorCode.UNAVAILABLE,
          `rocketmq: the proxy at ${this.options.endpoints} cannot be reached` +
            (last ? `: ${last.message}` : ' (gave up before the first answer)'),
          { broker: 'rocketmq', cause: last ?? signal.reason },
        );
      }
      const outcome = await this.probe(Math.min(this.options.requestTimeoutMs, 3_000));
      if (outcome === undefined) break;
      if (REFUSALS.has(outcome.code) && !outcome.retriable) throw outcome;
      if (outcome.code === ErrorCode.UNAVAILABLE && !this.channelCredentials && !askedTls) {
        askedTls = true;
        const [host, port] = firstHostPort(this.options.endpoints);
        // A proxy in its default tlsTestModeEnable takes TLS and plaintext on one port: then TLS is not the problem.
        if (
          !(await speaksCleartextHttp2(host, port, TLS_PROBE_MS)) &&
          (await speaksTls(host, port, TLS_PROBE_MS))
        ) {
          throw new LosslessError(
            ErrorCode.INVALID_ARGUMENT,
            `rocketmq: the proxy at ${this.options.endpoints} speaks TLS and this driver does not: give the ` +
              '`tls` option (e.g. `tls: {}` for a certificate from a public CA)',
            { broker: 'rocketmq', cause: outcome },
          );
        }
      }
      last = outcome;
      await abortableDelay(250, signal);
    }
    this.everConnected = true;
    this.healthState.connected();
    this.probeTimer = setInterval(() => void this.tick(), PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  /**
   * One route query for a topic that does not exist: undefined when the proxy answered (no such topic, or, for a
   * user without rights on it, FORBIDDEN), else the error.
   */
  private async probe(timeoutMs: number): Promise<LosslessError | undefined> {
    try {
      await this.queryRoute(PROBE_TOPIC, timeoutMs);
      return undefined;
    } catch (error) {
      if (refusedOnlyByAcl(error)) return undefined;
      const e = this.classify(error) ?? internal('route query failed', error);
      return e.code === ErrorCode.NOT_FOUND ? undefined : e;
    }
  }

  /** What every Producer and SimpleConsumer gets: TLS and the ACL credentials. */
  private clientSecurity(): {
    sslEnabled?: true;
    sessionCredentials?: { accessKey: string; accessSecret: string; securityToken?: string };
  } {
    const auth = this.options.auth;
    return {
      ...(this.channelCredentials ? { sslEnabled: true } : {}),
      ...(auth
        ? {
            sessionCredentials: {
              accessKey: auth.accessKey,
              accessSecret: auth.secretKey,
              ...(auth.securityToken === undefined ? {} : { securityToken: auth.securityToken }),
            },
          }
        : {}),
    };
  }

  /** Points a new client's channels at the driver's TLS credentials (see tls-channel.ts). */
  private secured<C extends Producer | SimpleConsumer>(client: C): C {
    return this.channelCredentials ? secureChannels(client, this.channelCredentials) : client;
  }

  private async tick(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      const error = await this.probe(Math.min(this.options.requestTimeoutMs, 3_000));
      if (error) this.reportError(error);
      else this.reportOk();
    } finally {
      this.probing = false;
    }
  }

  /** @internal An operation reached the proxy. */
  reportOk(): void {
    if (!this.closed && this.everConnected) this.healthState.connected();
  }

  /** @internal An operation failed; UNAVAILABLE means the proxy is not reachable right now. */
  reportError(error: LosslessError): void {
    if (!this.closed && this.everConnected && error.code === ErrorCode.UNAVAILABLE) {
      this.healthState.set('disconnected', error.message);
    }
  }

  /** @internal */
  warn(message: string, meta?: Record<string, unknown>): void {
    this.logger.warn(`rocketmq: ${message}`, meta);
  }

  health(): Health {
    return this.healthState.snapshot();
  }

  classify(error: unknown): LosslessError | undefined {
    return this.secrets.scrub(classifyNative(error));
  }

  private requireOpen(): Producer {
    if (this.closed) {
      throw new LosslessError(
        ErrorCode.CLOSED,
        'the rocketmq driver is closed: create a new one to continue',
        {
          broker: 'rocketmq',
        },
      );
    }
    if (!this.producer) {
      throw new LosslessError(ErrorCode.UNAVAILABLE, 'the rocketmq driver is not connected: call connect()', {
        broker: 'rocketmq',
      });
    }
    return this.producer;
  }

  /** The proxy's route of a topic (its message queues); throws the client's exception for a non-OK status. */
  private async queryRoute(topic: string, timeoutMs = this.options.requestTimeoutMs) {
    const producer = this.requireOpen();
    const request = new servicePb.QueryRouteRequest()
      .setTopic(new definitionPb.Resource().setName(topic).setResourceNamespace(this.options.namespace))
      .setEndpoints(producer.getEndpoints().toProtobuf());
    const response = await producer
      .getRpcClientManager()
      .queryRoute(producer.getEndpoints(), request, timeoutMs);
    StatusChecker.check(response.getStatus()?.toObject());
    return response.getMessageQueuesList();
  }

  /** Whether the topic is FIFO (its queues accept FIFO messages), from the proxy's route. Cached per topic. */
  private topicIsFifo(topic: string): Promise<boolean> {
    let kind = this.topicKinds.get(topic);
    if (!kind) {
      kind = this.queryRoute(topic).then((queues) => {
        this.knownTopics.add(topic);
        return queues.some((q) => q.getAcceptMessageTypesList().includes(definitionPb.MessageType.FIFO));
      });
      this.topicKinds.set(topic, kind);
      kind.catch(() => this.topicKinds.delete(topic));
    }
    return kind;
  }

  // --- topology --------------------------------------------------------------------------------------------

  async declare(topology: NormalizedTopology): Promise<void> {
    this.requireOpen();
    const declared = new Map<string, NormalizedTopic>();
    await Promise.all(
      topology.topics.map(async (t) => {
        await this.declareTopic(t);
        declared.set(t.name, t);
      }),
    );
    await Promise.all(topology.subscriptions.map((s) => this.declareSubscription(s, declared.get(s.topic))));
  }

  private async declareTopic(t: NormalizedTopic): Promise<void> {
    const messageType = t.ordering === 'key' ? 'FIFO' : 'NORMAL';
    const existing = await this.admin.topicInfo(t.name);
    if (existing) {
      const conflicts: string[] = [];
      if (existing.messageType !== messageType) {
        conflicts.push(`message.type ${existing.messageType} (declared: ${messageType})`);
      }
      if (t.partitions !== undefined && existing.queues !== t.partitions) {
        conflicts.push(`${existing.queues} queues (declared: ${t.partitions})`);
      }
      if (conflicts.length > 0) {
        throw new LosslessError(
          ErrorCode.CONFLICT,
          `topic '${t.name}' exists with ${conflicts.join(' and ')}: declare it as it is, or use another topic`,
          { broker: 'rocketmq', topic: t.name },
        );
      }
    } else {
      await this.admin.createTopic(t.name, { messageType, queues: t.partitions ?? DEFAULT_QUEUES });
    }
    this.topicKinds.delete(t.name);
    await this.waitForRoute(t.name);
    this.knownTopics.add(t.name);
    this.declaredTopics.set(t.name, t);
  }

  /**
   * On a replicated group (`replicated: true`): a send to a topic declared through this driver was answered "not
   * found". If the masters no longer have the topic — a failover promoted a slave that never had it — the topic
   * and the groups of its subscriptions declared here are created again (what a declare() would do; a group that
   * still exists keeps its offsets). The send itself is retried by core until its confirm deadline.
   */
  private healTopology(topic: string): void {
    const declared = this.declaredTopics.get(topic);
    if (!this.options.replicated || !declared || this.healing.has(topic) || this.closed) return;
    const run = (async () => {
      if (await this.admin.topicInfo(topic)) return;
      this.logger.warn(
        `rocketmq: topic '${topic}' is gone from the broker group's master (a failover promoted a broker that ` +
          'never had it); declaring it and its subscriptions again',
        { topic },
      );
      await this.admin.createTopic(topic, {
        messageType: declared.ordering === 'key' ? 'FIFO' : 'NORMAL',
        queues: declared.partitions ?? DEFAULT_QUEUES,
      });
      for (const [group, s] of this.declaredSubscriptions) {
        if (s.topic !== topic || (await this.admin.groupInfo(group))) continue;
        await this.admin.createGroup(group, {
          retryMaxTimes: s.maxDeliveries,
          fifo: declared.ordering === 'key',
        });
      }
      this.topicKinds.delete(topic);
    })()
      .catch((error: unknown) =>
        this.logger.warn(`rocketmq: declaring '${topic}' again failed; the next failed send tries again`, {
          topic,
          error: error instanceof Error ? error.message : String(error),
        }),
      )
      .finally(() => this.healing.delete(topic));
    this.healing.set(topic, run);
  }

  /** Waits until the proxy routes the topic (it caches routes, including "no such topic"). */
  private async waitForRoute(topic: string): Promise<void> {
    const deadline = Date.now() + ROUTE_WAIT_MS;
    for (;;) {
      try {
        await this.queryRoute(topic);
        return;
      } catch (error) {
        const e = this.classify(error) ?? internal('route query failed', error);
        if (e.code !== ErrorCode.NOT_FOUND && !e.retriable) throw e;
        if (Date.now() > deadline) {
          throw new LosslessError(
            ErrorCode.UNAVAILABLE,
            `topic '${topic}' exists on the broker but the proxy did not route it within ${ROUTE_WAIT_MS} ms`,
            { broker: 'rocketmq', topic, cause: e },
          );
        }
      }
      await abortableDelay(100, this.closeSignal.signal);
    }
  }

  private async declareSubscription(
    s: NormalizedSubscription,
    topic: NormalizedTopic | undefined,
  ): Promise<void> {
    let fifo: boolean;
    if (topic) fifo = topic.ordering === 'key';
    else {
      const info: TopicInfo | undefined = await this.admin.topicInfo(s.topic);
      if (!info) {
        throw new LosslessError(
          ErrorCode.NOT_FOUND,
          `subscription '${s.name}' names topic '${s.topic}', which does not exist: declare the topic first`,
          { broker: 'rocketmq', topic: s.topic, subscription: s.name },
        );
      }
      fifo = info.messageType === 'FIFO';
    }
    const group = consumerGroupName(s.topic, s.name);
    // The broker moves a message to %DLQ%<group> after retryMaxTimes + 1 deliveries. Core dead-letters at
    // maxDeliveries itself; one spare delivery keeps the broker's move a backstop for messages whose consumers
    // died while holding them, never a race with core.
    const retryMaxTimes = s.maxDeliveries;
    const existing = await this.admin.groupInfo(group);
    if (existing) {
      if (existing.retryMaxTimes !== retryMaxTimes || existing.fifo !== fifo) {
        throw new LosslessError(
          ErrorCode.CONFLICT,
          `subscription '${s.name}' of '${s.topic}' exists as group '${group}' with retryMaxTimes ` +
            `${existing.retryMaxTimes} (maxDeliveries ${existing.retryMaxTimes}) and orderly ${existing.fifo}; ` +
            `declared: maxDeliveries ${s.maxDeliveries}, orderly ${fifo}`,
          { broker: 'rocketmq', topic: s.topic, subscription: s.name },
        );
      }
    } else {
      await this.admin.createGroup(group, { retryMaxTimes, fifo });
    }
    await this.admin.initGroupOffsets(group, s.topic);
    this.declaredSubscriptions.set(group, s);
    if (s.deadLetter) await this.ensureDeadLetters(s);
  }

  /** Creates the dead-letter topic of a subscription and the group that reads it, if missing. */
  private async ensureDeadLetters(s: NormalizedSubscription): Promise<void> {
    const topic = deadLetterTopicName(s.topic, s.name);
    const group = deadLetterGroupName(s.topic, s.name);
    if (!(await this.admin.topicInfo(topic))) {
      await this.admin.createTopic(topic, { messageType: 'NORMAL', queues: DEAD_LETTER_QUEUES });
    }
    if (!(await this.admin.groupInfo(group))) await this.admin.createGroup(group, { retryMaxTimes: 16 });
    await this.admin.initGroupOffsets(group, topic);
    await this.waitForRoute(topic);
  }

  // --- publish ---------------------------------------------------------------------------------------------

  send(topic: string, records: readonly MessageRecord[], progress?: SendProgress): Promise<SendOutcome[]> {
    const producer = this.requireOpen();
    const fifo = this.topicIsFifo(topic);
    // Each record is its own send: its outcome is reported as it comes, not when the batch's slowest does.
    const one = (record: MessageRecord, index: number) =>
      this.sendOne(producer, topic, record, fifo).then((outcome) => {
        progress?.(index, outcome);
        return outcome;
      });
    // Chains are registered synchronously, in call order, so one key's sends stay in publish order across calls.
    return Promise.all(
      records.map((record, index) => {
        if (record.key === undefined) return one(record, index);
        const chainKey = `${topic}\u0000${record.key}`;
        const previous = this.keyTails.get(chainKey);
        const run = (previous ?? Promise.resolve()).then(() => one(record, index));
        this.keyTails.set(chainKey, run);
        void run.finally(() => {
          if (this.keyTails.get(chainKey) === run) this.keyTails.delete(chainKey);
        });
        return run;
      }),
    );
  }

  private async sendOne(
    producer: Producer,
    topic: string,
    record: MessageRecord,
    fifoKind: Promise<boolean>,
  ): Promise<SendOutcome> {
    try {
      const fifo = await fifoKind;
      const receipt = await producer.send(toRocketMessage(topic, record, fifo));
      this.reportOk();
      return { ok: true, details: { messageId: receipt.messageId, offset: Number(receipt.offset) } };
    } catch (thrown) {
      let error =
        classifyNative(thrown, { topic, messageId: record.id }) ??
        internal(`send to '${topic}' failed`, thrown);
      if (this.knownTopics.has(topic)) error = whileBrokerRestarts(error, topic, record.id);
      if (error.code === ErrorCode.NOT_FOUND) this.healTopology(topic);
      this.reportError(error);
      // A topic deleted or re-created with another message.type: ask the proxy again next time.
      if (error.code === ErrorCode.NOT_FOUND || error.code === ErrorCode.CONFLICT)
        this.topicKinds.delete(topic);
      return { ok: false, error };
    }
  }

  /** @internal Stores a dead-letter copy on the subscription's dead-letter topic (SEND_OK or throw). */
  async sendDeadLetter(
    spec: NormalizedSubscription,
    message: DecodedMessage,
    extra: Record<string, string>,
  ): Promise<void> {
    const producer = this.requireOpen();
    const topic = deadLetterTopicName(spec.topic, spec.name);
    await producer.send(toRocketMessage(topic, recordOf(message), false, extra));
  }

  // --- consume ---------------------------------------------------------------------------------------------

  async subscribe(options: DriverSubscribeOptions, sink: DeliverySink): Promise<DriverSubscription> {
    this.requireOpen();
    const spec = options.subscription;
    const context = { broker: 'rocketmq', topic: spec.topic, subscription: spec.name };
    const mainGroup = consumerGroupName(spec.topic, spec.name);
    if (!(await this.admin.groupInfo(mainGroup))) {
      throw new LosslessError(
        ErrorCode.NOT_FOUND,
        `subscription '${spec.name}' of topic '${spec.topic}' does not exist (no group '${mainGroup}'): declare it first`,
        context,
      );
    }
    if (spec.deadLetter || options.deadLetters) await this.ensureDeadLetters(spec);
    const group = options.deadLetters ? deadLetterGroupName(spec.topic, spec.name) : mainGroup;
    const topic = options.deadLetters ? deadLetterTopicName(spec.topic, spec.name) : spec.topic;
    const consumer = await this.startConsumer(group, topic, context);
    const subscription: RocketMqSubscription = new RocketMqSubscription(
      this,
      consumer,
      spec,
      options.deadLetters,
      options.prefetch,
      sink,
      () => this.subscriptions.delete(subscription),
    );
    this.subscriptions.add(subscription);
    subscription.start();
    return subscription;
  }

  /**
   * Starts a SimpleConsumer. Right after a proxy restart, grpc-js may still be backing off its reconnect (channels
   * to one address share a connection), so startup fails with gRPC UNAVAILABLE for a while: retry those.
   */
  private async startConsumer(
    group: string,
    topic: string,
    context: { topic: string; subscription: string },
  ): Promise<SimpleConsumer> {
    const deadline = Date.now() + CONSUMER_START_WAIT_MS;
    for (let retry = 1; ; retry++) {
      const consumer = new SimpleConsumer({
        endpoints: this.options.endpoints,
        namespace: this.options.namespace,
        consumerGroup: group,
        subscriptions: new Map([[topic, '*']]),
        awaitDuration: this.options.awaitDurationMs,
        requestTimeout: this.options.requestTimeoutMs,
        logger: this.clientLogger,
        ...this.clientSecurity(),
      });
      this.secured(consumer);
      guardTelemetry(consumer);
      try {
        await consumer.startup();
        this.reportOk();
        return consumer;
      } catch (thrown) {
        await consumer.shutdown().catch(() => undefined);
        const error =
          classifyNative(thrown, context) ??
          internal(`starting a consumer of group '${group}' failed`, thrown);
        this.reportError(error);
        if (!error.retriable || Date.now() > deadline || this.closed) throw error;
        await retryPause(retry, this.closeSignal.signal);
      }
    }
  }

  // --- close -----------------------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeSignal.abort();
    if (this.probeTimer) clearInterval(this.probeTimer);
    await Promise.allSettled([...this.subscriptions].map((s) => s.close()));
    const producer = this.producer;
    this.producer = undefined;
    await producer?.shutdown().catch(() => undefined);
    this.healthState.close();
  }
}

function internal(what: string, cause: unknown): LosslessError {
  return new LosslessError(
    ErrorCode.INTERNAL,
    `rocketmq: ${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { broker: 'rocketmq', cause, retriable: false },
  );
}

/**
 * A driver for RocketMQ 5 through its gRPC proxy. Use it with `connect(rocketmq({ endpoints, namesrv }))` from
 * `@lossless/core`. Throws INVALID_ARGUMENT for bad options; connects only in connect().
 */
export function rocketmq(options: RocketMqDriverOptions): RocketMqDriver {
  return new RocketMqDriverImpl(options);
}
