// F1–F8: the broker killed or restarted, the network cut, the broker unreachable, confirms that never come,
// pushback, a producer process that dies with unconfirmed messages, and a broker silent for longer than the
// client's own timeouts.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLosslessError } from '@lossless/core';
import { check, expectCode, skipUnless } from '../context.js';
import { Ledger } from '../ledger.js';
import { outboxMessage, startWorker } from '../worker.js';
import type { ConformanceCase } from './case.js';
import { checkSameMessage } from './messages.js';

/** A loopback port where nothing listens. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export const faultCases: ConformanceCase[] = [
  {
    id: 'F1',
    title:
      'broker SIGKILLed and restarted during publishing: every confirmed message is delivered, no publish hangs',
    category: 'faults',
    timeoutMs: 300_000,
    async run(ctx) {
      const broker = ctx.requireBroker('killing the broker');
      const bus = await ctx.bus({ publish: { confirmTimeoutMs: 90_000 } });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      let killed: Promise<void> | undefined;
      await ctx.publishMany(bus, topic, 2_000, ledger, {
        callers: 16,
        onConfirm: (n) => {
          if (n === 300) killed = broker.kill().then(() => broker.restart());
        },
      });
      await killed;
      check(
        ledger.confirmed.size + ledger.rejected.size === 2_000,
        `${2_000 - ledger.confirmed.size - ledger.rejected.size} publishes neither resolved nor rejected`,
      );
      for (const code of ledger.rejected.values())
        check(code !== 'NOT_A_LOSSLESS_ERROR', 'an untyped rejection');
      await ctx.consume(await ctx.bus({ connectTimeoutMs: 60_000 }), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { what: 'after the broker was killed' });
    },
  },
  {
    id: 'F2',
    title: 'a broker restart during publishing and consuming: producer and consumer resume by themselves',
    category: 'faults',
    timeoutMs: 300_000,
    async run(ctx) {
      const broker = ctx.requireBroker('restarting the broker');
      const bus = await ctx.bus({ publish: { confirmTimeoutMs: 90_000 } });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.consume(bus, topic, 's', ledger);
      let restarted: Promise<void> | undefined;
      await ctx.publishMany(bus, topic, 1_000, ledger, {
        callers: 8,
        onConfirm: (n) => {
          if (n === 200) restarted = broker.restart();
        },
      });
      await restarted;
      // The same bus and subscription, without any help: new messages flow end to end.
      const confirmedBefore = ledger.confirmed.size;
      await ctx.publishMany(bus, topic, 100, ledger);
      const after = ledger.confirmed.size - confirmedBefore;
      check(after === 100, `after the restart only ${after} of 100 publishes confirmed`);
      await ctx.expectAllDelivered(ledger, { what: 'across the restart' });
    },
  },
  {
    id: 'F3',
    title:
      'the network is cut for seconds: nothing confirmed is lost, publishes in the cut confirm later or fail typed',
    category: 'faults',
    timeoutMs: 300_000,
    async run(ctx) {
      const link = await ctx.faultyLink();
      const bus = await ctx.bus({ driver: link.driver, publish: { confirmTimeoutMs: 60_000 } });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      let cutDone: Promise<void> | undefined;
      await ctx.publishMany(bus, topic, 600, ledger, {
        callers: 8,
        onConfirm: (n) => {
          if (n === 100) {
            cutDone = (async () => {
              // The fault itself lasts a while — that is the case: first silence, then dropped connections.
              await link.cut('blackhole');
              await new Promise((r) => setTimeout(r, 3_000));
              await link.cut('reset');
              await new Promise((r) => setTimeout(r, 3_000));
              await link.restore();
            })();
          }
        },
      });
      await cutDone;
      for (const code of ledger.rejected.values())
        check(code !== 'NOT_A_LOSSLESS_ERROR', 'an untyped rejection');
      const after = await bus.publish(topic, { body: 'after the cut' });
      ledger.attempt(after.id);
      ledger.confirm(after.id);
      await ctx.consume(await ctx.bus(), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { what: 'after the network cut' });
    },
  },
  {
    id: 'F4',
    title: 'broker unreachable at start: a typed error within the configured time',
    category: 'faults',
    async run(ctx) {
      const port = await deadPort();
      const driver = await ctx.driver({ route: { host: '127.0.0.1', port } });
      const started = Date.now();
      await expectCode(
        ctx.bus({ driver, connectTimeoutMs: 3_000 }),
        'UNAVAILABLE',
        'connecting to a dead port',
      );
      const took = Date.now() - started;
      check(took < 3_000 + 2_000, `connect took ${took} ms with connectTimeoutMs 3000`);
    },
  },
  {
    id: 'F5',
    title: 'a confirm that never comes rejects with CONFIRM_TIMEOUT',
    category: 'faults',
    async run(ctx) {
      const link = await ctx.faultyLink();
      const bus = await ctx.bus({ driver: link.driver, publish: { confirmTimeoutMs: 2_000 } });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      await bus.publish(topic, { body: 'before' });
      await link.cut('blackhole');
      const started = Date.now();
      const error = await expectCode(
        bus.publish(topic, { body: 'lost in the void?' }),
        'CONFIRM_TIMEOUT',
        'a publish during a blackhole',
      );
      check(error.retriable, 'CONFIRM_TIMEOUT must be retriable (the message may be stored)');
      check(
        Date.now() - started < 2_000 + 3_000,
        `the timeout took ${Date.now() - started} ms for 2000 configured`,
      );
    },
  },
  {
    id: 'F6',
    title:
      'when the broker pushes back, publishing waits a bounded time, memory stays bounded, then fails typed',
    category: 'faults',
    async run(ctx) {
      const link = await ctx.faultyLink();
      const bus = await ctx.bus({
        driver: link.driver,
        publish: { maxPending: 50, pendingWaitMs: 500, confirmTimeoutMs: 60_000 },
      });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      await link.cut('blackhole');
      const started = Date.now();
      const outcomes = Array.from({ length: 1_000 }, (_, i) =>
        bus.publish(topic, { body: `m${i}` }).then(
          () => 'confirmed',
          (e: unknown) => (isLosslessError(e) ? e.code : 'untyped'),
        ),
      );
      check(bus.pendingConfirms <= 50, `${bus.pendingConfirms} unconfirmed messages held with maxPending 50`);
      // Everything beyond the bound settles within the bounded wait, without the broker's help.
      const beyond = await Promise.race([
        Promise.all(outcomes.slice(50)),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000)),
      ]);
      check(beyond, 'publishes beyond the pending bound did not settle within 10 s');
      check(
        Date.now() - started < 5_000,
        `the bounded wait took ${Date.now() - started} ms (pendingWaitMs 500)`,
      );
      const codes = new Set(beyond);
      check(codes.size === 1 && codes.has('RESOURCE_EXHAUSTED'), `over the bound: ${[...codes].join(', ')}`);
      check(bus.pendingConfirms <= 50, `${bus.pendingConfirms} unconfirmed messages held with maxPending 50`);
      await link.restore();
      const first = await Promise.all(outcomes.slice(0, 50));
      for (const c of first)
        check(c === 'confirmed' || c === 'CONFIRM_TIMEOUT' || c === 'UNAVAILABLE', `held publish ended ${c}`);
    },
  },
  {
    id: 'F7',
    title: 'a producer SIGKILLed with unconfirmed messages in its durable outbox: on restart nothing is lost',
    category: 'faults',
    timeoutMs: 300_000,
    async run(ctx) {
      skipUnless(
        ctx.capabilities.externalProcess,
        'the broker lives in the producer’s process, so it dies with it',
      );
      const module = ctx.adapter.module;
      skipUnless(module, 'the adapter names no module a child process can load');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const outboxPath = mkdtempSync(join(tmpdir(), 'lossless-f7-'));
      ctx.cleanups.push(async () => rmSync(outboxPath, { recursive: true, force: true }));
      const ledger = new Ledger();
      let heldAtKill = 0;
      let failure: string | undefined;
      let enough!: () => void;
      const accepted = new Promise<void>((r) => {
        enough = r;
      });
      const base = { adapterModule: module, settings: ctx.settings, topic, outboxPath };
      const idPrefix = ctx.name('m');
      // Every id the producer may publish counts as attempted: one accepted (and sent) just before the kill
      // whose report never reached us is a message we did not hear about, not a phantom.
      for (let i = 0; i < 3_000; i++) ledger.attempt(`${idPrefix}-${i}`);
      const producer = startWorker({ ...base, role: 'outbox-producer', count: 3_000, idPrefix }, (e) => {
        if (e.type === 'accepted') {
          ledger.confirm(e.id); // accepted by the outbox: from now on it must arrive
          heldAtKill = e.outboxSize;
          if (ledger.confirmed.size >= 1_000) enough();
        }
        if (e.type === 'error') {
          failure = e.message;
          enough();
        }
      });
      ctx.cleanups.push(() => producer.kill());
      await Promise.race([accepted, new Promise((r) => setTimeout(r, ctx.deliveryTimeoutMs))]);
      await producer.kill();
      check(!failure, `the producer process failed: ${failure}`);
      check(
        ledger.confirmed.size >= 1_000,
        `the producer had only ${ledger.confirmed.size} messages accepted`,
      );
      let flushed!: (n: number) => void;
      const replayedAll = new Promise<number>((r) => {
        flushed = r;
      });
      const replayer = startWorker({ ...base, role: 'outbox-replayer' }, (e) => {
        if (e.type === 'flushed') flushed(e.replayed);
        if (e.type === 'error') failure = e.message;
      });
      ctx.cleanups.push(() => replayer.kill());
      const replayed = await Promise.race([
        replayedAll,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), ctx.deliveryTimeoutMs * 2)),
      ]);
      check(!failure, `the restarted producer failed: ${failure}`);
      check(replayed !== undefined, 'the restarted producer did not empty its outbox in time');
      // A replayed message is the message the producer published: key, timestamp and every header included.
      let changed: string | undefined;
      await ctx.consume(await ctx.bus(), topic, 's', ledger, {
        handler: (d) => {
          if (changed || !d.id.startsWith(`${idPrefix}-`)) return;
          const m = outboxMessage(idPrefix, Number(d.id.slice(idPrefix.length + 1)));
          const sent = {
            id: m.id,
            key: m.key,
            timestamp: m.timestamp,
            headers: m.headers,
            body: new TextEncoder().encode(m.body),
          };
          try {
            checkSameMessage(`message ${d.id} after the outbox replay`, d, sent);
          } catch (error) {
            changed = (error as Error).message;
          }
        },
      });
      await ctx.expectAllDelivered(ledger, {
        what: `after SIGKILL with ~${heldAtKill} messages in the outbox`,
      });
      check(!changed, changed ?? '');
      check(replayed > 0, 'nothing was left unconfirmed in the outbox at the kill, so nothing was proven');
    },
  },
  {
    id: 'F8',
    title:
      'the broker is silent for 10 s, then drops the connection: no publish resolves in the silence, all end confirmed or typed',
    category: 'faults',
    timeoutMs: 120_000,
    async run(ctx) {
      const silenceMs = 10_000;
      const confirmTimeoutMs = 30_000;
      const link = await ctx.faultyLink();
      const bus = await ctx.bus({ driver: link.driver, publish: { confirmTimeoutMs } });
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      ledger.expect([(await bus.publish(topic, { body: 'before the silence' })).id]);
      await link.cut('blackhole');
      let silent = true;
      const resolvedInSilence: string[] = [];
      const tag = ctx.name('m');
      const outcomes = Array.from({ length: 20 }, (_, i) => {
        const id = `${tag}-${i}`;
        ledger.attempt(id);
        return bus.publish(topic, { id, body: `sent into the silence ${i}` }).then(
          () => {
            if (silent) resolvedInSilence.push(id);
            ledger.confirm(id);
          },
          (e: unknown) => ledger.reject(id, isLosslessError(e) ? e.code : 'NOT_A_LOSSLESS_ERROR'),
        );
      });
      // The fault itself lasts this long — longer than a client's request timeouts and heartbeats.
      await new Promise((r) => setTimeout(r, silenceMs));
      silent = false;
      check(
        resolvedInSilence.length === 0,
        `${resolvedInSilence.length} publishes resolved while the broker answered nothing (${resolvedInSilence[0]}…)`,
      );
      await link.cut('reset');
      await new Promise((r) => setTimeout(r, 1_000));
      await link.restore();
      await ctx.waitFor(
        () =>
          `every publish made in the silence to end confirmed or rejected (${ledger.confirmed.size} confirmed, ` +
          `${ledger.rejected.size} rejected of 20)`,
        Promise.all(outcomes),
        confirmTimeoutMs + 15_000,
      );
      for (const code of ledger.rejected.values())
        check(code !== 'NOT_A_LOSSLESS_ERROR', 'an untyped rejection');
      const after = await bus.publish(topic, { body: 'after the silence' });
      ledger.attempt(after.id);
      ledger.confirm(after.id);
      await ctx.consume(await ctx.bus(), topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { what: 'after the silence and the reset' });
    },
  },
];
