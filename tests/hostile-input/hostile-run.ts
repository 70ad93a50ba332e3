// The hostile-input property: drive the public API with generated junk — names, headers, bodies, ids, option
// objects, call orders including close — and assert after every run what a user must be able to rely on: no
// unhandled rejection, no synchronous throw from an async call, every call settled within a bound with a resolve
// or a typed LosslessError, every confirmed message delivered, and no secret in any error or log line. Used by
// the memory unit test and by the integration test against real RabbitMQ, Kafka and RocketMQ.
import { inspect } from 'node:util';
import { type Bus, connect, isLosslessError, type Logger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import fc from 'fast-check';

export interface HostileTarget {
  name: string;
  /** A fresh, unconnected driver of the adapter under test. */
  driver(): Driver;
  /**
   * The adapter's factory called with junk options (a recognisable `secret` planted in every string field
   * where a credential may go). Must throw or return a driver whose connect() rejects — never crash, never
   * show the secret.
   */
  factory?(junk: unknown): Driver;
  /**
   * Options for `factory` that a user might pass by mistake, each with `secret` in a credential field: a URL
   * that does not parse, a wrong password against the real broker, a misspelled credential key, an unreachable
   * address. The property also feeds it generated junk.
   */
  factoryInputs?: readonly unknown[];
  /** Planted in the junk given to `factory` and in header values; must appear in no error or log line. */
  secret: string;
  /** Every call must settle within this, ms (publishes use a confirm deadline below it). */
  settleBoundMs: number;
  /** How long a confirmed message may take to reach the collector, ms. */
  deliveryBoundMs: number;
}

export interface HostileSummary {
  runs: number;
  calls: number;
  resolved: number;
  rejected: Record<string, number>;
  confirmed: number;
  delivered: number;
  lost: number;
  unhandled: number;
  secretLeaks: number;
}

const COLLECTOR = 'collector';
const JUNK_SUB = 'junk-sub';

type Op =
  | { op: 'publish'; topic: unknown; message: unknown; options: unknown }
  | { op: 'publishBatch'; topic: unknown; messages: unknown; options: unknown }
  | { op: 'subscribe'; topic: unknown; subscription: unknown; handler: unknown; options: unknown }
  | { op: 'declare'; topology: unknown }
  | { op: 'flush' }
  | { op: 'health' }
  | { op: 'close' };

function arbitraries(secret: string, TOPIC: string) {
  const junk = fc.oneof(
    fc.anything({ maxDepth: 2, maxKeys: 4 }),
    fc.constant(Object.create(null)),
    fc.constant(Symbol('junk')),
    fc.constant(() => {}),
    fc.constant(Number.NaN),
    // Throws on every named property read and on key listing (symbols pass, so that test tools can print it).
    fc.constant(
      new Proxy(
        {},
        {
          get: (_t, k) => {
            if (typeof k === 'string') throw new Error('getter');
            return undefined;
          },
          ownKeys: () => {
            throw new Error('keys');
          },
        },
      ),
    ),
  );
  const name = fc.oneof(
    { weight: 4, arbitrary: fc.constant(TOPIC) },
    { weight: 2, arbitrary: fc.string({ maxLength: 120 }) },
    { weight: 1, arbitrary: fc.constantFrom('', 'a.b', 'x'.repeat(101), '%DLQ%x', '__proto__', 'ok-name') },
    { weight: 1, arbitrary: junk },
  );
  const headerName = fc.oneof(
    fc.string({ minLength: 1, maxLength: 12 }),
    fc.constantFrom(
      '__proto__',
      'constructor',
      'toString',
      'x-lossless-id',
      'X-Lossless-Attempt',
      '',
      'a:b',
      'a\nb',
    ),
  );
  const headerValue = fc.oneof(
    { weight: 5, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constant(secret) },
    { weight: 1, arbitrary: fc.constant('\u0000') },
    { weight: 1, arbitrary: junk },
  );
  const headers = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ maxLength: 40 }), {
        maxKeys: 4,
      }),
    },
    // Object.fromEntries defines `__proto__` as an own key, as JSON.parse does.
    {
      weight: 2,
      arbitrary: fc
        .array(fc.tuple(headerName, headerValue), { maxLength: 4 })
        .map((e) => Object.fromEntries(e)),
    },
    { weight: 1, arbitrary: junk },
  );
  const body = fc.oneof(
    { weight: 4, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 3, arbitrary: fc.string({ maxLength: 64 }) },
    { weight: 1, arbitrary: junk },
  );
  const goodMessage = fc.record(
    {
      body: fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.string({ maxLength: 64 })),
      key: fc.string({ minLength: 1, maxLength: 16 }),
      headers: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), fc.string({ maxLength: 40 }), {
        maxKeys: 4,
      }),
      timestamp: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    },
    { requiredKeys: ['body'] },
  );
  const message = fc.oneof(
    { weight: 4, arbitrary: goodMessage },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          body,
          id: fc.oneof(fc.string({ maxLength: 140 }), junk),
          key: fc.oneof(fc.string({ maxLength: 20 }), junk),
          headers,
          timestamp: fc.oneof(fc.integer(), fc.double(), junk),
          bodyy: fc.constant('typo'),
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: junk },
  );
  const signal = fc.oneof(
    fc.constant(undefined),
    fc.constant('signal'),
    fc.constant({ aborted: false }),
    fc.constant(null),
    fc.boolean().map((aborted) => {
      const c = new AbortController();
      if (aborted) c.abort(new Error('aborted by the property'));
      return c.signal;
    }),
  );
  const publishOptions = fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: fc.record({ signal }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.record({ signl: signal, timeoutMs: fc.integer() }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  );
  const number = fc.oneof(
    fc.integer({ min: -5, max: 70_000 }),
    fc.double(),
    fc.constantFrom(undefined, '8', Number.POSITIVE_INFINITY),
    junk,
  );
  const onError = fc.oneof(
    fc.constant(() => {
      throw Object.create(null);
    }),
    fc.constant(async () => {
      throw new Error('async onError');
    }),
    fc.constant(() => {}),
  );
  const subscribeOptions = fc.oneof(
    fc.constant(undefined),
    // Valid options that make failures come back fast, so junk handlers run many times per run.
    fc.record(
      {
        concurrency: fc.integer({ min: 1, max: 8 }),
        ordering: fc.constantFrom('none', 'key'),
        redeliveryBackoff: fc.constant({ initialDelayMs: 1, maxDelayMs: 5 }),
        shutdownTimeoutMs: fc.integer({ min: 0, max: 200 }),
        onError,
      },
      { requiredKeys: ['redeliveryBackoff'] },
    ),
    fc.record(
      {
        concurrency: number,
        prefetch: number,
        ordering: fc.oneof(fc.constantFrom('none', 'key', 'keys', undefined), junk),
        redeliveryBackoff: fc.oneof(
          fc.record(
            {
              initialDelayMs: number,
              maxDelayMs: number,
              factor: number,
              jitter: fc.constantFrom('full', 'none', 'half'),
            },
            { requiredKeys: [] },
          ),
          junk,
        ),
        shutdownTimeoutMs: number,
        deadLetters: fc.oneof(fc.boolean(), junk),
        onError: fc.oneof(
          fc.constant(() => {
            throw Object.create(null);
          }),
          fc.constant(async () => {
            throw new Error('async onError');
          }),
          junk,
        ),
        concurency: number,
      },
      { requiredKeys: [] },
    ),
    junk,
  );
  const handler = fc.oneof(
    fc.constant(() => {}),
    fc.constant(() => {
      throw Symbol('thrown');
    }),
    fc.constant(() => {
      throw Object.create(null);
    }),
    fc.constant(async () => {
      throw {
        toString() {
          throw new Error('no');
        },
      };
    }),
    fc.constant((d: { nack(): Promise<void> }) => d.nack()),
    junk,
  );
  const topology = fc.oneof(
    fc.record(
      {
        topics: fc.oneof(
          fc.array(
            fc.record(
              {
                name,
                partitions: number,
                ordering: fc.oneof(fc.constantFrom('none', 'key'), junk),
                partition: number,
              },
              { requiredKeys: [] },
            ),
            { maxLength: 2 },
          ),
          junk,
        ),
        subscriptions: fc.oneof(
          fc.array(
            fc.record(
              {
                name,
                topic: name,
                maxDeliveries: number,
                deadLetter: fc.oneof(fc.boolean(), junk),
                queueType: fc.oneof(fc.constantFrom('quorum', 'classic', 'stream'), junk),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 2 },
          ),
          junk,
        ),
      },
      { requiredKeys: [] },
    ),
    junk,
  );
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        op: fc.constant('publish' as const),
        topic: name,
        message,
        options: publishOptions,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('publishBatch' as const),
        topic: name,
        messages: fc.oneof(fc.array(message, { maxLength: 5 }), junk),
        options: publishOptions,
      }),
    },
    // Junk subscriptions never take the collector's messages: they use their own subscription or junk names.
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('subscribe' as const),
        topic: name,
        subscription: fc.oneof(
          { weight: 3, arbitrary: fc.constant(JUNK_SUB) },
          { weight: 1, arbitrary: name.filter((n) => n !== COLLECTOR) },
        ),
        handler,
        options: subscribeOptions,
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('declare' as const), topology }) },
    { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'health' as const }) },
    { weight: 1, arbitrary: fc.constant({ op: 'close' as const }) },
  );
  return { ops: fc.array(op, { minLength: 1, maxLength: 25 }), junk };
}

