// What every case gets: buses it may open (closed for it afterwards), unique names, the ledger helpers that
// publish and consume with exact accounting, a spy on the driver, and — when the kit runs the broker — the
// controls to kill and restart it.
import type { BrokerSettings } from '@lossless/brokers';
import {
  type Bus,
  type BusSubscribeOptions,
  type ConnectOptions,
  connect,
  type Delivery,
  type Handler,
  isLosslessError,
  type LosslessError,
  type OutgoingMessage,
  type Subscription,
  silentLogger,
  type Topology,
} from '@lossless/core';
import type { Capabilities, Driver, DriverDelivery } from '@lossless/core/driver';
import type {
  BrokerControl,
  ConformanceAdapter,
  DriverRequest,
  FaultyLink,
  SecurityRequest,
  SendFaults,
} from './adapter.js';
import { Ledger, type LedgerSummary } from './ledger.js';

/** A case failed: the message says what a user would have observed. */
export class ConformanceFailure extends Error {
  override readonly name = 'ConformanceFailure';
}

/** A case cannot run for this adapter; the reason goes into the report. */
export class CaseSkipped extends Error {
  override readonly name = 'CaseSkipped';
}

/** Skips the case with `reason` (a capability the adapter lacks) unless `condition` holds. */
export function skipUnless(condition: unknown, reason: string): asserts condition {
  if (!condition) throw new CaseSkipped(reason);
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConformanceFailure(message);
}

/** Returns `value`; when it is null or undefined, the case fails saying `what` was expected and is missing. */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === undefined || value === null) {
    throw new ConformanceFailure(`expected ${what}, but it is missing`);
  }
  return value;
}

/**
 * Waits for `event` at most `timeoutMs`; past that the case fails now, saying what it was waiting for — a case
 * never runs into the runner's global timeout because a driver stayed silent.
 */
