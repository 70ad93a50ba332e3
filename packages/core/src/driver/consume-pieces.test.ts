// The consume pieces drivers share: settle-once, dead-letter headers, the prefetch bound, health, native codes.
import { describe, expect, it } from 'vitest';
import { ErrorCode, isLosslessError } from '../errors.js';
import { ReservedHeader } from '../message.js';
import { clipError, deadLetterHeaders, LAST_ERROR_MAX, retryHeaders } from './dead-letter.js';
import { HealthTracker } from './health.js';
import { causeChain, nativeCode, nativeMessage } from './native-code.js';
import { Credit, Outstanding } from './outstanding.js';
import { claimSettlement, staleDelivery } from './settle-once.js';

const source = { broker: 'demo', topic: 'orders', subscription: 'billing' };

describe('claimSettlement', () => {
  it('lets the first settlement through and refuses the second with STALE_DELIVERY', () => {
    const d = { id: 'm1', settled: false };
    claimSettlement(source, d);
    expect(d.settled).toBe(true);
    let thrown: unknown;
    try {
      claimSettlement(source, d);
    } catch (e) {
      thrown = e;
    }
    expect(isLosslessError(thrown)).toBe(true);
    expect(thrown).toMatchObject({
      code: ErrorCode.STALE_DELIVERY,
      message: 'demo: delivery of message m1 was already settled',
      topic: 'orders',
      subscription: 'billing',
      messageId: 'm1',
    });
  });

  it('claims a stale delivery and says why it is stale', () => {
    const d = { id: 'm2', settled: false };
    expect(() => claimSettlement(source, d, 'is stale: its channel closed')).toThrow(
      'demo: delivery of message m2 is stale: its channel closed',
    );
    expect(d.settled).toBe(true);
    expect(staleDelivery(source, 'm3', 'x').code).toBe(ErrorCode.STALE_DELIVERY);
  });
});

describe('dead-letter headers', () => {
  it('writes attempt, clipped last error, reason and original topic', () => {
    const long = 'e'.repeat(LAST_ERROR_MAX + 10);
    const h = deadLetterHeaders({ error: long, attempt: 5, originalTopic: 'orders' });
    expect(h[ReservedHeader.ATTEMPT]).toBe('5');
    expect(h[ReservedHeader.LAST_ERROR]).toBe(`${'e'.repeat(LAST_ERROR_MAX)}…`);
    expect(h[ReservedHeader.DEAD_LETTER_REASON]).toBe('max-deliveries');
    expect(h[ReservedHeader.ORIGINAL_TOPIC]).toBe('orders');
    expect(
      deadLetterHeaders({ error: 'x', attempt: 1, originalTopic: 't', reason: 'kept-in-dead-letters' })[
        ReservedHeader.DEAD_LETTER_REASON
      ],
    ).toBe('kept-in-dead-letters');
  });

  it('keeps short errors and builds retry headers with the next attempt', () => {
    expect(clipError('short')).toBe('short');
    expect(retryHeaders(3, 'boom')).toEqual({
      [ReservedHeader.ATTEMPT]: '3',
      [ReservedHeader.LAST_ERROR]: 'boom',
    });
  });
});

describe('Outstanding', () => {
  it('bounds the handed-out count and wakes a waiter when room frees', async () => {
    const out = new Outstanding<string>(2);
    out.add('a');
    out.add('b');
    expect(out.full).toBe(true);
    expect(out.room).toBe(0);
    let woke = false;
    const waiting = out.untilRoom().then(() => {
      woke = true;
    });
    await Promise.resolve();
    expect(woke).toBe(false);
    expect(out.delete('x')).toBe(false);
    expect(out.delete('a')).toBe(true);
    await waiting;
    expect(woke).toBe(true);
    expect(out.room).toBe(1);
  });

  it('stops waiting on abort and drains everything on close', async () => {
    const out = new Outstanding<number>(1);
    out.add(1);
    const abort = new AbortController();
    const waiting = out.untilRoom(abort.signal);
    abort.abort();
    await waiting;
    expect(out.drain()).toEqual([1]);
    expect(out.size).toBe(0);
  });
});

describe('Credit', () => {
  it('counts without keeping deliveries: full at the limit, room again after give, never below zero', async () => {
    const credit = new Credit(2);
    credit.take();
    credit.take();
    expect(credit.full).toBe(true);
    const waiting = credit.untilRoom();
    credit.give();
    await waiting;
    expect(credit.room).toBe(1);
    credit.give();
    credit.give(); // one too many (a driver bug): the count stays at 0, the room at the limit
    expect(credit.size).toBe(0);
    expect(credit.room).toBe(2);
  });

  it('Outstanding counts an item once, however often it is added', () => {
    const out = new Outstanding<string>(3);
    out.add('a');
    out.add('a');
    expect(out.size).toBe(1);
    expect(out.delete('a')).toBe(true);
    expect(out.size).toBe(0);
  });
});

describe('HealthTracker', () => {
  it('tracks state and reason, redacts the reason, keeps since until the state changes, ends at closed', () => {
    const h = new HealthTracker((t) => t.replace('hunter2', '***'));
    expect(h.snapshot().state).toBe('connecting');
    expect(h.set('disconnected', 'auth failed for hunter2')).toBe(true);
    const since = h.snapshot().since;
    expect(h.snapshot().reason).toBe('auth failed for ***');
    expect(h.reason).toBe('auth failed for hunter2');
    expect(h.set('disconnected', 'still down')).toBe(false);
    expect(h.snapshot()).toEqual({ state: 'disconnected', reason: 'still down', since });
    h.connected();
    expect(h.snapshot().reason).toBeUndefined();
    h.close();
    h.set('connected');
    expect(h.state).toBe('closed');
  });
});

describe('nativeCode', () => {
  it('reads the first code-like field and never throws on hostile errors', () => {
    expect(nativeCode({ code: 404 })).toBe(404);
    expect(nativeCode({ type: 'REBALANCE_IN_PROGRESS', code: 27 }, ['type', 'code'])).toBe(
      'REBALANCE_IN_PROGRESS',
    );
    const hostile = Object.defineProperty({}, 'code', {
      get() {
        throw new Error('no');
      },
    });
    expect(nativeCode(hostile)).toBeUndefined();
    expect(nativeCode('ECONNRESET')).toBeUndefined();
    expect(nativeMessage(new Error('m'))).toBe('m');
    expect(nativeMessage({ message: 'not an Error' })).toBeUndefined();
  });

  it('walks causes, outermost first, bounded and cycle-safe', () => {
    const inner = { code: 'ECONNREFUSED' };
    const outer = new Error('wrapped', { cause: inner });
    expect(causeChain(outer)).toEqual([outer, inner]);
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    expect(causeChain(loop)).toHaveLength(1);
    expect(causeChain(null)).toEqual([]);
  });
});