/** Settles `p` within `ms`, or says which call hung. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Hang(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

class Hang extends Error {}
class Violation extends Error {}

/** Every string an error shows a user: message, stack, inspect (causes included). */
function textOf(error: unknown): string {
  try {
    return inspect(error, { depth: 10, showHidden: false });
  } catch {
    return '';
  }
}

export async function runHostile(
  target: HostileTarget,
  options: { runs: number; seed?: number; topic?: string },
): Promise<HostileSummary> {
  const summary: HostileSummary = {
    runs: 0,
    calls: 0,
    resolved: 0,
    rejected: {},
    confirmed: 0,
    delivered: 0,
    lost: 0,
    unhandled: 0,
    secretLeaks: 0,
  };
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const logged: string[] = [];
  const capture = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    logged.push(`${level} ${message} ${meta ? inspect(meta, { depth: 5 }) : ''}`);
  };
  const logger: Logger = {
    debug: capture('debug'),
    info: capture('info'),
    warn: capture('warn'),
    error: capture('error'),
  };
  const TOPIC = options.topic ?? 'hostile';
  const { ops, junk } = arbitraries(target.secret, TOPIC);
  const factoryJunk = target.factoryInputs?.length
    ? fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...target.factoryInputs) },
        { weight: 1, arbitrary: junk },
      )
    : fc.constant(undefined);

  // The collector: a separate bus on a valid subscription, so every confirmed message can be looked for.
  const collectorBus = await connect(target.driver(), { logger });
  await collectorBus.declare({
    topics: [{ name: TOPIC }],
    subscriptions: [
      { name: COLLECTOR, topic: TOPIC, maxDeliveries: 1_000 },
      { name: JUNK_SUB, topic: TOPIC, maxDeliveries: 3 },
    ],
  });
  const received = new Set<string>();
  const collector = await collectorBus.subscribe(
    TOPIC,
    COLLECTOR,
    (d) => {
      received.add(d.id);
    },
    { concurrency: 16 },
  );
  const confirmedIds = new Set<string>();

  const check = (error: unknown, what: string): void => {
    if (error instanceof Hang) throw new Violation(error.message);
    if (!isLosslessError(error))
      throw new Violation(`${what} rejected with a non-LosslessError: ${textOf(error)}`);
    summary.rejected[error.code] = (summary.rejected[error.code] ?? 0) + 1;
    if (textOf(error).includes(target.secret)) {
      summary.secretLeaks++;
      throw new Violation(`${what}: the secret appears in the error: ${textOf(error)}`);
    }
  };
  /** Calls `f`, which must return a promise (not throw), settling within the bound to a value or a typed error. */
  const call = async (what: string, f: () => unknown, onValue?: (v: unknown) => void): Promise<void> => {
    summary.calls++;
    let p: unknown;
    try {
      p = f();
    } catch (error) {
      throw new Violation(`${what} threw synchronously instead of rejecting: ${textOf(error)}`);
    }
    if (!(p instanceof Promise)) throw new Violation(`${what} did not return a promise`);
    try {
      const v = await within(p, target.settleBoundMs, what);
      summary.resolved++;
      onValue?.(v);
    } catch (error) {
      check(error, what);
    }
  };

  try {
    await fc.assert(
      fc.asyncProperty(ops, factoryJunk, async (sequence, junkOptions) => {
        summary.runs++;
        if (target.factory && junkOptions !== undefined) {
          let made: Driver | undefined;
          try {
            // The driver's own log lines go to the captured logger too, so the secret is looked for in them.
            let withLogger = junkOptions;
            try {
              if (typeof junkOptions === 'object' && junkOptions !== null && !Array.isArray(junkOptions)) {
                withLogger = { logger, ...junkOptions };
              }
            } catch {
              // a Proxy that refuses to list its keys: hand it over as it is
            }
            made = target.factory(withLogger);
          } catch (error) {
            check(error, `${target.name}(junk options)`);
          }
          if (made) {
            const driver = made;
            await call(
              `connect(${target.name}(junk options))`,
              () => connect(driver, { connectTimeoutMs: 1_500, logger }),
              (b) => (b as Bus).close(),
            );
          }
        }
        const bus = await connect(target.driver(), {
          logger,
          publish: { confirmTimeoutMs: Math.max(1_000, target.settleBoundMs - 2_000) },
        });
        const subs: { close(): Promise<void> }[] = [];
        const inFlight: Promise<void>[] = [];
        for (const o of sequence) {
          switch (o.op) {
            case 'publish':
              inFlight.push(
                call(
                  'publish',
                  () => bus.publish(o.topic as string, o.message as never, o.options as never),
                  (r) => {
                    const receipt = r as { id: string; topic: string; status: string };
                    if (receipt.topic === TOPIC && receipt.status === 'confirmed')
                      confirmedIds.add(receipt.id);
                  },
                ),
              );
              break;
            case 'publishBatch':
              inFlight.push(
                call(
                  'publishBatch',
                  () => bus.publishBatch(o.topic as string, o.messages as never, o.options as never),
                  (rs) => {
                    for (const r of rs as {
                      ok: boolean;
                      receipt?: { id: string; topic: string };
                      error?: unknown;
                    }[]) {
                      if (r.ok && r.receipt?.topic === TOPIC) confirmedIds.add(r.receipt.id);
                      if (!r.ok) check(r.error, 'a publishBatch entry');
                    }
                  },
                ),
              );
              break;
            case 'subscribe':
              await call(
                'subscribe',
                () =>
                  bus.subscribe(
                    o.topic as string,
                    o.subscription as string,
                    o.handler as never,
                    o.options as never,
                  ),
                (s) => subs.push(s as { close(): Promise<void> }),
              );
              break;
            case 'declare':
              await call('declare', () => bus.declare(o.topology as never));
              break;
            case 'flush':
              await call('flush', () => bus.flush());
              break;
            case 'health': {
              const h = bus.health();
              if (typeof h?.state !== 'string') throw new Violation('health() returned no state');
              break;
            }
            case 'close':
              inFlight.push(call('close', () => bus.close()));
              break;
          }
        }
        await Promise.all(inFlight);
        for (const s of subs) await call('subscription.close', () => s.close());
        await call('close', () => bus.close());
        if (unhandled.length > 0) {
          summary.unhandled += unhandled.length;
          throw new Violation(`unhandled rejection: ${textOf(unhandled.splice(0)[0])}`);
        }
      }),
      {
        numRuns: options.runs,
        ...(options.seed === undefined ? {} : { seed: options.seed }),
        endOnFailure: true,
      },
    );
    // Every confirmed message must reach the collector.
    const deadline = Date.now() + target.deliveryBoundMs;
    while ([...confirmedIds].some((id) => !received.has(id)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await collector.close();
    await collectorBus.close();
  }
  summary.confirmed = confirmedIds.size;
  summary.delivered = [...confirmedIds].filter((id) => received.has(id)).length;
  summary.lost = summary.confirmed - summary.delivered;
  const leaking = logged.filter((l) => l.includes(target.secret));
  summary.secretLeaks += leaking.length;
  if (leaking.length > 0)
    throw new Violation(`the secret appears in ${leaking.length} log lines, e.g. ${leaking[0]}`);
  return summary;
}
