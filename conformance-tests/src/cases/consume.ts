// C1–C15: what consuming promises — ack only after the handler, redelivery with attempt + 1 (across consumer
// instances too), idempotent settlement, the concurrency limit, manual commit semantics after a consumer dies,
// dead letters, a uniform attempt count, per-key order, a graceful close; every field of a message intact on
// every redelivery, 25 deliveries when maxDeliveries allows 25, and nothing lost when a close races a dead-letter,
// a delayed redelivery or acks in flight.
import { type Delivery, type LosslessError, ReservedHeader } from '@lossless/core';
import { check, deferred, present, skipUnless } from '../context.js';
import { Ledger } from '../ledger.js';
import type { ConformanceCase } from './case.js';
import { checkSameMessage, richMessage } from './messages.js';

const fastRetry = { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 'none' as const };
/** For cases that go through many redeliveries: the backoff is not what they test. */
const tinyRetry = { initialDelayMs: 1, maxDelayMs: 5, factor: 2, jitter: 'none' as const };

export const consumeCases: ConformanceCase[] = [
  {
    id: 'C1',
    title: 'a message whose handler resolved is not delivered again',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 50, ledger);
      const sub = await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
      await sub.close();
      const again = await ctx.drainUntilSentinel(await ctx.bus(), topic, 's');
      const repeated = again.filter((id) => ledger.confirmed.has(id));
      check(
        repeated.length === 0,
        `${repeated.length} handled messages were delivered again after their ack`,
      );
    },
  },
  {
    id: 'C2',
    title: 'a handler that throws gets the same message (id, body, headers) again with attempt + 1',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 5 });
      const receipt = await bus.publish(topic, { body: 'retry me', headers: { type: 'OrderPaid', ü: '✓' } });
      const seen: Delivery[] = [];
      const done = deferred();
      const sub = await bus.subscribe(
        topic,
        's',
        (d) => {
          seen.push(d);
          if (seen.length === 1) throw new Error('first attempt fails');
          done.resolve();
        },
        { redeliveryBackoff: fastRetry },
      );
      ctx.subscriptions.push(sub);
      await Promise.race([done.promise, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      check(
        seen.length >= 2,
        `the failed message was delivered ${seen.length} time(s), expected a redelivery`,
      );
      const a = present(seen[0], 'the first delivery');
      const b = present(seen[1], 'the redelivery');
      check(a.id === receipt.id && b.id === receipt.id, `the redelivery has another id (${b.id})`);
      check(b.text() === 'retry me', 'the redelivered body differs');
      check(b.headers.type === 'OrderPaid' && b.headers.ü === '✓', 'the redelivered headers differ');
      check(
        a.attempt === 1 && b.attempt === 2,
        `attempts were ${a.attempt} then ${b.attempt}, expected 1 then 2`,
      );
    },
  },
  {
    id: 'C3',
    title: 'repeated failures across successive consumer instances still end in delivery',
    category: 'consume',
    async run(ctx) {
      const setup = await ctx.bus();
      const { topic } = await ctx.topic(setup, 't', ['s'], { maxDeliveries: 10 });
      const ledger = new Ledger();
      await ctx.publishMany(setup, topic, 1, ledger);
      const attempts: number[] = [];
      for (let instance = 0; instance < 2; instance++) {
        const failed = deferred();
        const bus = await ctx.bus();
        const sub = await bus.subscribe(
          topic,
          's',
          (d) => {
            attempts.push(d.attempt);
            failed.resolve();
            throw new Error(`instance ${instance} fails`);
          },
          { redeliveryBackoff: fastRetry, concurrency: 1 },
        );
        await Promise.race([failed.promise, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
        await sub.close();
        await bus.close();
      }
      const last = await ctx.bus();
      await ctx.consume(last, topic, 's', ledger, { handler: (d) => void attempts.push(d.attempt) });
      await ctx.expectAllDelivered(ledger);
      check(attempts.length >= 3, `only ${attempts.length} deliveries across three consumer instances`);
      const first = present(attempts[0], 'the first delivery’s attempt');
      const latest = present(attempts.at(-1), 'the last delivery’s attempt');
      check(latest > first, `the attempt count did not grow across instances: ${attempts.join(', ')}`);
    },
  },
  {
    id: 'C4',
    title: 'acking twice, or acking after nacking, is harmless',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 20, ledger);
      const errors: LosslessError[] = [];
      const sub = await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 4,
        onError: (e) => errors.push(e),
        handler: async (d) => {
          await d.ack();
          await d.ack();
          await d.nack(new Error('too late'));
        },
      });
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
      await sub.close();
      check(errors.length === 0, `settling twice raised: ${errors.map((e) => e.message).join('; ')}`);
      const again = await ctx.drainUntilSentinel(await ctx.bus(), topic, 's');
      check(again.length === 0, `${again.length} messages came back although they were acked first`);
    },
  },
  {
    id: 'C5',
    title: 'the concurrency limit is never exceeded',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 4 });
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 300, ledger, {
        message: (i) => ({ body: String(i), key: `k${i % 10}` }),
      });
      let running = 0;
      let max = 0;
      await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 5,
        prefetch: 5,
        handler: async () => {
          running++;
          max = Math.max(max, running);
          await new Promise((r) => setTimeout(r, 1));
          running--;
        },
      });
      await ctx.expectAllDelivered(ledger);
      check(max <= 5, `${max} handlers ran at once with concurrency 5`);
      check(
        bus.spy.maxUnsettled <= bus.spy.prefetch,
        `the driver handed out ${bus.spy.maxUnsettled} unsettled deliveries with prefetch ${bus.spy.prefetch}`,
      );
    },
  },
  {
    id: 'C6',
    title:
      'after a consumer dies, everything after its last handled message is delivered again, nothing is lost',
    category: 'consume',
    async run(ctx) {
      const setup = await ctx.bus();
      const { topic } = await ctx.topic(setup, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(setup, topic, 100, ledger, { callers: 1 });
      const handled = new Set<string>();
      const holding = new Set<string>();
      const enough = deferred();
      const doomed = await ctx.bus();
      const sub = await doomed.subscribe(
        topic,
        's',
        async (d) => {
          if (handled.size < 30) {
            handled.add(d.id);
            if (handled.size === 30) enough.resolve();
            return;
          }
          holding.add(d.id);
          await new Promise(() => {}); // never finishes: the consumer dies holding it
        },
        { concurrency: 5, shutdownTimeoutMs: 100 },
      );
      ctx.subscriptions.push(sub);
      await Promise.race([enough.promise, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      check(handled.size === 30, `the first consumer handled only ${handled.size} messages`);
      await ctx.crash(doomed);
      const rest = new Ledger();
      for (const id of ledger.confirmed) {
        if (handled.has(id)) continue;
        rest.attempt(id);
        rest.confirm(id);
      }
      for (const id of handled) rest.attempt(id); // a re-delivery of a handled message is a duplicate, not a phantom
      const next = await ctx.bus();
      await ctx.consume(next, topic, 's', rest);
      await ctx.expectAllDelivered(rest, { what: 'after the consumer died' });
      for (const id of holding)
        check(rest.received.has(id), `message ${id}, held when the consumer died, never came back`);
    },
  },
  {
    id: 'C7',
    title:
      'a message that fails maxDeliveries times lands on the dead-letter destination with all its data and the origin',
    category: 'consume',
    async run(ctx) {
      skipUnless(ctx.capabilities.deadLetters, 'dead letters cannot be read back from this broker');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 3 });
      const good = await bus.publish(topic, { body: 'fine' });
      const poison = richMessage(ctx.name('poison'), 7);
      await bus.publish(topic, poison);
      let poisonCalls = 0;
      const goodDone = deferred();
      const sub = await bus.subscribe(
        topic,
        's',
        (d) => {
          if (d.id === good.id) return goodDone.resolve();
          poisonCalls++;
          throw new Error(`cannot ship (${d.attempt})`);
        },
        { redeliveryBackoff: fastRetry },
      );
      ctx.subscriptions.push(sub);
      const dead = deferred<Delivery>();
      const dlq = await bus.subscribe(topic, 's', (d) => dead.resolve(d), { deadLetters: true });
      ctx.subscriptions.push(dlq);
      const got = await ctx.waitFor(
        () => `the poison message on the dead-letter destination (${poisonCalls} deliveries seen)`,
        dead.promise,
      );
      await ctx.waitFor(
        'the healthy message published before the poison one to be handled',
        goodDone.promise,
      );
      checkSameMessage('the dead letter', got, poison);
      check(
        got.headers[ReservedHeader.ATTEMPT] === '3',
        `dead letter attempt header: ${got.headers[ReservedHeader.ATTEMPT]}`,
      );
      check(
        got.headers[ReservedHeader.LAST_ERROR] === 'cannot ship (3)',
        `dead letter last error: ${got.headers[ReservedHeader.LAST_ERROR]}`,
      );
      check(
        got.headers[ReservedHeader.ORIGINAL_TOPIC] === topic,
        `dead letter origin header: ${got.headers[ReservedHeader.ORIGINAL_TOPIC]} (the topic is ${topic})`,
      );
      check(
        Boolean(got.headers[ReservedHeader.DEAD_LETTER_REASON]),
        'the dead letter does not say why it was dead-lettered (no reason header)',
      );
      check(poisonCalls === 3, `the handler saw the poison message ${poisonCalls} times, maxDeliveries is 3`);
    },
  },
  {
    id: 'C8',
    title: 'attempt means the same on every broker: 1, then +1 per failed handling',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 10 });
      await bus.publish(topic, { body: 'x' });
      const attempts: number[] = [];
      const done = deferred();
      const sub = await bus.subscribe(
        topic,
        's',
        (d) => {
          attempts.push(d.attempt);
          if (attempts.length < 4) throw new Error('again');
          done.resolve();
        },
        { redeliveryBackoff: fastRetry },
      );
      ctx.subscriptions.push(sub);
      await Promise.race([done.promise, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      check(attempts.join() === '1,2,3,4', `attempts were ${attempts.join(', ')}, expected 1, 2, 3, 4`);
    },
  },
  {
    id: 'C9',
    title: 'with per-key ordering, messages of one key are handled in order even with concurrency > 1',
    category: 'consume',
    async run(ctx) {
      skipUnless(ctx.capabilities.keyOrdering, 'the broker cannot keep the order of a key');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 4, ordering: 'key' });
      const keys = ['a', 'b', 'c', 'd'];
      const ledger = new Ledger();
      const tag = ctx.name('m');
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const id = `${tag}-${i}`;
          const key = present(keys[i % keys.length], `a key for message ${i}`);
          ledger.attempt(id);
          return bus.publish(topic, { id, key, body: String(i) }).then(() => ledger.confirm(id));
        }),
      );
      const order = new Map<string, number[]>();
      const keyless: string[] = [];
      let running = 0;
      let maxRunning = 0;
      await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 8,
        prefetch: 64,
        ordering: 'key',
        handler: async (d) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((r) => setTimeout(r, Number(d.text()) % 4));
          if (d.key === undefined) keyless.push(d.id);
          else order.set(d.key, [...(order.get(d.key) ?? []), Number(d.text())]);
          running--;
        },
      });
      await ctx.expectAllDelivered(ledger);
      check(
        keyless.length === 0,
        `${keyless.length} messages arrived without their key (${keyless.slice(0, 4)}…)`,
      );
      for (const k of keys) {
        const seq = order.get(k) ?? [];
        check(
          seq.join() === [...seq].sort((x, y) => x - y).join(),
          `key ${k} was handled out of order: ${seq.slice(0, 16).join(' ')}…`,
        );
      }
      check(maxRunning > 1, 'handlers never ran concurrently, so ordering was not exercised');
    },
  },
  {
    id: 'C10',
    title:
      'closing a subscription lets in-flight handlers finish and acks them; unfinished ones are redelivered',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const quick = await bus.publish(topic, { body: 'finishes during close' });
      const stuck = await bus.publish(topic, { body: 'never finishes' });
      const started = new Set<string>();
      const bothStarted = deferred();
      const finishQuick = deferred();
      const sub = await bus.subscribe(
        topic,
        's',
        async (d) => {
          started.add(d.id);
          if (started.size === 2) bothStarted.resolve();
          if (d.id === quick.id) await finishQuick.promise;
          else await new Promise(() => {});
        },
        { concurrency: 2, shutdownTimeoutMs: 1_000 },
      );
      await Promise.race([bothStarted.promise, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      check(started.size === 2, `only ${started.size} of 2 handlers started`);
      const closing = sub.close();
      finishQuick.resolve();
      await closing;
      check(sub.stats.acked === 1, `close acked ${sub.stats.acked} messages, expected the one that finished`);
      const again = await ctx.drainUntilSentinel(await ctx.bus(), topic, 's', { expect: [stuck.id] });
      check(again.includes(stuck.id), 'the unfinished message was not redelivered after close');
      check(!again.includes(quick.id), 'the message that finished during close was delivered again');
    },
  },
  {
    id: 'C11',
    title:
      'id, key, timestamp, body and every header are intact on each redelivery: after throws and after the consumer dies',
    category: 'consume',
    async run(ctx) {
      const setup = await ctx.bus();
      const { topic } = await ctx.topic(setup, 't', ['s'], { maxDeliveries: 10 });
      const sent = richMessage(ctx.name('m'), 11);
      await setup.publish(topic, sent);
      const seen: Delivery[] = [];
      const third = deferred();
      const doomed = await ctx.bus();
      const sub = await doomed.subscribe(
        topic,
        's',
        async (d) => {
          seen.push(d);
          if (seen.length <= 2) throw new Error(`attempt ${d.attempt} fails`);
          third.resolve();
          await new Promise(() => {}); // the consumer dies holding it
        },
        { redeliveryBackoff: fastRetry, concurrency: 1, shutdownTimeoutMs: 100 },
      );
      ctx.subscriptions.push(sub);
      await ctx.waitFor(() => `the third delivery (${seen.length} so far)`, third.promise);
      await ctx.crash(doomed);
      const again = deferred();
      const next = await ctx.bus();
      const sub2 = await next.subscribe(
        topic,
        's',
        (d) => {
          seen.push(d);
          again.resolve();
        },
        { concurrency: 1 },
      );
      ctx.subscriptions.push(sub2);
      await ctx.waitFor('the message again after its consumer died holding it', again.promise);
      const attempts = seen.map((d) => d.attempt);
      for (const [i, d] of seen.entries())
        checkSameMessage(`delivery ${i + 1} (attempt ${d.attempt})`, d, sent);
      const [firstTry, secondTry, thirdTry, afterCrash] = attempts;
      check(
        firstTry === 1 &&
          secondTry !== undefined &&
          secondTry > firstTry &&
          thirdTry !== undefined &&
          thirdTry > secondTry,
        `attempts were ${attempts.join(', ')}: each failed handling must add one`,
      );
      // Across consumer instances some brokers only know "redelivered" (C3 covers the count across instances).
      check(
        afterCrash !== undefined && afterCrash > 1,
        `the redelivery after the consumer died reports attempt ${afterCrash}`,
      );
    },
  },
  {
    id: 'C12',
    title: 'with maxDeliveries 25, a message that failed 24 times is delivered a 25th time, intact',
    category: 'consume',
    timeoutMs: 300_000,
    async run(ctx) {
      // A broker that redelivers through a periodic scan (redeliveryWindowMs) takes seconds per redelivery.
      const perRedelivery = (ctx.adapter.redeliveryWindowMs ?? 0) > 0 ? 6_000 : 0;
      const bound = ctx.deliveryTimeoutMs * 2 + 24 * perRedelivery;
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 25 });
      const sent = richMessage(ctx.name('m'), 12);
      await bus.publish(topic, sent);
      const attempts: number[] = [];
      const last = deferred<Delivery>();
      const sub = await bus.subscribe(
        topic,
        's',
        (d) => {
          attempts.push(d.attempt);
          if (d.attempt < 25) throw new Error(`attempt ${d.attempt} fails`);
          last.resolve(d);
        },
        { redeliveryBackoff: tinyRetry, concurrency: 1 },
      );
      ctx.subscriptions.push(sub);
      const got = await ctx.waitFor(
        () => `the 25th delivery (seen attempts ${attempts.join(' ')})`,
        last.promise,
        bound,
      );
      const expected = Array.from({ length: 25 }, (_, i) => i + 1).join();
      check(attempts.join() === expected, `attempts were ${attempts.join(' ')}, expected 1 to 25`);
      checkSameMessage('the 25th delivery', got, sent);
    },
  },
  {
    id: 'C13',
    title: 'the bus closes while a message is being dead-lettered and others are acked: nothing is lost',
    category: 'consume',
    async run(ctx) {
      skipUnless(ctx.capabilities.deadLetters, 'dead letters cannot be read back from this broker');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 2 });
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 20, ledger);
      const poison = richMessage(ctx.name('poison'), 13);
      await bus.publish(topic, poison);
      await ctx.publishMany(bus, topic, 20, ledger);
      let closing: Promise<void> | undefined;
      const closeStarted = deferred();
      await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 8,
        redeliveryBackoff: tinyRetry,
        onError: () => {},
        handler: async (d) => {
          if (d.id === poison.id) {
            if (d.attempt >= 2 && !closing) {
              closing = bus.close(); // the last failure is dead-lettered while the bus closes
              closeStarted.resolve();
            }
            throw new Error(`poison (${d.attempt})`);
          }
          await new Promise((r) => setTimeout(r, 2));
        },
      });
      await ctx.waitFor('the poison message’s last delivery (the bus closes then)', closeStarted.promise);
      await ctx.waitFor(
        'bus.close() while a dead-letter and acks were in flight',
        present(closing, 'bus.close() started at the poison message’s last delivery'),
      );
      const reader = await ctx.bus();
      const dead = deferred<Delivery>();
      const dlq = await reader.subscribe(topic, 's', (d) => dead.resolve(d), { deadLetters: true });
      ctx.subscriptions.push(dlq);
      // Anything returned to the subscription instead comes back here; the poison fails again and is dead-lettered.
      await ctx.consume(reader, topic, 's', ledger, {
        redeliveryBackoff: tinyRetry,
        onError: () => {},
        handler: (d) => {
          if (d.id === poison.id) throw new Error(`poison (${d.attempt})`);
        },
      });
      const got = await ctx.waitFor(
        'the dead letter of the message that failed as the bus closed, via subscribe(…, { deadLetters: true })',
        dead.promise,
      );
      checkSameMessage('the dead letter', got, poison);
      await ctx.expectAllDelivered(ledger, { what: 'messages being acked while the bus closed' });
    },
  },
  {
    id: 'C14',
    title:
      'a subscription closes while a delayed redelivery (nack with delay) is pending: the message comes back',
    category: 'consume',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { maxDeliveries: 5 });
      const sent = richMessage(ctx.name('m'), 14);
      await bus.publish(topic, sent);
      const ledger = new Ledger();
      ledger.expect([sent.id]);
      await ctx.publishMany(bus, topic, 20, ledger);
      const failed = deferred();
      const sub = await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 4,
        redeliveryBackoff: { initialDelayMs: 3_000, maxDelayMs: 3_000, factor: 1, jitter: 'none' },
        onError: (_e, d) => {
          if (d?.id === sent.id) failed.resolve();
        },
        handler: async (d) => {
          if (d.id === sent.id) throw new Error('not now: in 3 s');
          await new Promise((r) => setTimeout(r, 2));
        },
      });
      // Core asks for the delayed redelivery right after it reports the failure: close while that is pending.
      await ctx.waitFor('the handler to fail (a delayed redelivery follows)', failed.promise);
      await ctx.waitFor('the subscription to close', sub.close());
      const back = deferred<Delivery>();
      await ctx.consume(await ctx.bus(), topic, 's', ledger, {
        handler: (d) => {
          if (d.id === sent.id) back.resolve(d);
        },
      });
      const got = await ctx.waitFor(
        'the message whose delayed redelivery was pending when its subscription closed',
        back.promise,
        ctx.deliveryTimeoutMs + 3_000,
      );
      checkSameMessage('the redelivery after the close', got, sent);
      check(got.attempt >= 2, `the redelivery reports attempt ${got.attempt}, expected at least 2`);
      await ctx.expectAllDelivered(ledger, { what: 'messages acked as the subscription closed' });
    },
  },
];
