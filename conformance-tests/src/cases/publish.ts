// P1–P11: what a publish promises — bytes and headers round-trip, validation before sending, a durable confirm
// that survives SIGKILL of the broker, typed errors (unroutable, cancelled, too large, closed), per-entry batch
// results, no loss under concurrency, per-key order.
import { type Delivery, Limits } from '@lossless/core';
import { type CaseContext, check, expectCode, present, skipUnless } from '../context.js';
import { Ledger } from '../ledger.js';
import type { ConformanceCase } from './case.js';
import { headerBytes, headersOfSize, patternBytes, patternText, sameBytes } from './messages.js';

/**
 * Header bytes the adapter says its broker carries: core's limits, unless the driver declares a smaller
 * `maxHeaderBytes` (not yet a Capabilities member; RocketMQ's proxy takes 16 KiB of properties, amqplib a 64 KiB
 * header table).
 */
function headerBudget(ctx: CaseContext): number {
  const declared = (ctx.capabilities as { maxHeaderBytes?: number }).maxHeaderBytes;
  const core = Limits.headersMax * (Limits.headerValueMaxBytes + Limits.headerNameMaxBytes);
  return typeof declared === 'number' && declared > 0 ? Math.min(declared, core) : core;
}

/** Publishes one message with `headers` and a body that fills the rest of maxMessageBytes; checks every byte. */
async function roundTripHeaders(ctx: CaseContext, what: string, headers: Record<string, string>) {
  const bus = await ctx.bus();
  const { topic } = await ctx.topic(bus, 't', ['s']);
  const body = patternBytes(ctx.capabilities.maxMessageBytes - headerBytes(headers), what.length);
  const { id } = await bus.publish(topic, { headers, body });
  let got: Delivery | undefined;
  const ledger = new Ledger();
  ledger.expect([id]);
  await ctx.consume(bus, topic, 's', ledger, {
    handler: (d) => {
      got = d;
    },
  });
  await ctx.expectAllDelivered(ledger);
  const d = present(got, `${what}: the delivered message`);
  const missing = Object.keys(headers).filter((h) => d.headers[h] === undefined);
  check(missing.length === 0, `${what}: ${missing.length} headers were dropped (${missing.slice(0, 4)}…)`);
  for (const [h, v] of Object.entries(headers)) {
    const arrived = present(d.headers[h], `${what}: header ${h}`);
    check(
      arrived === v,
      `${what}: header ${h} of ${v.length} bytes arrived with ${Buffer.byteLength(arrived)} bytes or changed`,
    );
  }
  check(sameBytes(d.body, body), `${what}: the body of ${body.byteLength} bytes changed`);
}

