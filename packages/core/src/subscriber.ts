// Consume: the driver hands deliveries to a subscription; core runs the handler with at most `concurrency`
// at once (one at a time per key with ordering), settles each delivery exactly once — ack only after the
// handler resolved; on a throw, redelivery after a backoff, or the dead-letter destination once the
// subscription's maxDeliveries is reached — and on close stops fetching, lets running handlers finish within a
// deadline and leaves everything else to be redelivered.
import {
  abortableDelay,
  BACKOFF_SHAPE,
  type BackoffPolicy,
  backoffDelay,
  mergeBackoff,
  TIMER_MAX_MS,
  unlimitedAbortController,
} from './backoff.js';
import type { Driver, DriverDelivery, DriverSubscription } from './driver/driver.js';
import { describeError, ErrorCode, isLosslessError, LosslessError, toLosslessError } from './errors.js';
import type { Logger } from './logger.js';
import { decodeJson, decodeText } from './message.js';
import type { ProcessRun, Telemetry } from './telemetry.js';
import type { NormalizedSubscription } from './topology.js';
import type { OptionShape } from './validate.js';

/** A message as the handler sees it. */
export interface Delivery {
  readonly id: string;
  readonly topic: string;
  readonly subscription: string;
  readonly key: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  readonly timestamp: number;
  /** 1 on the first delivery; +1 on each redelivery, on every broker. */
  readonly attempt: number;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  /**
   * Acks now, before the handler returns (rarely needed: returning acks). Idempotent: the first settlement of a
   * delivery wins, later ack/nack calls do nothing.
   */
  ack(): Promise<void>;
  /** Asks for redelivery now, as a throw would. Idempotent like ack(). */
  nack(reason?: unknown): Promise<void>;
}

export interface HandlerContext {
  /** Aborted when the subscription's shutdown deadline passes: stop work that can be stopped. */
  signal: AbortSignal;
}

/** Resolve to ack. Throw (or reject) to have the message delivered again. */
export type Handler = (delivery: Delivery, context: HandlerContext) => unknown;

export interface SubscribeOptions {
  /** Handlers running at once, never exceeded. Default 8. */
  concurrency?: number;
  /** Unsettled deliveries the broker may hand out (RabbitMQ prefetch). Default: concurrency. */
  prefetch?: number;
  /**
   * 'key': messages of one key are handled one at a time, in order, even with concurrency > 1. A failing message
   * then blocks its key: it is retried in place (attempt + 1 after the backoff) until it succeeds or reaches
   * maxDeliveries and is dead-lettered. Default 'none'.
   */
  ordering?: 'none' | 'key';
  /** Delay before a failed message is delivered again. Default 100 ms doubling to 30 s, jittered. */
  redeliveryBackoff?: Partial<BackoffPolicy>;
  /** How long close() waits for running handlers, ms. Default 30,000. */
  shutdownTimeoutMs?: number;
  /** Read the subscription's dead-letter destination instead of its live messages. */
  deadLetters?: boolean;
  /** Called for errors that have no caller to go to (an ack the broker refused, a handler failure). */
  onError?: (error: LosslessError, delivery: Delivery | undefined) => void;
}

/** What subscribe() accepts (Bus.subscribe adds maxDeliveries and deadLetter); see checkOptions. */
export const SUBSCRIBE_SHAPE: OptionShape = {
  concurrency: { type: 'integer', min: 1, max: 10_000 },
  prefetch: { type: 'integer', min: 1, max: 65_535 },
  ordering: { type: 'enum', values: ['none', 'key'] },
  redeliveryBackoff: { type: 'object', shape: BACKOFF_SHAPE },
  shutdownTimeoutMs: { type: 'integer', min: 0, max: TIMER_MAX_MS },
  deadLetters: { type: 'boolean' },
  onError: { type: 'function' },
};

/** SubscribeOptions checked and with every default filled in: what a Subscription runs with (Bus.subscribe makes it). */
export interface ResolvedSubscribeOptions {
  readonly concurrency: number;
  readonly prefetch: number;
  /** ordering === 'key'. */
  readonly ordered: boolean;
  readonly redeliveryBackoff: BackoffPolicy;
  readonly shutdownTimeoutMs: number;
  readonly deadLetters: boolean;
  readonly onError: SubscribeOptions['onError'];
}

