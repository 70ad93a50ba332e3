// S1–S7: a broker that requires TLS and authentication (`--secure`, the kit's secured fixtures). The admin works
// over verified TLS; every way of getting it wrong — a wrong password, a certificate from another CA, a name the
// certificate does not carry, plaintext on the TLS port — is a typed error within seconds, never a connection that
// works unverified; the limited user is refused, on that call only, wherever it has no rights. None of the errors
// carries a password (the run's whole output is checked by the test that runs the suite with --secure).
import { inspect } from 'node:util';
import { type Bus, isLosslessError, type LosslessError } from '@lossless/core';
import type { SecurityRequest } from '../adapter.js';
import { type CaseContext, ConformanceFailure, check, deferred, expectCode } from '../context.js';
import { proxyLink } from '../faulty-link.js';
import { Ledger } from '../ledger.js';
import type { ConformanceCase } from './case.js';

/** A wrong password a test can grep for: it must never be printed either. */
export const WRONG_PASSWORD = 'Wr0ng-pa55word-of-the-suite';

/** How fast a refusal must come: a couple of seconds of handshakes, never the connect or confirm deadline. */
const REFUSAL_MS = 5_000;
/** How long a case watches for reconnect attempts after a refusal. */
const STORM_WATCH_MS = 5_000;
/** TCP connections a driver may open before and after an authentication failure (a few handshakes, no storm). */
const MAX_ATTEMPTS = 3;

/** Fails unless `error`'s message, stack, cause and inspect output hold none of the secured fixture's passwords. */
function checkNoSecret(ctx: CaseContext, error: unknown, what: string): void {
  const security = ctx.secured(what);
  const text = `${error instanceof Error ? `${error.message}\n${error.stack}` : String(error)}\n${inspect(error, { depth: 10 })}`;
  for (const secret of [security.admin.password, security.limited.password, WRONG_PASSWORD]) {
    check(!text.includes(secret), `${what}: the error shows a password (${secret.slice(0, 3)}…)`);
  }
}

/**
 * Opens a bus as `security` asks and, when connect() succeeds, publishes once to `topic`: the first call that
 * talks to the broker must reject with `code` within `withinMs`. Returns the error and how long it took.
 */
async function firstRefusal(
  ctx: CaseContext,
  security: SecurityRequest,
  topic: string,
  code: string,
  what: string,
  options: { withinMs?: number; driver?: Awaited<ReturnType<CaseContext['driver']>> } = {},
): Promise<{ error: LosslessError; tookMs: number }> {
  const withinMs = options.withinMs ?? REFUSAL_MS;
  const started = Date.now();
  const attempt = (async () => {
    const bus = await ctx.bus({
      ...(options.driver ? { driver: options.driver } : { security }),
      connectTimeoutMs: 30_000,
    });
    await bus.publish(topic, { id: ctx.name('refused'), body: 'must not be stored' });
  })();
  const error = await expectCode(
    ctx.waitFor(`${what}: the first call to be refused`, attempt, withinMs + 10_000),
    code,
    what,
  );
  const tookMs = Date.now() - started;
  check(tookMs <= withinMs, `${what}: refused after ${tookMs} ms, more than ${withinMs} ms`);
  checkNoSecret(ctx, error, what);
  return { error, tookMs };
}

/** Declares, as admin, a topic with one subscription 's' whose name the limited user may (or may not) use. */
async function adminTopic(ctx: CaseContext, admin: Bus, suffix: string, granted: boolean): Promise<string> {
  const topic = granted ? ctx.grantedName(suffix) : ctx.name(suffix);
  await admin.declare({ topics: [{ name: topic }], subscriptions: [{ name: 's', topic }] });
  return topic;
}

/** Nothing arrives on `topic`'s subscription 's' but a sentinel the admin publishes now. */
async function expectEmpty(ctx: CaseContext, admin: Bus, topic: string, what: string): Promise<void> {
  const seen = await ctx.drainUntilSentinel(admin, topic, 's');
  check(seen.length === 0, `${what}: ${seen.length} message(s) arrived on a topic the user may not write to`);
}