export async function waitFor<T>(
  what: string | (() => string),
  event: Promise<T>,
  timeoutMs: number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      event,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const said = typeof what === 'string' ? what : what();
          reject(new ConformanceFailure(`waited ${timeoutMs} ms for ${said}, in vain`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function, for events a handler signals. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Expects `promise` to reject with a LosslessError of `code`; returns the error. */
export async function expectCode(
  promise: Promise<unknown>,
  code: string,
  what: string,
): Promise<LosslessError> {
  let outcome: unknown;
  try {
    await promise;
  } catch (error) {
    outcome = error;
  }
  check(outcome !== undefined, `${what}: expected a ${code} error, but it succeeded`);
  check(
    isLosslessError(outcome),
    `${what}: expected a LosslessError ${code}, got ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome)}`,
  );
  check(outcome.code === code, `${what}: expected ${code}, got ${outcome.code} (${outcome.message})`);
  return outcome;
}

export type { SendFaults } from './adapter.js';

/** Counts what core asks of the driver, for cases that check the driver was (not) used. */
export interface DriverSpy {
  sends: number;
  recordsSent: number;
  /** The most records one send carried. */
  largestBatch: number;
  /** Deliveries handed out and not yet settled, per subscribe call, and the most ever at once. */
  unsettled: number;
  maxUnsettled: number;
  prefetch: number;
}

function spy(driver: Driver): { driver: Driver; spy: DriverSpy } {
  const s: DriverSpy = {
    sends: 0,
    recordsSent: 0,
    largestBatch: 0,
    unsettled: 0,
    maxUnsettled: 0,
    prefetch: 0,
  };
  const wrapped: Driver = {
    name: driver.name,
    capabilities: driver.capabilities,
    connect: (signal) => driver.connect(signal),
    declare: (t) => driver.declare(t),
    send: (topic, records, progress) => {
      s.sends++;
      s.recordsSent += records.length;
      s.largestBatch = Math.max(s.largestBatch, records.length);
      return driver.send(topic, records, progress);
    },
    subscribe: (options, sink) => {
      s.prefetch = Math.max(s.prefetch, options.prefetch);
      return driver.subscribe(options, (d) => {
        s.unsettled++;
        s.maxUnsettled = Math.max(s.maxUnsettled, s.unsettled);
        let done = false;
        const settle =
          <A extends unknown[]>(f: (...a: A) => Promise<void>) =>
          (...a: A) => {
            if (!done) {
              done = true;
              s.unsettled--;
            }
            return f(...a);
          };
        const tracked: DriverDelivery = {
          id: d.id,
          key: d.key,
          headers: d.headers,
          body: d.body,
          timestamp: d.timestamp,
          attempt: d.attempt,
          ack: settle(() => d.ack()),
          nack: settle((o: { delayMs: number; error: string }) => d.nack(o)),
          deadLetter: settle((o: { error: string }) => d.deadLetter(o)),
        };
        sink(tracked);
      });
    },
    health: () => driver.health(),
    classify: (e) => driver.classify(e),
    close: () => driver.close(),
  };
  return { driver: wrapped, spy: s };
}

export interface PublishManyOptions {
  /** Concurrent callers, each awaiting its publish. Default 16. */
  callers?: number;
  /** Builds message i; its id is set by the ledger. */
  message?: (i: number) => Omit<OutgoingMessage, 'id'>;
  /** Stop early (e.g. a fault is being injected) — remaining messages are not attempted. */
  until?: () => boolean;
  /** Called after each confirm, with the count so far. */
  onConfirm?: (confirmed: number) => void;
  /** Called after each rejection, with the error. */
  onReject?: (error: unknown) => void;
}

export interface ConsumeOptions extends BusSubscribeOptions {
  /** Runs before the delivery counts as received; throw to fail it. */
  handler?: Handler;
}

let counter = 0;

/**
 * The request for a driver: on a secured fixture it always says who connects (the admin over verified TLS unless
 * the case asks otherwise), so an adapter never has to guess.
 */
export function driverRequest(
  settings: BrokerSettings | undefined,
  request: Omit<DriverRequest, 'settings'> = {},
): DriverRequest {
  const out: DriverRequest = { settings, ...request };
  if (settings?.security && !out.security) out.security = { user: 'admin' };
  return out;
}

export class CaseContext {
  readonly buses: Bus[] = [];
  readonly links: FaultyLink[] = [];
  readonly subscriptions: Subscription[] = [];
  readonly cleanups: (() => Promise<unknown>)[] = [];
  figures: Partial<LedgerSummary> = {};
  /** What the case observed beyond the counts (e.g. how a fault played out), for the report. */
  noted: string | undefined;
  readonly deliveryTimeoutMs: number;
  private readonly prefix: string;
  private batches = 0;

  constructor(
    readonly caseId: string,
    readonly adapter: ConformanceAdapter,
    readonly capabilities: Capabilities,
    readonly settings: BrokerSettings | undefined,
    readonly broker: BrokerControl | undefined,
  ) {
    this.deliveryTimeoutMs = adapter.deliveryTimeoutMs ?? 30_000;
    this.prefix = `lc-${caseId.toLowerCase()}-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}${(counter++).toString(36)}`;
  }

  /** Records what the case observed beyond lost / phantom / duplicates (shown in the report). */
  note(text: string): void {
    this.noted = text;
  }

  /** A name unique to this case and run (portable: letters, digits, '-'). */
  name(suffix: string): string {
    return `${this.prefix}-${suffix}`;
  }

  requireBroker(what: string): BrokerControl {
    skipUnless(this.capabilities.externalProcess, `${what}: the broker runs inside the test process`);
    skipUnless(
      this.broker,
      `${what}: the broker is not run by the kit here (external brokers cannot be killed)`,
    );
    return this.broker;
  }

  /** A name unique to this case and run that the secured fixture's limited user has rights on. */
  grantedName(suffix: string): string {
    return `${this.secured('the limited user').limitedPrefix}-${this.name(suffix)}`;
  }

  /** The secured fixture's settings, or a skip saying the case needs one (`--secure`). */
  secured(what: string): NonNullable<BrokerSettings['security']> {
    const security = this.settings?.security;
    skipUnless(
      security,
      `${what}: needs a broker that requires TLS and authentication (run the suite with --secure)`,
    );
    return security;
  }

  /** A fresh driver, as `security` asks on a secured fixture (default: the admin user over verified TLS). */
  async driver(request: Omit<DriverRequest, 'settings'> = {}): Promise<Driver> {
    return this.adapter.createDriver(driverRequest(this.settings, request));
  }

  /** Opens a bus on a fresh driver (spied); it is closed after the case. */
  async bus(
    options: ConnectOptions & { driver?: Driver; security?: SecurityRequest } = {},
  ): Promise<Bus & { spy: DriverSpy }> {
    const { driver: given, security, ...connectOptions } = options;
    const raw = given ?? (await this.driver(security ? { security } : {}));
    const { driver, spy: s } = spy(raw);
    const bus = await connect(driver, { logger: silentLogger, ...connectOptions });
    this.buses.push(bus);
    return Object.assign(bus, { spy: s });
  }

  /** waitFor() bounded by the adapter's delivery timeout unless told otherwise. */
  waitFor<T>(
    what: string | (() => string),
    event: Promise<T>,
    timeoutMs = this.deliveryTimeoutMs,
  ): Promise<T> {
    return waitFor(what, event, timeoutMs);
  }

  /** Waits until `condition` holds (checked every 20 ms), failing after `timeoutMs` with what it waited for. */
  async poll(what: string | (() => string), condition: () => boolean, timeoutMs = this.deliveryTimeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() >= deadline) {
        throw new ConformanceFailure(
          `waited ${timeoutMs} ms for ${typeof what === 'string' ? what : what()}, in vain`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The adapter's way to make the broker refuse one record, or a skip that says there is none. */
  sendFaults(): SendFaults {
    const faults = this.adapter.sendFaults;
    skipUnless(
      faults,
      'the adapter cannot make its broker refuse a single record of a batch (it offers no sendFaults hook), so ' +
        'per-record outcomes inside a batch are not proven here',
    );
    return faults;
  }

  /** A driver behind a network the case can cut; closed after the case. */
  async faultyLink(): Promise<FaultyLink> {
    const create = this.adapter.createFaultyLink;
    skipUnless(create, 'no way to cut the network to this broker (the adapter gives no faulty link)');
    const link = await create.call(this.adapter, this.settings);
    this.links.push(link);
    return link;
  }

  /** Declares one topic and the named subscriptions on it. */
  async topic(
    bus: Bus,
    suffix: string,
    subscriptions: string[],
    extra: { partitions?: number; maxDeliveries?: number; ordering?: 'none' | 'key' } = {},
  ): Promise<{ topic: string; subs: string[] }> {
    const topic = this.name(suffix);
    const topology: Topology = {
      topics: [
        {
          name: topic,
          ...(extra.partitions ? { partitions: extra.partitions } : {}),
          ...(extra.ordering ? { ordering: extra.ordering } : {}),
        },
      ],
      subscriptions: subscriptions.map((name) => ({
        name,
        topic,
        ...(extra.maxDeliveries ? { maxDeliveries: extra.maxDeliveries } : {}),
      })),
    };
    await bus.declare(topology);
    return { topic, subs: subscriptions };
  }

  /** Publishes `count` messages with unique ids and records each outcome in the ledger. */
  async publishMany(
    bus: Bus,
    topic: string,
    count: number,
    ledger: Ledger,
    options: PublishManyOptions = {},
  ) {
    let next = 0;
    const callers = Math.max(1, Math.min(options.callers ?? 16, count));
    const tag = this.name(`m${this.batches++}`);
    await Promise.all(
      Array.from({ length: callers }, async () => {
        for (;;) {
          if (options.until?.()) return;
          const i = next++;
          if (i >= count) return;
          const id = `${tag}-${i}`;
          ledger.attempt(id);
          const body = options.message?.(i) ?? { body: `message ${i}` };
          try {
            await bus.publish(topic, { ...body, id });
            ledger.confirm(id);
            options.onConfirm?.(ledger.confirmed.size);
          } catch (error) {
            ledger.reject(id, isLosslessError(error) ? error.code : 'NOT_A_LOSSLESS_ERROR');
            options.onReject?.(error);
          }
        }
      }),
    );
  }

  /** Subscribes and records every delivery in the ledger once the handler (if any) resolved. */
  async consume(bus: Bus, topic: string, subscription: string, ledger: Ledger, options: ConsumeOptions = {}) {
    const { handler, ...rest } = options;
    const sub = await bus.subscribe(
      topic,
      subscription,
      async (d: Delivery, c) => {
        if (handler) await handler(d, c);
        ledger.receive(d.id);
      },
      { concurrency: 16, ...rest },
    );
    this.subscriptions.push(sub);
    return sub;
  }

  /** Waits until every confirmed message was received (or the delivery timeout) and checks the ledger. */
  async expectAllDelivered(ledger: Ledger, options: { maxDuplicates?: number; what?: string } = {}) {
    await ledger.until(() => ledger.complete, this.deliveryTimeoutMs);
    this.checkLedger(ledger, options);
  }

  checkLedger(ledger: Ledger, options: { maxDuplicates?: number; what?: string } = {}) {
    const s = ledger.summary();
    this.figures = s;
    const what = options.what ? `${options.what}: ` : '';
    check(s.lost === 0, `${what}${s.lost} of ${s.confirmed} confirmed messages were never delivered (lost)`);
    check(s.phantom === 0, `${what}${s.phantom} delivered messages were never published (phantom)`);
    if (options.maxDuplicates !== undefined) {
      check(
        s.duplicates <= options.maxDuplicates,
        `${what}${s.duplicates} duplicate deliveries, more than the case's bound of ${options.maxDuplicates}`,
      );
    }
  }

  /**
   * Proves that nothing more arrives for `subscription`: publishes a sentinel and waits for it, and for every id
   * in `expect`. A broker that returns released messages ahead of later ones has shown everything once the
   * sentinel is in; for one that redelivers later (`redeliveryWindowMs`), the case also watches that long — a
   * window of time is the only evidence of an absence. Returns the ids that arrived, sentinel excluded.
   */
  async drainUntilSentinel(
    bus: Bus,
    topic: string,
    subscription: string,
    options: { expect?: readonly string[] } = {},
  ): Promise<string[]> {
    const sentinel = this.name('sentinel');
    const ledger = new Ledger();
    const seen: string[] = [];
    const started = Date.now();
    await bus.publish(topic, { id: sentinel, body: 'sentinel' });
    const sub = await this.consume(bus, topic, subscription, ledger, {
      concurrency: 1,
      handler: (d) => {
        if (d.id !== sentinel) seen.push(d.id);
      },
    });
    const expected = options.expect ?? [];
    await ledger.until(
      () => ledger.received.has(sentinel) && expected.every((id) => ledger.received.has(id)),
      this.deliveryTimeoutMs,
    );
    const window = this.adapter.redeliveryWindowMs ?? 0;
    const rest = started + window - Date.now();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    await sub.close();
    check(
      ledger.received.has(sentinel),
      `the sentinel published after the case never arrived on '${subscription}'`,
    );
    return seen; // the case's own checks say which expected id is missing, if one is
  }

  /** A consumer that dies without settling anything: its driver is closed under it, as in a crash. */
  async crash(bus: Bus): Promise<void> {
    await bus.driver.close();
  }

  async cleanup(): Promise<void> {
    const withTimeout = (p: Promise<unknown>) =>
      Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await Promise.all(this.subscriptions.map((s) => withTimeout(s.close())));
    await Promise.all(this.buses.map((b) => withTimeout(b.close())));
    await Promise.all(this.links.map((l) => withTimeout(l.close())));
    for (const c of this.cleanups) await withTimeout(c());
  }
}