export const publishCases: ConformanceCase[] = [
  {
    id: 'P1',
    title: 'bodies round-trip byte for byte (empty, binary, UTF-8, exactly maxMessageBytes)',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      // The largest body the adapter declares it carries (no headers: the whole limit is the body's), and one a
      // little under it: a frame or fetch size that forgot the envelope breaks exactly there.
      const max = ctx.capabilities.maxMessageBytes;
      const bodies: Record<string, Uint8Array> = {
        empty: new Uint8Array(0),
        binary: Uint8Array.from({ length: 256 }, (_, i) => i),
        utf8: new TextEncoder().encode('Grüße, 世界, 🚚 — ñ'),
        'at-the-limit': patternBytes(max, 1),
        'just-under-the-limit': patternBytes(max - 1_000, 2),
      };
      const sent: { name: string; body: Uint8Array; id: string }[] = [];
      for (const [name, body] of Object.entries(bodies)) {
        sent.push({ name, body, id: (await bus.publish(topic, { body })).id });
      }
      const got = new Map<string, Uint8Array>();
      const ledger = new Ledger();
      ledger.expect(sent.map((s) => s.id));
      await ctx.consume(bus, topic, 's', ledger, { handler: (d) => void got.set(d.id, d.body) });
      await ctx.expectAllDelivered(ledger);
      for (const { name, body, id } of sent) {
        const received = got.get(id);
        check(
          received && sameBytes(received, body),
          `the ${name} body (${body.byteLength} bytes) changed in transit`,
        );
      }
    },
  },
  {
    id: 'P2',
    title: 'headers round-trip (unicode included); id, key and timestamp are preserved',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const headers = {
        type: 'OrderPaid',
        'ünïcödé-name': 'välüe ✓ 世界',
        empty: '',
        'Case-Sensitive': 'Yes',
      };
      const timestamp = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
      const id = ctx.name('id');
      await bus.publish(topic, { id, key: 'customer-ü-7', headers, timestamp, body: 'x' });
      const ledger = new Ledger();
      ledger.attempt(id);
      ledger.confirm(id);
      let got: Delivery | undefined;
      await ctx.consume(bus, topic, 's', ledger, {
        handler: (d) => {
          got = d;
        },
      });
      await ctx.expectAllDelivered(ledger);
      check(got, 'nothing was delivered');
      check(got.id === id, `id changed: ${got.id}`);
      check(got.key === 'customer-ü-7', `key changed: ${got.key}`);
      check(got.timestamp === timestamp, `timestamp changed: ${got.timestamp} (sent ${timestamp})`);
      for (const [k, v] of Object.entries(headers)) {
        check(
          got.headers[k] === v,
          `header ${k} arrived as ${JSON.stringify(got.headers[k])}, sent ${JSON.stringify(v)}`,
        );
      }
    },
  },
  {
    id: 'P3',
    title: 'invalid names and headers are rejected before anything is sent',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const before = bus.spy.sends;
      await expectCode(
        bus.publish('bad name!', { body: 'x' }),
        'INVALID_ARGUMENT',
        'a topic name with a space',
      );
      await expectCode(bus.publish('', { body: 'x' }), 'INVALID_ARGUMENT', 'an empty topic name');
      await expectCode(bus.publish('a.b', { body: 'x' }), 'INVALID_ARGUMENT', 'a topic name with a dot');
      await expectCode(
        bus.publish(topic, { body: 'x', headers: { n: 1 as unknown as string } }),
        'INVALID_ARGUMENT',
        'a number as a header value',
      );
      await expectCode(
        bus.publish(topic, { body: 'x', headers: { 'x-lossless-id': 'forged' } }),
        'INVALID_ARGUMENT',
        'a reserved header',
      );
      await expectCode(
        bus.publish(topic, { body: 'x', headers: { 'a\nb': 'x' } }),
        'INVALID_ARGUMENT',
        'a header name with a newline',
      );
      await expectCode(
        bus.publish(topic, { body: 'x', id: 'has space' }),
        'INVALID_ARGUMENT',
        'an id with a space',
      );
      await expectCode(
        bus.declare({ topics: [{ name: 'bad/topic' }] }),
        'INVALID_ARGUMENT',
        'declaring an invalid topic name',
      );
      check(bus.spy.sends === before, `the driver was asked to send ${bus.spy.sends - before} times`);
    },
  },
  {
    id: 'P4',
    title: 'publish resolves only after a durable confirm: resolved messages survive SIGKILL of the broker',
    category: 'publish',
    timeoutMs: 300_000,
    async run(ctx) {
      const broker = ctx.requireBroker('killing the broker');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 500, ledger, { callers: 32 });
      check(ledger.confirmed.size === 500, `only ${ledger.confirmed.size} of 500 confirmed before the kill`);
      await broker.kill();
      await broker.restart();
      const consumer = await ctx.bus({ connectTimeoutMs: 60_000 });
      await ctx.consume(consumer, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger);
    },
  },
  {
    id: 'P5',
    title: 'an unroutable message is a typed error (UNROUTABLE) for that message',
    category: 'publish',
    async run(ctx) {
      skipUnless(
        ctx.capabilities.unroutable,
        'the broker keeps every message of a topic (a log): there is no unroutable message',
      );
      const bus = await ctx.bus();
      const topic = ctx.name('lonely');
      await bus.declare({ topics: [{ name: topic }] });
      await expectCode(
        bus.publish(topic, { body: 'x' }),
        'UNROUTABLE',
        'publish to a topic with no subscription',
      );
      // The same bus still publishes routable messages.
      const routed = await ctx.topic(bus, 'routed', ['s']);
      await bus.publish(routed.topic, { body: 'y' });
    },
  },
  {
    id: 'P6',
    title: 'a batch publish reports one result per entry',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ids = [ctx.name('b0'), ctx.name('b1'), ctx.name('b2'), ctx.name('b3'), ctx.name('b4')] as const;
      const results = await bus.publishBatch(topic, [
        { id: ids[0], body: 'a' },
        { id: ids[1], body: 'b', headers: { bad: 7 as unknown as string } },
        { id: ids[2], body: 'c' },
        { id: ids[3], body: new Uint8Array(ctx.capabilities.maxMessageBytes + 1) },
        { id: ids[4], body: 'e' },
      ]);
      check(results.length === 5, `${results.length} results for 5 entries`);
      const shape = results.map((r) => (r.ok ? 'ok' : r.error.code)).join(',');
      check(shape === 'ok,INVALID_ARGUMENT,ok,TOO_LARGE,ok', `per-entry results were ${shape}`);
      const ledger = new Ledger();
      ledger.expect([ids[0], ids[2], ids[4]]);
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
    },
  },
  {
    id: 'P7',
    title: '10,000 messages from 50 concurrent callers: none lost',
    category: 'publish',
    timeoutMs: 300_000,
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 4 });
      const ledger = new Ledger();
      await ctx.consume(bus, topic, 's', ledger, { concurrency: 64, prefetch: 256 });
      await ctx.publishMany(bus, topic, 10_000, ledger, {
        callers: 50,
        message: (i) => ({ body: `order ${i}`, key: `customer-${i % 97}` }),
      });
      check(
        ledger.confirmed.size === 10_000,
        `${ledger.rejected.size} publishes were rejected: ${[...new Set(ledger.rejected.values())].join(', ')}`,
      );
      await ctx.expectAllDelivered(ledger);
    },
  },
  {
    id: 'P8',
    title: 'an aborted signal rejects with CANCELLED',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const aborted = new AbortController();
      aborted.abort(new Error('caller gave up'));
      await expectCode(
        bus.publish(topic, { body: 'x' }, { signal: aborted.signal }),
        'CANCELLED',
        'an aborted signal',
      );
      const late = new AbortController();
      const p = bus.publish(topic, { body: 'y' }, { signal: late.signal });
      late.abort();
      // Aborted after the call: CANCELLED, or confirmed if the confirm won the race — never a hang.
      const outcome = await p.then(
        () => 'confirmed',
        (e: { code?: string }) => e.code,
      );
      check(outcome === 'CANCELLED' || outcome === 'confirmed', `an abort in flight ended as ${outcome}`);
    },
  },
  {
    id: 'P9',
    title: 'an oversized payload is rejected with TOO_LARGE',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const before = bus.spy.sends;
      await expectCode(
        bus.publish(topic, { body: new Uint8Array(ctx.capabilities.maxMessageBytes + 1) }),
        'TOO_LARGE',
        `a body of maxMessageBytes + 1 (${ctx.capabilities.maxMessageBytes + 1} bytes)`,
      );
      check(bus.spy.sends === before, 'the oversized message was handed to the driver');
    },
  },
  {
    id: 'P10',
    title: 'publish after close rejects with CLOSED; closing twice is harmless',
    category: 'publish',
    async run(ctx) {
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      await bus.publish(topic, { body: 'before' });
      await bus.close();
      await bus.close();
      await expectCode(bus.publish(topic, { body: 'after' }), 'CLOSED', 'publish after close');
    },
  },
  {
    id: 'P11',
    title: 'messages with the same key keep their publish order',
    category: 'publish',
    async run(ctx) {
      skipUnless(ctx.capabilities.keyOrdering, 'the broker cannot keep the order of a key');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s'], { partitions: 4, ordering: 'key' });
      const keys = ['a', 'b', 'c', 'd', 'e'];
      const ledger = new Ledger();
      // Pipelined: every publish is issued before any confirm, in order per key.
      const tag = ctx.name('m');
      await Promise.all(
        Array.from({ length: 500 }, (_, i) => {
          const id = `${tag}-${i}`;
          ledger.attempt(id);
          const key = present(keys[i % keys.length], `a key for message ${i}`);
          return bus.publish(topic, { id, key, body: String(i) }).then(
            () => ledger.confirm(id),
            (e: { code?: string }) => ledger.reject(id, e.code ?? 'UNKNOWN'),
          );
        }),
      );
      check(ledger.confirmed.size === 500, `${ledger.rejected.size} of 500 publishes were rejected`);
      const seen = new Map<string, number[]>();
      const keyless: string[] = [];
      await ctx.consume(bus, topic, 's', ledger, {
        concurrency: 1,
        handler: (d) => {
          if (d.attempt !== 1) return;
          if (d.key === undefined) keyless.push(d.id);
          else seen.set(d.key, [...(seen.get(d.key) ?? []), Number(d.text())]);
        },
      });
      await ctx.expectAllDelivered(ledger);
      check(
        keyless.length === 0,
        `${keyless.length} messages arrived without their key (${keyless.slice(0, 4)}…)`,
      );
      for (const k of keys) {
        const seq = seen.get(k) ?? [];
        const sorted = [...seq].sort((x, y) => x - y);
        check(seq.join() === sorted.join(), `key ${k} arrived out of order: ${seq.slice(0, 20).join(' ')}…`);
      }
    },
  },
  {
    id: 'P12',
    title:
      "a header value of core's largest size round-trips, with the body filling the rest of maxMessageBytes",
    category: 'publish',
    async run(ctx) {
      const value = Math.min(Limits.headerValueMaxBytes, headerBudget(ctx) - 'big'.length);
      const headers = { big: patternText(value, 3) };
      await roundTripHeaders(ctx, 'one header value of Limits.headerValueMaxBytes', headers);
    },
  },
  {
    id: 'P13',
    title: 'the broker refuses one record in the middle of a batch: each record gets its own outcome',
    category: 'publish',
    async run(ctx) {
      const faults = ctx.sendFaults();
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ids = Array.from({ length: 9 }, (_, i) => ctx.name(`b${i}`));
      const refused = present(ids[3], 'a 4th record id'); // every time: the publish fails with the broker's refusal
      const refusedOnce = present(ids[6], 'a 7th record id'); // the first time only: core re-sends it and it is confirmed
      let refusedOnceYet = false;
      const stop = faults.refuse((t, id) => {
        if (t !== topic) return undefined;
        if (id === refused) return { retriable: false };
        if (id === refusedOnce && !refusedOnceYet) {
          refusedOnceYet = true;
          return { retriable: true };
        }
        return undefined;
      });
      ctx.cleanups.push(async () => stop());
      const sendsBefore = bus.spy.sends;
      const results = await bus.publishBatch(
        topic,
        ids.map((id, i) => ({ id, body: `record ${i}` })),
      );
      stop();
      check(bus.spy.sends > sendsBefore, 'the batch never reached the driver');
      check(
        bus.spy.largestBatch >= ids.length,
        `core sent the batch in pieces (${bus.spy.largestBatch} at most)`,
      );
      const shape = results.map((r) => (r.ok ? 'ok' : r.error.code)).join(',');
      check(
        shape === 'ok,ok,ok,NACKED,ok,ok,ok,ok,ok',
        `per-record outcomes were ${shape}, expected only the 4th refused (NACKED)`,
      );
      const again = present(results[6], 'an outcome for the 7th record');
      check(
        again.ok && again.receipt.attempts === 2,
        `the record refused once was confirmed after ${again.ok ? again.receipt.attempts : 0} sends, expected 2`,
      );
      const ledger = new Ledger();
      for (const [i, r] of results.entries()) {
        const id = present(ids[i], `the id of record ${i + 1}`);
        ledger.attempt(id);
        if (r.ok) ledger.confirm(id);
        else ledger.reject(id, r.error.code);
      }
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0, what: 'the records the broker took' });
    },
  },
  {
    id: 'P14',
    title: "core's most headers, as large as the message allows, round-trip with the body filling the rest",
    category: 'publish',
    async run(ctx) {
      // As many headers as core allows, as large as each may be, within maxMessageBytes (1 KiB left for a body).
      const total = Math.min(
        Limits.headersMax * (3 + Limits.headerValueMaxBytes),
        ctx.capabilities.maxMessageBytes - 1_024,
        headerBudget(ctx),
      );
      const headers = headersOfSize(Limits.headersMax, total, 5);
      await roundTripHeaders(ctx, `${Limits.headersMax} headers of ${total} bytes in all`, headers);
    },
  },
  {
    id: 'P15',
    title:
      'one caller publishing in sequence, resuming 0-16 microtasks or a macrotask after each confirm: none hangs',
    category: 'publish',
    async run(ctx) {
      // A driver whose send queue goes idle a few microtasks after its last answer can miss a send that arrives
      // in between: the publish then never settles. Callers resume at different moments (a wrapper, a
      // middleware, an await more or less); each gap is tried in turn, on one key and without one.
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      const tag = ctx.name('m');
      const gaps = [...Array.from({ length: 17 }, (_, k) => k), -1]; // 0-16 microtasks; -1: setImmediate
      let i = 0;
      for (const gap of gaps) {
        for (let n = 0; n < 8; n++, i++) {
          const id = `${tag}-${i}`;
          ledger.attempt(id);
          const sent = bus.publish(topic, { id, body: String(i), ...(n % 2 === 0 ? { key: 'one' } : {}) });
          try {
            await ctx.waitFor(
              `the confirm of publish ${i} (resuming ${gap} microtasks after the one before)`,
              sent,
            );
            ledger.confirm(id);
          } catch (error) {
            ledger.reject(id, (error as { code?: string }).code ?? 'UNKNOWN');
            throw error;
          }
          if (gap < 0) await new Promise((r) => setImmediate(r));
          else for (let k = 0; k < gap; k++) await Promise.resolve();
        }
      }
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger);
    },
  },
];