/**
 * Fills in every default of checked subscribe options (checkOptions with SUBSCRIBE_SHAPE ran first): the one
 * place they are defaulted; a Subscription reads no option itself.
 */
export function resolveSubscribeOptions(options: SubscribeOptions): ResolvedSubscribeOptions {
  const concurrency = options.concurrency ?? 8;
  return {
    concurrency,
    prefetch: options.prefetch ?? concurrency,
    ordered: options.ordering === 'key',
    redeliveryBackoff: mergeBackoff(
      'subscribe(): redeliveryBackoff',
      DEFAULT_REDELIVERY_BACKOFF,
      options.redeliveryBackoff,
    ),
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 30_000,
    deadLetters: options.deadLetters ?? false,
    onError: options.onError,
  };
}

export interface SubscriptionStats {
  /** Handlers running now. */
  running: number;
  /** The most handlers that ever ran at once. */
  maxRunning: number;
  acked: number;
  redelivered: number;
  deadLettered: number;
}

export const DEFAULT_REDELIVERY_BACKOFF: BackoffPolicy = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 'full',
};

type Settlement = 'ack' | 'nack' | 'dead-letter';

/** One delivery and its once-only settlement. */
class Tracked implements Delivery {
  readonly topic: string;
  readonly subscription: string;
  private settlement: Promise<void> | undefined;
  /** Local retries in ordered mode, on top of the broker's attempt count. */
  localRetries = 0;
  private ownHeaders: Readonly<Record<string, string>> | undefined = undefined;
  /** The span of the handler run in progress, with telemetry on. */
  process: ProcessRun | undefined = undefined;

  constructor(
    readonly raw: DriverDelivery,
    private readonly owner: Subscription,
  ) {
    this.topic = owner.topic;
    this.subscription = owner.name;
  }
  get id() {
    return this.raw.id;
  }
  get key() {
    return this.raw.key;
  }
  get headers(): Readonly<Record<string, string>> {
    // Prototype-free, made on first read: `headers.constructor` is undefined, as for any absent header.
    this.ownHeaders ??= prototypeFree(this.raw.headers);
    return this.ownHeaders;
  }
  get body() {
    return this.raw.body;
  }
  get timestamp() {
    return this.raw.timestamp;
  }
  get attempt() {
    return this.raw.attempt + this.localRetries;
  }
  get settled(): boolean {
    return this.settlement !== undefined;
  }
  text(): string {
    return decodeText(this.raw.body);
  }
  json<T = unknown>(): T {
    return decodeJson<T>(this.raw.body);
  }
  ack(): Promise<void> {
    return this.settle('ack');
  }
  nack(reason?: unknown): Promise<void> {
    return this.settle('nack', reason);
  }
  /** The first call decides; later calls return the first call's promise. Never rejects. */
  settle(how: Settlement, reason?: unknown): Promise<void> {
    this.settlement ??= this.owner.apply(this, how, reason);
    return this.settlement;
  }
}

export class Subscription {
  readonly stats: SubscriptionStats = {
    running: 0,
    maxRunning: 0,
    acked: 0,
    redelivered: 0,
    deadLettered: 0,
  };
  private readonly concurrency: number;
  private readonly ordered: boolean;
  private readonly backoff: BackoffPolicy;
  private readonly ready: Tracked[] = [];
  /** Ordered mode: deliveries waiting behind a running one of the same key. */
  private readonly keyQueues = new Map<string, Tracked[]>();
  private readonly running = new Set<Promise<void>>();
  private readonly delayed = new Map<Tracked, NodeJS.Timeout>();
  /** Shared by every handler of the subscription: any number of them may listen. */
  private readonly abort = unlimitedAbortController();
  private driverSub: DriverSubscription | undefined;
  /** Stops reporting this subscription's backlog (telemetry's lag gauge). */
  private stopLag: (() => void) | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;

