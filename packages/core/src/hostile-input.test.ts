// Hostile input is normal input: each class of bad value a user can pass comes back as a typed LosslessError on
// the call that carried it, and nothing else changes — no unhandled rejection (vitest fails a run that has one),
// no synchronous throw from an async API, no slot taken for good, no wedged close().
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, connect } from './bus.js';
import { ErrorCode, isLosslessError, LosslessError } from './errors.js';
import type { Logger } from './logger.js';
import { MemoryBroker, memoryDriver } from './memory/index.js';
import type { Delivery } from './subscriber.js';

const open: Bus[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

async function bus(options?: Parameters<typeof connect>[1], broker = new MemoryBroker()): Promise<Bus> {
  const b = await connect(memoryDriver({ broker }), options);
  open.push(b);
  await b.declare({
    topics: [{ name: 'orders' }],
    subscriptions: [{ name: 'warehouse', topic: 'orders', maxDeliveries: 3 }],
  });
  return b;
}

/** The rejection of `p`, asserted to be a LosslessError with `code`. */
async function rejection(p: unknown, code: string): Promise<LosslessError> {
  expect(p).toBeInstanceOf(Promise);
  const error = await (p as Promise<unknown>).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isLosslessError(error), `expected a LosslessError, got ${String(error)}`).toBe(true);
  expect((error as LosslessError).code).toBe(code);
  return error as LosslessError;
}

function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

describe('a handler that throws a value that cannot be made a string', () => {
  const unprintable: [string, () => unknown][] = [
    ['Object.create(null)', () => Object.create(null)],
    [
      'an object whose toString throws',
      () => ({
        toString() {
          throw new Error('no');
        },
      }),
    ],
    [
      'an Error whose message getter throws',
      () => {
        const e = new Error('x');
        Object.defineProperty(e, 'message', {
          get() {
            throw new Error('no');
          },
        });
        return e;
      },
    ],
    ['a symbol', () => Symbol('s')],
  ];
  for (const [name, make] of unprintable) {
    it(`reports ${name} through onError as INTERNAL with the original in cause, and redelivers`, async () => {
      const b = await bus();
      const thrown = make();
      const reported: LosslessError[] = [];
      let calls = 0;
      const sub = await b.subscribe(
        'orders',
        'warehouse',
        () => {
          calls++;
          if (calls === 1) throw thrown;
        },
        { onError: (e) => reported.push(e), redeliveryBackoff: { initialDelayMs: 1, maxDelayMs: 1 } },
      );
      await b.publish('orders', { body: 'x' });
      await until(() => sub.stats.acked === 1, 'the redelivered message to be acked');
      expect(reported).toHaveLength(1);
      expect(reported[0]!.code).toBe(ErrorCode.INTERNAL);
      expect(reported[0]!.cause).toBe(thrown);
      expect(calls).toBe(2);
    });
  }

  it('keeps consuming when onError itself throws or rejects', async () => {
    const b = await bus({ logger: silentButCounting().logger });
    let calls = 0;
    const sub = await b.subscribe(
      'orders',
      'warehouse',
      () => {
        calls++;
        if (calls <= 2) throw Object.create(null);
      },
      {
        onError: () => {
          if (calls === 1) throw new Error('onError fails');
          return Promise.reject(new Error('async onError fails')) as never;
        },
        redeliveryBackoff: { initialDelayMs: 1, maxDelayMs: 1 },
      },
    );
    await b.publish('orders', { body: 'x' });
    await until(() => sub.stats.acked === 1, 'the message to be acked on its third delivery');
  });
});

describe('an option set to undefined means absent: the default applies', () => {
  it('publish.retryBackoff: undefined still backs off and re-sends after a nack', async () => {
    const broker = new MemoryBroker();
    let nacks = 0;
    broker.faults.onSend = () => (nacks++ === 0 ? 'nack' : 'confirm');
    // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
    const b = await bus({ publish: { retryBackoff: undefined } }, broker);
    const receipt = await b.publish('orders', { body: 'x' });
    expect(receipt.attempts).toBe(2);
  });

  it('publish.maxMessageBytes: undefined keeps the driver limit: an oversized body is TOO_LARGE', async () => {
    const b = await connect(memoryDriver({ maxMessageBytes: 1024 }), {
      // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
      publish: { maxMessageBytes: undefined },
    });
    open.push(b);
    await b.declare({ topics: [{ name: 'orders' }] });
    await rejection(b.publish('orders', { body: new Uint8Array(2048) }), ErrorCode.TOO_LARGE);
  });

  it('subscribe({ concurrency: undefined, ordering: undefined }) uses the defaults', async () => {
    const b = await bus();
    // @ts-expect-error the types refuse an explicit undefined; a JavaScript caller passes one anyway
    const sub = await b.subscribe('orders', 'warehouse', () => {}, {
      concurrency: undefined,
      ordering: undefined,
    });
    await b.publish('orders', { body: 'x' });
    await until(() => sub.stats.acked === 1, 'the message to be acked');
  });

  it('partial backoff objects are merged with the defaults; max below initial is refused', async () => {
    const b = await bus();
    await rejection(
      b.subscribe('orders', 'warehouse', () => {}, {
        redeliveryBackoff: { initialDelayMs: 500, maxDelayMs: 10 },
      }),
      ErrorCode.INVALID_ARGUMENT,
    );
    const sub = await b.subscribe('orders', 'warehouse', () => {}, {
      redeliveryBackoff: { initialDelayMs: 5 },
    });
    await sub.close();
  });
});

