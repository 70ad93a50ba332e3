// The one classification the driver adds to the table: answers a send gets while the broker holding a known topic
// restarts behind a live proxy are retried (until the confirm deadline); everything else keeps its meaning.
// No broker needed: the native messages are the ones RocketMQ 5.3.3's proxy sent in the kit's runs.
import { ErrorCode, LosslessError } from '@lossless/core';
import { describe, expect, it } from 'vitest';
import { classifyNative, whileBrokerRestarts } from './error-table.js';

const native = (code: ErrorCode, message: string) => new LosslessError(code, message, { broker: 'rocketmq' });

describe('whileBrokerRestarts', () => {
  it('makes TOPIC_NOT_FOUND retriable, keeping the code and naming the topic', () => {
    const e = whileBrokerRestarts(
      native(ErrorCode.NOT_FOUND, 'rocketmq: topic not found: declare it first: (40402) No topic route info'),
      'orders',
      'm-1',
    );
    expect(e.code).toBe(ErrorCode.NOT_FOUND);
    expect(e.retriable).toBe(true);
    expect(e.message).toContain("topic 'orders' existed but is not routed now");
    expect(e.messageId).toBe('m-1');
  });

  it("makes the proxy's UNSPECIFIED message-type answer retriable", () => {
    const e = whileBrokerRestarts(
      native(
        ErrorCode.CONFLICT,
        'rocketmq: message properties conflict with the topic message type: (40014) TopicMessageType validate ' +
          'failed, the expected type is UNSPECIFIED, but actual type is NORMAL',
      ),
      'orders',
      'm-2',
    );
    expect(e.code).toBe(ErrorCode.CONFLICT);
    expect(e.retriable).toBe(true);
  });

  it("makes the client's own message-type check retriable (a route fetched while the broker was away)", () => {
    const e = whileBrokerRestarts(
      native(ErrorCode.CONFLICT, 'Current message type not match with topic accept message types'),
      'orders',
      'm-3',
    );
    expect(e.retriable).toBe(true);
  });

  it('leaves other errors as they are', () => {
    const invalid = native(ErrorCode.INVALID_ARGUMENT, 'illegal message key');
    expect(whileBrokerRestarts(invalid, 'orders', 'm-4')).toBe(invalid);
    const tooLarge = native(ErrorCode.TOO_LARGE, 'payload too large');
    expect(whileBrokerRestarts(tooLarge, 'orders', 'm-5')).toBe(tooLarge);
  });
});

describe('classifyNative: FORBIDDEN that is a failover, not an ACL', () => {
  // What the client threw (a ForbiddenException: code 40300) when a send met a route without a master.
  const forbidden = (message: string) => Object.assign(new Error(message), { code: 40300 });

  it('makes "no writable queue" (the group has no master now) retriable UNAVAILABLE', () => {
    const e = classifyNative(
      forbidden(
        '[request-id=undefined, response-code=40300] org.apache.rocketmq.proxy.common.ProxyException: no writable queue',
      ),
      { topic: 'orders' },
    );
    expect(e?.code).toBe(ErrorCode.UNAVAILABLE);
    expect(e?.retriable).toBe(true);
  });

  it('keeps an ACL refusal a PERMISSION_DENIED that is not retried', () => {
    const e = classifyNative(forbidden('[response-code=40300] user lossless-limited has no permission'), {});
    expect(e?.code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(e?.retriable).toBe(false);
  });
});