  /** @internal Made by Bus.subscribe, which resolves the options. */
  constructor(
    private readonly driver: Driver,
    readonly topic: string,
    private readonly spec: NormalizedSubscription,
    private readonly handler: Handler,
    private readonly options: ResolvedSubscribeOptions,
    private readonly logger: Logger,
    private readonly onClosed: () => void,
    private readonly telemetry?: Telemetry,
  ) {
    this.concurrency = options.concurrency;
    this.ordered = options.ordered;
    this.backoff = options.redeliveryBackoff;
  }

  get name(): string {
    return this.spec.name;
  }

  /** @internal Started by Bus.subscribe. */
  async start(): Promise<void> {
    this.driverSub = await this.driver.subscribe(
      {
        subscription: this.spec,
        deadLetters: this.options.deadLetters,
        prefetch: this.options.prefetch,
        keyOrdering: this.ordered,
      },
      (raw) => this.onDelivery(new Tracked(raw, this)),
    );
    const driverSub = this.driverSub;
    if (this.telemetry && typeof driverSub.backlog === 'function') {
      this.stopLag = this.telemetry.observeLag(this.topic, this.spec.name, this.options.deadLetters, () =>
        Promise.resolve()
          .then(() => driverSub.backlog?.())
          .catch(() => undefined),
      );
    }
  }

  private onDelivery(d: Tracked): void {
    // After stop(), a straggler is left unsettled: close() returns it to the broker for redelivery.
    if (this.stopping) return;
    this.telemetry?.delivered(this.topic, this.spec.name);
    if (this.ordered && d.key !== undefined) {
      const waiting = this.keyQueues.get(d.key);
      if (waiting) {
        waiting.push(d);
        return;
      }
      this.keyQueues.set(d.key, []);
    }
    this.ready.push(d);
    this.pump();
  }

  private pump(): void {
    while (!this.stopping && this.stats.running < this.concurrency) {
      const d = this.ready.shift();
      if (d === undefined) return;
      this.stats.running++;
      if (this.stats.running > this.stats.maxRunning) this.stats.maxRunning = this.stats.running;
      // One reaction for both outcomes (run() does not throw; the rejection handler is the last guard): a
      // delivery's promises are most of core's cost per message on a fast broker.
      const done = () => {
        this.running.delete(run);
        this.stats.running--;
        this.pump();
      };
      const run: Promise<void> = this.run(d).then(done, (error: unknown) => {
        this.report(error, d);
        done();
      });
      this.running.add(run);
    }
  }

  private async run(d: Tracked): Promise<void> {
    for (;;) {
      let failure: unknown;
      let failed = false;
      const telemetry = this.telemetry;
      const traced = telemetry?.startProcess(d, this.options.deadLetters);
      d.process = traced;
      try {
        const context = { signal: this.abort.signal };
        await (traced && telemetry
          ? telemetry.within(traced.context, () => this.handler(d, context))
          : this.handler(d, context));
      } catch (error) {
        failure = error;
        failed = true;
      }
      if (!failed) {
        await d.settle('ack');
        traced?.end();
        break;
      }
      traced?.end({ error: failure });
      if (d.settled) break; // the handler settled it itself before throwing
      // Inside the run's span, so that the report (onError, or core's log line) carries its trace id.
      if (traced && telemetry) telemetry.within(traced.context, () => this.report(failure, d));
      else this.report(failure, d);
      if (this.ordered && d.key !== undefined && d.attempt < this.spec.maxDeliveries && !this.stopping) {
        // Keep the key blocked: retry in place so that later messages of the key wait for this one.
        await this.sleep(backoffDelay(this.backoff, d.attempt));
        if (this.stopping) break; // unsettled: redelivered after close
        d.localRetries++;
        continue;
      }
      await d.settle('nack', failure);
      break;
    }
    this.releaseKey(d);
  }

  private releaseKey(d: Tracked): void {
    if (!this.ordered || d.key === undefined) return;
    const waiting = this.keyQueues.get(d.key);
    const next = waiting?.shift();
    if (next) this.ready.push(next);
    else this.keyQueues.delete(d.key);
  }