export const securityCases: readonly ConformanceCase[] = [
  {
    id: 'S1',
    title: 'over verified TLS with authentication: declare, publish, consume and ack, nothing lost',
    category: 'security',
    async run(ctx) {
      ctx.secured('S1');
      const bus = await ctx.bus();
      const { topic } = await ctx.topic(bus, 't', ['s']);
      const ledger = new Ledger();
      await ctx.publishMany(bus, topic, 100, ledger);
      check(ledger.confirmed.size === 100, `only ${ledger.confirmed.size} of 100 publishes were confirmed`);
      await ctx.consume(bus, topic, 's', ledger);
      await ctx.expectAllDelivered(ledger, { maxDuplicates: 0 });
      const health = await bus.health();
      check(health.state === 'connected', `health says ${health.state} on a working secured connection`);
    },
  },
  {
    id: 'S2',
    title: 'a wrong password is PERMISSION_DENIED within seconds, without a reconnect storm',
    category: 'security',
    timeoutMs: 60_000,
    async run(ctx) {
      ctx.secured('S2');
      const admin = await ctx.bus();
      const { topic } = await ctx.topic(admin, 't', ['s']);
      const security: SecurityRequest = { user: 'admin', password: WRONG_PASSWORD };
      const link = await proxyLink(ctx.adapter, ctx.settings, security);
      ctx.links.push(link);
      await firstRefusal(ctx, security, topic, 'PERMISSION_DENIED', 'a wrong password', {
        driver: link.driver,
      });
      const atRefusal = link.proxy.stats().accepted;
      // An absence (no more attempts) can only be shown by watching for a while.
      await new Promise((r) => setTimeout(r, STORM_WATCH_MS));
      const total = link.proxy.stats().accepted;
      check(
        total <= MAX_ATTEMPTS,
        `the driver opened ${total} connections with a wrong password (${total - atRefusal} after the refusal, ` +
          `within ${STORM_WATCH_MS} ms): a reconnect storm; at most ${MAX_ATTEMPTS} are expected`,
      );
      await expectEmpty(ctx, admin, topic, 'a wrong password');
    },
  },
  {
    id: 'S3',
    title: 'a server certificate from a CA the client does not trust is PERMISSION_DENIED, nothing is sent',
    category: 'security',
    timeoutMs: 60_000,
    async run(ctx) {
      ctx.secured('S3');
      const admin = await ctx.bus();
      const { topic } = await ctx.topic(admin, 't', ['s']);
      await firstRefusal(
        ctx,
        { user: 'admin', trust: 'impostor' },
        topic,
        'PERMISSION_DENIED',
        'an untrusted CA',
      );
      await expectEmpty(ctx, admin, topic, 'an untrusted CA');
    },
  },
  {
    id: 'S4',
    title: 'a server certificate without the expected name is PERMISSION_DENIED, nothing is sent',
    category: 'security',
    timeoutMs: 60_000,
    async run(ctx) {
      ctx.secured('S4');
      const admin = await ctx.bus();
      const { topic } = await ctx.topic(admin, 't', ['s']);
      await firstRefusal(
        ctx,
        { user: 'admin', servername: 'wrong.example' },
        topic,
        'PERMISSION_DENIED',
        'a server name the certificate does not carry',
      );
      await expectEmpty(ctx, admin, topic, 'a wrong server name');
    },
  },
  {
    id: 'S5',
    title: 'a plaintext client on the TLS port gets a typed error fast, never a working connection',
    category: 'security',
    timeoutMs: 90_000,
    async run(ctx) {
      ctx.secured('S5');
      const admin = await ctx.bus();
      const { topic } = await ctx.topic(admin, 't', ['s']);
      const started = Date.now();
      let outcome: unknown;
      try {
        const bus = await ctx.bus({ security: { user: 'admin', plaintext: true }, connectTimeoutMs: 10_000 });
        await bus.publish(topic, { id: ctx.name('plain'), body: 'must not be stored' });
      } catch (error) {
        outcome = error;
      }
      const took = Date.now() - started;
      check(outcome !== undefined, 'a plaintext client on the TLS port connected and published');
      check(
        isLosslessError(outcome),
        `a plaintext client got ${outcome instanceof Error ? outcome.name : typeof outcome}, not a LosslessError`,
      );
      check(took <= 15_000, `the plaintext client was refused after ${took} ms, more than 15000 ms`);
      checkNoSecret(ctx, outcome, 'plaintext on the TLS port');
      await expectEmpty(ctx, admin, topic, 'a plaintext client');
    },
  },
  {
    id: 'S6',
    title:
      'a user publishing where it may not gets PERMISSION_DENIED on that publish, fast; its other publishes are confirmed and delivered',
    category: 'security',
    timeoutMs: 180_000,
    async run(ctx) {
      ctx.secured('S6');
      const admin = await ctx.bus();
      const open = await adminTopic(ctx, admin, 'open', true);
      const closed = await adminTopic(ctx, admin, 'closed', false);
      const limited = await ctx.bus({ security: { user: 'limited' } });
      const ledger = new Ledger();
      const refusals: { code: string; ms: number }[] = [];
      await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const id = ctx.name(`open-${i}`);
          ledger.attempt(id);
          const refused = (async () => {
            const started = Date.now();
            try {
              await limited.publish(closed, { id: ctx.name(`closed-${i}`), body: `closed ${i}` });
              refusals.push({ code: 'CONFIRMED', ms: Date.now() - started });
            } catch (error) {
              checkNoSecret(ctx, error, 'a refused publish');
              refusals.push({
                code: isLosslessError(error) ? error.code : 'NOT_A_LOSSLESS_ERROR',
                ms: Date.now() - started,
              });
            }
          })();
          try {
            await limited.publish(open, { id, body: `open ${i}` });
            ledger.confirm(id);
          } catch (error) {
            ledger.reject(id, isLosslessError(error) ? error.code : 'NOT_A_LOSSLESS_ERROR');
          }
          await refused;
        }),
      );
      const wrong = refusals.filter((r) => r.code !== 'PERMISSION_DENIED');
      check(
        wrong.length === 0,
        `publishes where the user may not write: ${wrong.map((r) => r.code).join(', ')} instead of PERMISSION_DENIED`,
      );
      const slowest = Math.max(...refusals.map((r) => r.ms));
      check(slowest <= REFUSAL_MS, `a refused publish took ${slowest} ms, more than ${REFUSAL_MS} ms`);
      check(
        ledger.confirmed.size === 20,
        `only ${ledger.confirmed.size} of 20 allowed publishes were confirmed (${[...ledger.rejected.values()].join(', ')})`,
      );
      await ctx.consume(admin, open, 's', ledger);
      await ctx.expectAllDelivered(ledger);
      await expectEmpty(ctx, admin, closed, 'refused publishes');
    },
  },
  {
    id: 'S7',
    title: 'a user subscribing where it may not read gets PERMISSION_DENIED; where it may, it consumes',
    category: 'security',
    timeoutMs: 180_000,
    async run(ctx) {
      ctx.secured('S7');
      const admin = await ctx.bus();
      const open = await adminTopic(ctx, admin, 'open', true);
      const closed = await adminTopic(ctx, admin, 'closed', false);
      const openLedger = new Ledger();
      const closedLedger = new Ledger();
      await ctx.publishMany(admin, open, 10, openLedger);
      await ctx.publishMany(admin, closed, 10, closedLedger);
      const limited = await ctx.bus({ security: { user: 'limited' } });

      // Refused either by subscribe() itself or, for drivers that start consuming in the background, through
      // onError: both are what a user observes, and within 10 s.
      const reported = deferred<LosslessError>();
      let handled = 0;
      const started = Date.now();
      let refusal: unknown;
      try {
        const sub = await limited.subscribe(
          closed,
          's',
          async () => {
            handled++;
          },
          { onError: (error) => reported.resolve(error) },
        );
        ctx.subscriptions.push(sub);
        refusal = await ctx.waitFor('subscribe() or onError to report the refusal', reported.promise, 10_000);
      } catch (error) {
        refusal = error;
      }
      if (refusal instanceof ConformanceFailure) throw refusal;
      check(
        isLosslessError(refusal) && refusal.code === 'PERMISSION_DENIED',
        `subscribing where the user may not read: ${isLosslessError(refusal) ? refusal.code : String(refusal)} instead of PERMISSION_DENIED`,
      );
      check(Date.now() - started <= 10_000, 'the refusal took more than 10 s');
      checkNoSecret(ctx, refusal, 'a refused subscribe');
      check(handled === 0, `the user handled ${handled} message(s) of a subscription it may not read`);

      await ctx.consume(limited, open, 's', openLedger);
      await ctx.expectAllDelivered(openLedger, { what: 'the subscription the user may read' });
      await ctx.consume(admin, closed, 's', closedLedger);
      await ctx.expectAllDelivered(closedLedger, { what: 'the refused subscription, read by the admin' });
    },
  },
];

/** The catalog cases `--secure` runs over TLS with authentication, beside S1–S7: the core of every promise. */
export const SECURE_CORE_CASES: readonly string[] = ['P1', 'P4', 'C1', 'C2', 'C7', 'F2'];