describe('a signal that is not an AbortSignal', () => {
  for (const [name, signal] of [
    ['a string', 'abort'],
    ['a plain object', { aborted: false }],
    ['null', null],
  ] as const) {
    it(`${name}: INVALID_ARGUMENT, no slot kept, close() resolves`, async () => {
      const b = await bus();
      const e = await rejection(
        b.publish('orders', { body: 'x' }, { signal: signal as unknown as AbortSignal }),
        ErrorCode.INVALID_ARGUMENT,
      );
      expect(e.message).toMatch(/signal/);
      expect(b.pendingConfirms).toBe(0);
      await b.close();
    });
  }

  it('a signal-like object whose addEventListener throws: INVALID_ARGUMENT, the slot is given back', async () => {
    const b = await bus();
    const signal = {
      aborted: false,
      addEventListener() {
        throw new Error('no listeners here');
      },
      removeEventListener() {},
    };
    await rejection(
      b.publish('orders', { body: 'x' }, { signal: signal as unknown as AbortSignal }),
      ErrorCode.INVALID_ARGUMENT,
    );
    expect(b.pendingConfirms).toBe(0);
    await b.close();
  });

  it('publishBatch checks its options once: every entry fails alike, nothing is sent', async () => {
    const b = await bus();
    await rejection(
      b.publishBatch('orders', [{ body: 'a' }, { body: 'b' }], { sigal: undefined } as never),
      ErrorCode.INVALID_ARGUMENT,
    );
    expect(b.pendingConfirms).toBe(0);
  });
});

describe('misspelled option keys are refused, naming the closest valid key', () => {
  it.each([
    ['connect', { confirmTimoutMs: 5 }, "'publish.confirmTimeoutMs'", { publish: { confirmTimoutMs: 5 } }],
    ['connect', { conectTimeoutMs: 5 }, "'connectTimeoutMs'", { conectTimeoutMs: 5 }],
    ['subscribe', { concurency: 4 }, "'concurrency'", undefined],
    ['subscribe', { ordering: 'keys' }, "'key'", undefined],
    [
      'subscribe',
      { redeliveryBackoff: { intialDelayMs: 1 } },
      "'redeliveryBackoff.initialDelayMs'",
      undefined,
    ],
    ['publish', { signl: undefined }, "'signal'", undefined],
  ] as const)('%s(%o) names %s', async (call, options, suggestion, connectOptions) => {
    let p: Promise<unknown>;
    if (call === 'connect') {
      p = connect(memoryDriver(), connectOptions as never);
    } else {
      const b = await bus();
      p =
        call === 'subscribe'
          ? b.subscribe('orders', 'warehouse', () => {}, options as never)
          : b.publish('orders', { body: 'x' }, options as never);
    }
    const e = await rejection(p, ErrorCode.INVALID_ARGUMENT);
    expect(e.message).toContain(suggestion);
  });

  it('a message field that does not exist (header instead of headers) is refused before anything is sent', async () => {
    const b = await bus();
    const e = await rejection(
      b.publish('orders', { body: 'x', header: { a: 'b' } } as never),
      ErrorCode.INVALID_ARGUMENT,
    );
    expect(e.message).toContain("'headers'");
    expect(b.pendingConfirms).toBe(0);
  });
});

describe('numbers and enums are checked for type, integer-ness, sign and range', () => {
  it.each([
    { concurrency: 0 },
    { concurrency: 1.5 },
    { concurrency: '8' },
    { concurrency: Number.NaN },
    { prefetch: 70_000 },
    { shutdownTimeoutMs: -1 },
    { shutdownTimeoutMs: 2 ** 31 },
    { deadLetters: 'yes' },
    { onError: 'log' },
  ])('subscribe(%o) is INVALID_ARGUMENT', async (options) => {
    const b = await bus();
    await rejection(
      b.subscribe('orders', 'warehouse', () => {}, options as never),
      ErrorCode.INVALID_ARGUMENT,
    );
  });

  it.each([
    { connectTimeoutMs: 0 },
    { connectTimeoutMs: Number.POSITIVE_INFINITY },
    { publish: { maxAttempts: -1 } },
    { publish: { retryBackoff: { factor: 0.5 } } },
    { publish: { retryBackoff: { jitter: 'some' } } },
    { publish: null },
    { logger: console.log },
    { logger: { warn() {} } },
    { outbox: { store: {} } },
    { outbox: { store: { load() {}, put() {}, delete() {}, close() {} }, resolveOn: 'sent' } },
    null,
    'amqp://localhost',
  ])('connect(driver, %o) is INVALID_ARGUMENT', async (options) => {
    await rejection(connect(memoryDriver(), options as never), ErrorCode.INVALID_ARGUMENT);
  });

  it('connect() without a driver (or with a half one) is INVALID_ARGUMENT, not a TypeError', async () => {
    for (const d of [undefined, null, {}, { send() {} }, 'memory']) {
      await rejection(connect(d as never), ErrorCode.INVALID_ARGUMENT);
    }
  });
});