  private sleep(ms: number): Promise<void> {
    return abortableDelay(ms, this.abort.signal);
  }

  /** @internal The one place a delivery is settled. Never rejects: failures go to onError. */
  async apply(d: Tracked, how: Settlement, reason?: unknown): Promise<void> {
    const error = describeFailure(reason);
    try {
      if (how === 'ack') {
        await d.raw.ack();
        this.stats.acked++;
        this.telemetry?.settled(d, 'ack', d.process?.context);
      } else if (how === 'dead-letter' || d.attempt >= this.spec.maxDeliveries) {
        await d.raw.deadLetter({ error });
        this.stats.deadLettered++;
        this.telemetry?.settled(d, 'dead_letter', d.process?.context);
      } else {
        const delayMs = backoffDelay(this.backoff, d.attempt);
        if (this.driver.capabilities.nativeRedeliveryDelay || this.stopping) {
          await d.raw.nack({ delayMs: this.stopping ? 0 : delayMs, error });
        } else {
          await this.holdThenNack(d, delayMs, error);
        }
        this.stats.redelivered++;
        this.telemetry?.settled(d, 'nack', d.process?.context);
      }
    } catch (thrown) {
      // STALE_DELIVERY and friends: the broker will redeliver; the report says so.
      this.report(
        toLosslessError(thrown, (e) => this.driver.classify(e), this.driver.name),
        d,
      );
    }
  }

  /** For brokers without delayed redelivery: keep the message (unacked) for the delay, then nack it. */
  private holdThenNack(d: Tracked, delayMs: number, error: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const fire = () => {
        this.delayed.delete(d);
        d.raw.nack({ delayMs: 0, error }).then(resolve, reject);
      };
      const timer = setTimeout(fire, delayMs);
      this.delayed.set(d, timer);
      // close() fires pending nacks at once; keep the fire function reachable through the timer map.
      (timer as NodeJS.Timeout & { fire?: () => void }).fire = fire;
    });
  }

  /** Hands an error to onError (or the logger). Never throws, whatever was thrown and whatever onError does. */
  private report(error: unknown, d: Tracked | undefined): void {
    const e = isLosslessError(error)
      ? error
      : new LosslessError(ErrorCode.INTERNAL, `handler failed: ${describeFailure(error)}`, {
          cause: error,
          topic: this.topic,
          subscription: this.name,
          ...(d ? { messageId: d.id } : {}),
        });
    const onError = this.options.onError;
    if (onError) {
      try {
        const returned: unknown = onError(e, d);
        // An async onError that rejects must not become an unhandled rejection.
        if (returned instanceof Promise) returned.catch(() => {});
        return;
      } catch (thrown) {
        this.logger.error(
          `subscription '${this.name}' on '${this.topic}': onError threw (${describeError(thrown)}) while reporting: ${e.message}`,
          { code: e.code },
        );
        return;
      }
    }
    this.logger.warn(`subscription '${this.name}' on '${this.topic}': ${e.message}`, { code: e.code });
  }

  /**
   * Stops fetching, waits for running handlers (up to shutdownTimeoutMs, then aborts their signal) and settles
   * what they finished, nacks deliveries held for a delayed redelivery, and returns everything unstarted or
   * unfinished to the broker for redelivery. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.stopping = true;
    this.stopLag?.();
    await this.driverSub?.stop();
    for (const [, timer] of this.delayed) {
      clearTimeout(timer);
      (timer as NodeJS.Timeout & { fire?: () => void }).fire?.();
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.shutdownTimeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.running]), deadline]);
    clearTimeout(timer);
    this.abort.abort(new LosslessError(ErrorCode.CLOSED, `subscription '${this.name}' is closing`));
    this.ready.length = 0;
    this.keyQueues.clear();
    await this.driverSub?.close();
    this.onClosed();
  }
}

function prototypeFree(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (Object.getPrototypeOf(headers) === null) return headers;
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, headers));
}

/** What failed, for the last-error header and reports; never throws, whatever the handler threw. */
function describeFailure(reason: unknown): string {
  return describeError(reason, 'nacked');
}
