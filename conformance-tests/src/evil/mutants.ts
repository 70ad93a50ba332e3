// Deliberately broken drivers ("mutants"): each wraps a correct driver and breaks one promise the way real
// adapters have broken it. The suite-strength test runs the whole catalog against each and requires that the
// cases listed in `caughtBy` fail — proof that the suite notices that kind of message loss.
import { ErrorCode, type LosslessError, ReservedHeader } from '@lossless/core';
import type {
  DeliverySink,
  Driver,
  DriverDelivery,
  DriverSubscription,
  SendOutcome,
} from '@lossless/core/driver';
import { mapDeliveries, onSettle, overrideDelivery, overrideDriver } from '../wrap-driver.js';

export interface Mutant {
  name: string;
  /** What the broken driver does, as a user would describe the bug. */
  bug: string;
  /** Cases that must fail against it (the suite may catch it elsewhere too). */
  caughtBy: readonly string[];
  wrap(driver: Driver): Driver;
}

const noop = async () => {};

/** Bytes of a delivery as the broker's frame holds them: body plus header names and values. */
function envelopeBytes(d: DriverDelivery): number {
  let n = d.body.byteLength;
  for (const [k, v] of Object.entries(d.headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

function headerTotal(headers: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** A driver whose subscriptions run `onClose` (with the subscription's own state) before really closing — on
 * the subscription's close and on the driver's (a dead connection). */
function onSubscriptionClose<S>(
  base: Driver,
  setup: (sink: DeliverySink) => { sink: DeliverySink; state: S },
  onClose: (state: S) => Promise<void>,
): Driver {
  const open = new Set<() => Promise<void>>();
  return overrideDriver(base, {
    subscribe: async (o, sink) => {
      const { sink: wrapped, state } = setup(sink);
      const sub = await base.subscribe(o, wrapped);
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        open.delete(close);
        await onClose(state);
      };
      open.add(close);
      const result: DriverSubscription = {
        stop: () => sub.stop(),
        close: async () => {
          await close();
          await sub.close();
        },
      };
      return result;
    },
    close: async () => {
      await Promise.all([...open].map((c) => c()));
      await base.close();
    },
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
        sink(overrideDelivery(d, { ack: noop, nack: noop, deadLetter: noop }));
      }),
  },
  {
    name: 'resolve-before-confirm',
    bug: 'reports a send as confirmed as soon as it is handed over, ignoring what the broker answers',
    caughtBy: ['T6', 'P5', 'F5'],
    wrap: (base) =>
      overrideDriver(base, {
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
      overrideDriver(base, {
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
      overrideDriver(base, {
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
      overrideDriver(base, {
        subscribe: async (o, sink) => {
          const open = new Set<DriverDelivery>();
          const sub = await base.subscribe(o, (d) => {
            open.add(d);
            sink(onSettle(d, () => open.delete(d)));
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
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(overrideDelivery(d, { nack: () => d.ack() }))),
  },
  {
    name: 'forget-unconfirmed-on-reconnect',
    bug: 'when the connection drops, reports the sends it had in flight as confirmed instead of failing them',
    caughtBy: ['F3'],
    wrap: (base) =>
      overrideDriver(base, {
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
      return mapDeliveries(base, (d, sink) => sink(overrideDelivery(d, { id: `seq-${n++ % 1000}` })));
    },
  },
  {
    name: 'no-redelivery-after-crash',
    bug: 'when its connection dies, the messages it held are settled instead of returned to the queue',
    caughtBy: ['C6'],
    wrap: (base) => {
      const held = new Set<DriverDelivery>();
      return overrideDriver(
        mapDeliveries(base, (d, sink) => {
          held.add(d);
          sink(onSettle(d, () => held.delete(d)));
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
    wrap: (base) =>
      overrideDriver(base, { subscribe: (o, s) => base.subscribe({ ...o, prefetch: 100_000 }, s) }),
  },
  {
    name: 'reorder-keys',
    bug: 'hands out deliveries in reversed windows of 8 (as concurrent fetchers may), breaking the order of a key',
    caughtBy: ['P11', 'C9'],
    wrap: (base) =>
      overrideDriver(base, {
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
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(overrideDelivery(d, { attempt: 1 }))),
  },
  {
    name: 'duplicate-deliveries',
    bug: 'delivers every message twice',
    caughtBy: ['T1', 'T2', 'C1'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => {
        sink(d);
        sink(overrideDelivery(d, { ack: noop, nack: noop, deadLetter: noop }));
      }),
  },
  {
    name: 'drop-headers',
    bug: 'does not carry headers across the wire',
    caughtBy: ['P2', 'C2'],
    wrap: (base) => mapDeliveries(base, (d, sink) => sink(overrideDelivery(d, { headers: {} }))),
  },
  {
    name: 'truncate-large-bodies',
    bug: 'cuts bodies over 64 KiB (a frame-size bug)',
    caughtBy: ['P1'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(overrideDelivery(d, { body: d.body.byteLength > 65_536 ? d.body.subarray(0, 65_536) : d.body })),
      ),
  },
  {
    name: 'drop-dead-letters',
    bug: 'acks a message it should dead-letter, so it vanishes instead of being parked',
    caughtBy: ['C7'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => sink(overrideDelivery(d, { deadLetter: () => d.ack() }))),
  },
  {
    name: 'drop-near-limit-bodies',
    bug: 'skips (and acks) a message within 1 KiB of maxMessageBytes: its fetch buffer forgot the envelope',
    caughtBy: ['P1', 'P12', 'P14'],
    wrap: (base) => {
      const max = base.capabilities.maxMessageBytes;
      return mapDeliveries(base, (d, sink) => {
        if (envelopeBytes(d) > max - 1_024) void d.ack().catch(() => {});
        else sink(d);
      });
    },
  },
  {
    name: 'corrupt-near-limit-bodies',
    bug: 'a body within 16 KiB of maxMessageBytes arrives with its last 4 KiB zeroed (the last frame is lost)',
    caughtBy: ['P1'],
    wrap: (base) => {
      const max = base.capabilities.maxMessageBytes;
      return mapDeliveries(base, (d, sink) => {
        if (d.body.byteLength <= max - 16_384) return sink(d);
        const body = new Uint8Array(d.body);
        body.fill(0, body.byteLength - 4_096);
        sink(overrideDelivery(d, { body }));
      });
    },
  },
  {
    name: 'truncate-long-header-values',
    bug: 'header values longer than 8 KiB are cut to 8 KiB (a per-property size limit of the encoding)',
    caughtBy: ['P12', 'P14'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(d.headers)) {
          headers[k] = Buffer.byteLength(v) > 8_192 ? Buffer.from(v).subarray(0, 8_192).toString() : v;
        }
        sink(overrideDelivery(d, { headers }));
      }),
  },
  {
    name: 'drop-headers-when-large',
    bug: 'sends no headers when they add up to more than 128 KiB (they would not fit the protocol’s header frame)',
    caughtBy: ['P14'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(headerTotal(d.headers) > 131_072 ? overrideDelivery(d, { headers: {} }) : d),
      ),
  },
  {
    name: 'drop-empty-headers-on-redelivery',
    bug: 'a redelivered copy loses headers whose value is empty (the retry path forgets the empty-value workaround)',
    caughtBy: ['C11'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => {
        if (d.attempt === 1) return sink(d);
        const headers = Object.fromEntries(Object.entries(d.headers).filter(([, v]) => v !== ''));
        sink(overrideDelivery(d, { headers }));
      }),
  },
  {
    name: 'reset-timestamp-on-redelivery',
    bug: 'a redelivery carries the time of the retry, not the message’s timestamp (the retry copy is re-stamped)',
    caughtBy: ['C11', 'C12'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(d.attempt > 1 ? overrideDelivery(d, { timestamp: Date.now() }) : d),
      ),
  },
  {
    name: 'lose-key-on-retry',
    bug: 'a redelivered message has no key (the retry copy is produced without it)',
    caughtBy: ['C11', 'C12'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) => sink(d.attempt > 1 ? overrideDelivery(d, { key: undefined }) : d)),
  },
  {
    name: 'lose-key-on-dead-letter',
    bug: 'a dead letter has no key (the dead-letter copy is produced without it)',
    caughtBy: ['C7', 'C13'],
    wrap: (base) =>
      overrideDriver(base, {
        subscribe: (o, sink) =>
          base.subscribe(o, (d) => sink(o.deadLetters ? overrideDelivery(d, { key: undefined }) : d)),
      }),
  },
  {
    name: 'reset-timestamp-on-dead-letter',
    bug: 'a dead letter carries the time it was dead-lettered instead of the message’s timestamp',
    caughtBy: ['C7'],
    wrap: (base) =>
      overrideDriver(base, {
        subscribe: (o, sink) =>
          base.subscribe(o, (d) => sink(o.deadLetters ? overrideDelivery(d, { timestamp: Date.now() }) : d)),
      }),
  },
  {
    name: 'drop-dead-letter-origin',
    bug: 'a dead letter does not say where it came from or why (no origin and reason headers)',
    caughtBy: ['C7'],
    wrap: (base) =>
      overrideDriver(base, {
        subscribe: (o, sink) =>
          base.subscribe(o, (d) => {
            if (!o.deadLetters) return sink(d);
            const {
              [ReservedHeader.ORIGINAL_TOPIC]: _topic,
              [ReservedHeader.DEAD_LETTER_REASON]: _reason,
              ...headers
            } = d.headers;
            sink(overrideDelivery(d, { headers }));
          }),
      }),
  },
  {
    name: 'ack-multiple',
    bug: 'an ack also settles every earlier unsettled delivery of the consumer (AMQP basic.ack with multiple)',
    caughtBy: ['R5'],
    wrap: (base) =>
      overrideDriver(base, {
        subscribe: (o, sink) => {
          const unsettled: DriverDelivery[] = []; // in delivery order: the channel's delivery tags
          const forget = (d: DriverDelivery) => {
            const i = unsettled.indexOf(d);
            if (i >= 0) unsettled.splice(i, 1);
          };
          return base.subscribe(o, (d) => {
            unsettled.push(d);
            sink(
              overrideDelivery(d, {
                ack: async () => {
                  const i = unsettled.indexOf(d);
                  if (i < 0) return; // an earlier multiple-ack took it already
                  await Promise.all(unsettled.splice(0, i + 1).map((x) => x.ack().catch(() => {})));
                },
                nack: (x) => {
                  forget(d);
                  return d.nack(x);
                },
                deadLetter: (x) => {
                  forget(d);
                  return d.deadLetter(x);
                },
              }),
            );
          });
        },
      }),
  },
  {
    name: 'commit-highest-acked-on-close',
    bug: 'on close (or a dead connection) commits the highest acked offset, skipping older unfinished messages',
    caughtBy: ['R5'],
    wrap: (base) =>
      onSubscriptionClose(
        base,
        (sink) => {
          const state = { seq: 0, highest: -1, open: new Map<DriverDelivery, number>() };
          return {
            state,
            sink: (d) => {
              const seq = state.seq++;
              state.open.set(d, seq);
              sink(
                overrideDelivery(
                  onSettle(d, () => state.open.delete(d)),
                  {
                    ack: () => {
                      state.open.delete(d);
                      state.highest = Math.max(state.highest, seq);
                      return d.ack();
                    },
                  },
                ),
              );
            },
          };
        },
        async (state) => {
          for (const [d, seq] of state.open) if (seq < state.highest) await d.ack().catch(() => {}); // "offset highest + 1"
          state.open.clear();
        },
      ),
  },
  {
    name: 'give-up-after-8-attempts',
    bug: 'after 8 attempts a nack drops the message (a hard-coded retry cap instead of maxDeliveries)',
    caughtBy: ['C12'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(d.attempt >= 8 ? overrideDelivery(d, { nack: () => d.ack() }) : d),
      ),
  },
  {
    name: 'broker-delivery-limit-20',
    bug: 'the broker dead-letters at its own default delivery limit (20), not the subscription’s maxDeliveries',
    caughtBy: ['C12'],
    wrap: (base) =>
      mapDeliveries(base, (d, sink) =>
        sink(d.attempt >= 20 ? overrideDelivery(d, { nack: (x) => d.deadLetter({ error: x.error }) }) : d),
      ),
  },
  {
    name: 'lose-dead-letter-in-flight-on-close',
    bug: 'the dead-letter copy lingers in a producer buffer while the original counts as settled; close drops it',
    caughtBy: ['C13'],
    wrap: (base) =>
      onSubscriptionClose(
        base,
        (sink) => {
          const lingering = new Map<DriverDelivery, NodeJS.Timeout>();
          return {
            state: lingering,
            sink: (d) =>
              sink(
                overrideDelivery(d, {
                  deadLetter: async (x) => {
                    const timer = setTimeout(() => {
                      lingering.delete(d);
                      void d.deadLetter(x).catch(() => {});
                    }, 100);
                    lingering.set(d, timer);
                  },
                }),
              ),
          };
        },
        async (lingering) => {
          for (const [d, timer] of lingering) {
            clearTimeout(timer);
            await d.ack().catch(() => {}); // the offset is committed; the unsent copy dies with the producer
          }
          lingering.clear();
        },
      ),
  },
  {
    name: 'lose-delayed-redelivery-on-close',
    bug: 'a delayed nack waits in a driver-side timer; close cancels the timers and commits what they held',
    caughtBy: ['C14'],
    wrap: (base) =>
      onSubscriptionClose(
        base,
        (sink) => {
          const waiting = new Map<DriverDelivery, NodeJS.Timeout>();
          return {
            state: waiting,
            sink: (d) =>
              sink(
                overrideDelivery(d, {
                  nack: async (x) => {
                    if (x.delayMs <= 0) return d.nack(x);
                    const timer = setTimeout(() => {
                      waiting.delete(d);
                      void d.nack({ delayMs: 0, error: x.error }).catch(() => {});
                    }, x.delayMs);
                    waiting.set(d, timer);
                  },
                }),
              ),
          };
        },
        async (waiting) => {
          for (const [d, timer] of waiting) {
            clearTimeout(timer);
            await d.ack().catch(() => {});
          }
          waiting.clear();
        },
      ),
  },
  {
    name: 'confirm-on-request-timeout',
    bug: 'a send the broker has not answered for 5 s is reported confirmed (no news taken for good news)',
    caughtBy: ['F8'],
    wrap: (base) =>
      overrideDriver(base, {
        send: (topic, records, progress) => {
          let timer: NodeJS.Timeout | undefined;
          const answer = base.send(topic, records, progress);
          const assumed = new Promise<SendOutcome[]>((resolve) => {
            timer = setTimeout(() => resolve(records.map(() => ({ ok: true }) as SendOutcome)), 5_000);
            timer.unref();
          });
          answer.catch(() => {});
          return Promise.race([answer.finally(() => clearTimeout(timer)), assumed]);
        },
      }),
  },
  {
    name: 'one-outcome-per-batch',
    bug: 'reports the outcome of the last record for every record of a batch (reads one status per response)',
    caughtBy: ['P13'],
    wrap: (base) =>
      overrideDriver(base, {
        send: async (topic, records) => {
          const outcomes = await base.send(topic, records);
          const last = outcomes.at(-1);
          return last === undefined ? [] : outcomes.map(() => last);
        },
      }),
  },
  {
    name: 'failures-listed-last',
    bug: 'collects successes and failures of a batch in two lists and concatenates them: outcomes shift',
    caughtBy: ['P13'],
    wrap: (base) =>
      overrideDriver(base, {
        send: async (topic, records) => {
          const outcomes = await base.send(topic, records);
          return [...outcomes.filter((o) => o.ok), ...outcomes.filter((o) => !o.ok)];
        },
      }),
  },
  {
    name: 'refusal-fails-whole-batch',
    bug: 'one refused record fails the whole batch, though the broker stored the others',
    caughtBy: ['P13'],
    wrap: (base) =>
      overrideDriver(base, {
        send: async (topic, records) => {
          const outcomes = await base.send(topic, records);
          const refused = outcomes.find((o) => !o.ok);
          if (refused && !refused.ok) throw refused.error;
          return outcomes;
        },
      }),
  },
  {
    name: 'idle-window-loses-send',
    bug:
      'its send queue goes idle a few microtasks after answering its last send, so a send that arrives in ' +
      'between waits for a drain that never comes (the Kafka lane had it: a caller resuming one await later hung)',
    caughtBy: ['P15'],
    wrap: (base) => {
      type Job = {
        topic: string;
        records: Parameters<Driver['send']>[1];
        resolve: (o: SendOutcome[]) => void;
      };
      const queue: Job[] = [];
      const lane: { running: Promise<void> | undefined } = { running: undefined };
      const drain = async () => {
        for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
          const outcomes = await base
            .send(job.topic, job.records)
            .catch((error: LosslessError) => job.records.map(() => ({ ok: false, error }) as SendOutcome));
          job.resolve(outcomes);
          // Bookkeeping after the answer, before looking at the queue again (as a real lane does).
          for (let k = 0; k < 10; k++) await Promise.resolve();
        }
      };
      return overrideDriver(base, {
        send: (topic, records) =>
          new Promise<SendOutcome[]>((resolve) => {
            queue.push({ topic, records, resolve });
            lane.running ??= drain().finally(() => {
              lane.running = undefined;
            });
          }),
      });
    },
  },
  {
    name: 'never-delivers',
    bug: 'subscribes but never hands a message over (a consumer stuck joining its group)',
    caughtBy: ['T2', 'P1', 'C1', 'C2', 'C7', 'C11', 'C12', 'R5'],
    wrap: (base) => overrideDriver(base, { subscribe: (o) => base.subscribe(o, () => {}) }),
  },
];
