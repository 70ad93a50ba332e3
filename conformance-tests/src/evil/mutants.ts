// Deliberately broken drivers ("mutants"): each wraps a correct driver and breaks one promise the way real
// adapters have broken it. The suite-strength test runs the whole catalog against each and requires that the
// cases listed in `caughtBy` fail — proof that the suite notices that kind of message loss.
import { ErrorCode, type LosslessError } from '@lossless/core';
import type { DeliverySink, Driver, DriverDelivery, SendOutcome } from '@lossless/core/driver';

export interface Mutant {
  name: string;
  /** What the broken driver does, as a user would describe the bug. */
  bug: string;
  /** Cases that must fail against it (the suite may catch it elsewhere too). */
  caughtBy: readonly string[];
  wrap(driver: Driver): Driver;
}

/** A driver like `base` with some members replaced. */
function override(base: Driver, parts: Partial<Driver>): Driver {
  return {
    name: base.name,
    capabilities: base.capabilities,
    connect: (s) => base.connect(s),
    declare: (t) => base.declare(t),
    send: (t, r, p) => base.send(t, r, p),
    subscribe: (o, s) => base.subscribe(o, s),
    health: () => base.health(),
    classify: (e) => base.classify(e),
    close: () => base.close(),
    ...parts,
  };
}

/** A driver whose deliveries pass through `change` on their way to core. */
function mapDeliveries(base: Driver, change: (d: DriverDelivery, sink: DeliverySink) => void): Driver {
  return override(base, { subscribe: (o, sink) => base.subscribe(o, (d) => change(d, sink)) });
}

function delivery(d: DriverDelivery, parts: Partial<DriverDelivery>): DriverDelivery {
  return {
    id: d.id,
    key: d.key,
    headers: d.headers,
    body: d.body,
    timestamp: d.timestamp,
    attempt: d.attempt,
    ack: () => d.ack(),
    nack: (o) => d.nack(o),
    deadLetter: (o) => d.deadLetter(o),
    ...parts,
  };
}

const noop = async () => {};

/** `d`, reporting its settlement to `done` first (for mutants that track what is still unsettled). */
function settledInto(d: DriverDelivery, done: () => void): DriverDelivery {
  const first =
    <A extends unknown[]>(f: (...a: A) => Promise<void>) =>
    (...a: A) => {
      done();
      return f(...a);
    };
  return delivery(d, {
    ack: first(() => d.ack()),
    nack: first((x: { delayMs: number; error: string }) => d.nack(x)),
    deadLetter: first((x: { error: string }) => d.deadLetter(x)),
  });
}