describe('declare() refuses malformed topologies with INVALID_ARGUMENT, never a bare TypeError', () => {
  it.each([
    [{ topics: { name: 'orders' } }],
    [{ topics: [null] }],
    [{ topics: ['orders'] }],
    [{ topics: [{ name: 'orders', partition: 3 }] }],
    [{ topics: [{ name: 'orders', partitions: 0 }] }],
    [{ subscriptions: [{ name: 'w', topic: 'orders', maxDelivery: 3 }] }],
    [{ topic: [{ name: 'orders' }] }],
    [undefined],
    [null],
  ])('%o', async (topology) => {
    const b = await bus();
    await rejection(b.declare(topology as never), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('header names that are Object.prototype members are refused on every adapter alike', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('%s', async (name) => {
    const b = await bus();
    const headers = JSON.parse(`{${JSON.stringify(name)}: "v"}`) as Record<string, string>;
    const e = await rejection(b.publish('orders', { body: 'x', headers }), ErrorCode.INVALID_ARGUMENT);
    expect(e.message).toContain(name);
  });

  it('delivered headers have no prototype: a handler reading headers.constructor gets undefined', async () => {
    const b = await bus();
    const seen: Delivery[] = [];
    await b.subscribe('orders', 'warehouse', (d) => {
      seen.push(d);
    });
    await b.publish('orders', { body: 'x', headers: { a: 'b' } });
    await until(() => seen.length === 1, 'the delivery');
    expect((seen[0]!.headers as Record<string, unknown>).constructor).toBeUndefined();
    expect(seen[0]!.headers.a).toBe('b');
  });
});

describe('values that cannot even be read', () => {
  const exploding = new Proxy(
    {},
    {
      get() {
        throw new Error('boom');
      },
      ownKeys() {
        throw new Error('boom');
      },
    },
  );
  it('a Proxy as message, options or topology: a rejected promise with INVALID_ARGUMENT', async () => {
    const b = await bus();
    await rejection(b.publish('orders', exploding as never), ErrorCode.INVALID_ARGUMENT);
    await rejection(b.publish('orders', { body: 'x' }, exploding as never), ErrorCode.INVALID_ARGUMENT);
    await rejection(b.declare(exploding as never), ErrorCode.INVALID_ARGUMENT);
    await rejection(
      b.subscribe('orders', 'warehouse', () => {}, exploding as never),
      ErrorCode.INVALID_ARGUMENT,
    );
    await rejection(connect(memoryDriver(), exploding as never), ErrorCode.INVALID_ARGUMENT);
    expect(b.pendingConfirms).toBe(0);
  });

  it('a getter that throws on a header: INVALID_ARGUMENT', async () => {
    const b = await bus();
    const headers = {
      get a(): string {
        throw new Error('boom');
      },
    };
    await rejection(b.publish('orders', { body: 'x', headers }), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('a logger that throws does not break the bus', () => {
  it('a failing handler is still redelivered and acked', async () => {
    const throwing: Logger = {
      debug() {},
      info() {},
      warn() {
        throw new Error('logger down');
      },
      error() {
        throw new Error('logger down');
      },
    };
    const b = await bus({ logger: throwing });
    let calls = 0;
    const sub = await b.subscribe(
      'orders',
      'warehouse',
      () => {
        if (calls++ === 0) throw new Error('first fails');
      },
      { redeliveryBackoff: { initialDelayMs: 1, maxDelayMs: 1 } },
    );
    await b.publish('orders', { body: 'x' });
    await until(() => sub.stats.acked === 1, 'the redelivered message to be acked');
  });
});

describe('errors are recognised across copies of core', () => {
  it('isLosslessError accepts an error branded by another copy and refuses look-alikes', () => {
    class OtherCopy extends Error {
      readonly code = 'NOT_FOUND';
      readonly retriable = false;
    }
    Object.defineProperty(OtherCopy.prototype, Symbol.for('lossless.error'), { value: true });
    expect(isLosslessError(new OtherCopy('x'))).toBe(true);
    expect(isLosslessError({ code: 'NOT_FOUND' })).toBe(false);
    expect(isLosslessError(Object.assign(new OtherCopy('x'), { code: 'NOPE' }))).toBe(false);
    expect(isLosslessError(new LosslessError(ErrorCode.CLOSED, 'x'))).toBe(true);
  });
});

function silentButCounting(): { logger: Logger; count: () => number } {
  let n = 0;
  const count = () => {
    n++;
  };
  return { logger: { debug: count, info: count, warn: count, error: count }, count: () => n };
}