export const mutants: readonly Mutant[] = [
  {
    name: 'ack-before-handler',
    bug: 'acks each message as it arrives, before the handler ran (auto-ack)',
    caughtBy: ['C2', 'C6', 'C10'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => {
        void d.ack();
        sink(delivery(d, { ack: noop, nack: noop, deadLetter: noop }));
      }),
  },
  {
    name: 'resolve-before-confirm',
    bug: 'reports a send as confirmed as soon as it is handed over, ignoring what the broker answers',
    caughtBy: ['T6', 'P5', 'F5'],
    wrap: (base) =>
      override(base, {
        send: async (topic, records) => {
          void base.send(topic, records).catch(() => {});
          return records.map(() => ({ ok: true }) as SendOutcome);
        },
      }),
  },
  {
    name: 'report-confirm-early',
    bug: "reports each record confirmed (per-record progress) as it is handed over, before the broker's answer",
    caughtBy: ['T6', 'P5'],
    wrap: (base) =>
      override(base, {
        send: (topic, records, progress) => {
          for (let i = 0; i < records.length; i++) progress?.(i, { ok: true });
          return base.send(topic, records);
        },
      }),
  },
  {
    name: 'ignore-unroutable',
    bug: 'treats a returned (unroutable) message as confirmed, like a publish without `mandatory`',
    caughtBy: ['P5'],
    wrap: (base) =>
      override(base, {
        send: async (topic, records) =>
          (await base.send(topic, records)).map((o) =>
            !o.ok && o.error.code === ErrorCode.UNROUTABLE ? ({ ok: true } as SendOutcome) : o,
          ),
      }),
  },
  {
    name: 'commit-on-fetch',
    bug: 'commits the previous message when the next one is fetched, whether or not its handler finished',
    caughtBy: ['C6', 'C10'],
    wrap: (base) => {
      let previous: DriverDelivery | undefined;
      return mapDeliveries(base, (d, sink) => {
        const before = previous;
        previous = d;
        if (before) void before.ack().catch(() => {});
        sink(d);
      });
    },
  },
  {
    name: 'commit-on-close-without-draining',
    bug: 'on closing a subscription (a rebalance), commits everything handed out, finished or not',
    caughtBy: ['C10', 'R4'],
    wrap: (base) =>
      override(base, {
        subscribe: async (o, sink) => {
          const open = new Set<DriverDelivery>();
          const sub = await base.subscribe(o, (d) => {
            open.add(d);
            sink(settledInto(d, () => open.delete(d)));
          });
          return {
            stop: () => sub.stop(),
            close: async () => {
              await Promise.all([...open].map((d) => d.ack().catch(() => {})));
              await sub.close();
            },
          };
        },
      }),
  },
  {
    name: 'drop-on-nack',
    bug: 'a nack removes the message instead of redelivering it',
    caughtBy: ['C2', 'C3', 'C8'],
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(delivery(d, { nack: () => d.ack() }))),
  },
  {
    name: 'forget-unconfirmed-on-reconnect',
    bug: 'when the connection drops, reports the sends it had in flight as confirmed instead of failing them',
    caughtBy: ['F3'],
    wrap: (base) =>
      override(base, {
        send: async (topic, records) => {
          try {
            return await base.send(topic, records);
          } catch (error) {
            if ((error as LosslessError).code !== ErrorCode.UNAVAILABLE) throw error;
            return records.map(() => ({ ok: true }) as SendOutcome);
          }
        },
      }),
  },
  {
    name: 'reuse-message-ids',
    bug: 'hands out its own per-connection sequence numbers as message ids instead of the message’s id',
    caughtBy: ['P2', 'C2', 'C7', 'T1'],
    wrap: (base) => {
      let n = 0;
      return mapDeliveries(base, (d, sink) => sink(delivery(d, { id: `seq-${n++ % 1000}` })));
    },
  },
  {
    name: 'no-redelivery-after-crash',
    bug: 'when its connection dies, the messages it held are settled instead of returned to the queue',
    caughtBy: ['C6'],
    wrap: (base) => {
      const held = new Set<DriverDelivery>();
      return override(
        mapDeliveries(base, (d, sink) => {
          held.add(d);
          sink(settledInto(d, () => held.delete(d)));
        }),
        {
          close: async () => {
            await Promise.all([...held].map((d) => d.ack().catch(() => {})));
            await base.close();
          },
        },
      );
    },
  },
  {
    name: 'ignore-prefetch',
    bug: 'hands out every available message at once, ignoring the prefetch (flow-control) limit',
    caughtBy: ['C5'],
    wrap: (base) => override(base, { subscribe: (o, s) => base.subscribe({ ...o, prefetch: 100_000 }, s) }),
  },
  {
    name: 'reorder-keys',
    bug: 'hands out deliveries in reversed windows of 8 (as concurrent fetchers may), breaking the order of a key',
    caughtBy: ['P11', 'C9'],
    wrap: (base) =>
      override(base, {
        subscribe: async (o, sink) => {
          let window: DriverDelivery[] = [];
          let timer: NodeJS.Timeout | undefined;
          const flush = () => {
            clearTimeout(timer);
            const out = window.reverse();
            window = [];
            for (const d of out) sink(d);
          };
          return base.subscribe({ ...o, prefetch: Math.max(o.prefetch, 8) }, (d) => {
            window.push(d);
            if (window.length >= 8) flush();
            else if (window.length === 1) timer = setTimeout(flush, 20); // a short tail is not held forever
          });
        },
      }),
  },
  {
    name: 'lose-attempt-count',
    bug: 'reports every delivery as the first attempt',
    caughtBy: ['C2', 'C8'],
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(delivery(d, { attempt: 1 }))),
  },
  {
    name: 'duplicate-deliveries',
    bug: 'delivers every message twice',
    caughtBy: ['T1', 'T2', 'C1'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => {
        sink(d);
        sink(delivery(d, { ack: noop, nack: noop, deadLetter: noop }));
      }),
  },
  {
    name: 'drop-headers',
    bug: 'does not carry headers across the wire',
    caughtBy: ['P2', 'C2'],
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(delivery(d, { headers: {} }))),
  },
  {
    name: 'truncate-large-bodies',
    bug: 'cuts bodies over 64 KiB (a frame-size bug)',
    caughtBy: ['P1'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(delivery(d, { body: d.body.byteLength > 65_536 ? d.body.subarray(0, 65_536) : d.body })),
      ),
  },
  {
    name: 'drop-dead-letters',
    bug: 'acks a message it should dead-letter, so it vanishes instead of being parked',
    caughtBy: ['C7'],
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(delivery(d, { deadLetter: () => d.ack() }))),
  },
];
