// The dead-letter operations, the same on every broker: list (depth), show (read, take nothing), redrive
// (re-publish through core, then remove — never the other way round) and purge. The CLI is a thin layer over
// these. Each validates its options with core's checkOptions (unknown keys refused, INVALID_ARGUMENT).
//
// Redrive's order is what makes it lossless: a dead letter is acked (removed from the dead-letter destination)
// only after `bus.publish` resolved, i.e. after the broker confirmed the copy durably. A run killed at any point
// leaves each message either still in the dead letters, or re-published, or both (a duplicate with the same id,
// which consumers deduplicate) — never neither.
import {
  type Bus,
  checkOptions,
  describeError,
  ErrorCode,
  invalidArgument,
  isLosslessError,
  type Logger,
  LosslessError,
  type OptionShape,
  validateName,
} from '@lossless/core';
import type { DriverDelivery, NormalizedSubscription } from '@lossless/core/driver';
import { deadLetterQueueName } from '@lossless/rabbitmq';
import { deadLetterTopicName as rocketDeadLetterTopic } from '@lossless/rocketmq';
import {
  applicationHeaders,
  type DeadLetter,
  describeDeadLetter,
  REDRIVEN_AT_HEADER,
  REDRIVEN_FROM_HEADER,
} from './dead-letter.js';
import { compileErrorFilter } from './filter.js';
import { DeadLetterScan, deadLetterSpec, SCAN_WINDOW } from './reader.js';
import { type DeadLetterTarget, openTarget } from './target.js';

const COMMON: OptionShape = {
  signal: { type: 'signal' },
  logger: { type: 'any' },
  /** Silence (ms) that ends a read; the broker's default otherwise (SCAN_WAITS). */
  idleMs: { type: 'integer', min: 50, max: 120_000 },
};
const PAIR: OptionShape = {
  topic: { type: 'string', minLength: 1, maxLength: 100 },
  subscription: { type: 'string', minLength: 1, maxLength: 100 },
};

interface Common {
  signal?: AbortSignal;
  logger?: Logger;
  idleMs?: number;
}

function pair(where: string, o: { topic?: string; subscription?: string }): NormalizedSubscription {
  if (o.topic === undefined || o.subscription === undefined) {
    throw invalidArgument(`${where}: topic and subscription are required`);
  }
  validateName('topic', o.topic);
  validateName('subscription', o.subscription);
  return deadLetterSpec(o.topic, o.subscription);
}

/** The broker's name of a subscription's dead-letter destination. */
export function deadLetterDestinationName(bus: Bus, spec: NormalizedSubscription): string {
  if (bus.driver.name === 'rocketmq') return rocketDeadLetterTopic(spec.topic, spec.name);
  if (bus.driver.name === 'rabbitmq') return deadLetterQueueName(spec.topic, spec.name);
  return `${spec.topic}.${spec.name}.dlq`;
}

/** The depth as the broker counts it, or undefined when the driver cannot count (RocketMQ). */
async function brokerDepth(bus: Bus, spec: NormalizedSubscription): Promise<number | undefined> {
  const driver = bus.driver;
  if (typeof driver.deadLetterDepth !== 'function') return undefined;
  try {
    return await driver.deadLetterDepth(spec);
  } catch (error) {
    throw withPair(error, bus, spec);
  }
}

function withPair(error: unknown, bus: Bus, spec: NormalizedSubscription): LosslessError {
  const e = isLosslessError(error)
    ? error
    : new LosslessError(ErrorCode.INTERNAL, `${bus.driver.name}: ${describeError(error)}`, { cause: error });
  return e.withContext({ topic: spec.topic, subscription: spec.name });
}

async function openScan(
  bus: Bus,
  spec: NormalizedSubscription,
  o: Common & { expected?: number | undefined; prefetch?: number },
) {
  try {
    return await DeadLetterScan.open(bus.driver, spec, {
      expected: o.expected,
      idleMs: o.idleMs,
      prefetch: o.prefetch,
      signal: o.signal,
    });
  } catch (error) {
    throw withPair(error, bus, spec);
  }
}

// --- list ---------------------------------------------------------------------------------------------------

export interface ListDeadLettersOptions extends Common {
  /** Only this topic's subscriptions (with `subscription`: only that one). */
  topic?: string;
  subscription?: string;
}

export interface DeadLetterDepth {
  readonly topic: string;
  readonly subscription: string;
  /** The broker's name of the destination (`orders.warehouse.dlq`, `orders_warehouse_1a2b3c4d_dlq`). */
  readonly destination: string;
  readonly depth: number;
  /** `broker`: the broker's own count; `read`: counted by reading every message (and giving it back). */
  readonly counted: 'broker' | 'read';
  /** Counted by reading and the read stopped at SCAN_WINDOW messages: there are at least `depth`. */
  readonly atLeast: boolean;
}

const LIST_SHAPE: OptionShape = { ...COMMON, ...PAIR };

/**
 * Every dead-letter destination (of `topic`, or the one of `topic`/`subscription`) with its depth. Without a
 * subscription the broker must list its destinations (Kafka lists topics); RabbitMQ (AMQP has no listing) and
 * RocketMQ (dead-letter topic names carry a hash) reject that with UNSUPPORTED, naming what to give instead.
 */
export async function listDeadLetters(
  target: DeadLetterTarget,
  options: ListDeadLettersOptions = {},
): Promise<DeadLetterDepth[]> {
  const o = checkOptions<ListDeadLettersOptions>('listDeadLetters()', options, LIST_SHAPE);
  if (o.subscription !== undefined && o.topic === undefined) {
    throw invalidArgument('listDeadLetters(): subscription needs its topic');
  }
  if (o.topic !== undefined) validateName('topic', o.topic);
  const opened = await openTarget(target, o.logger);
  try {
    const { bus } = opened;
    let pairs: { topic: string; subscription: string; destination: string }[];
    if (o.topic !== undefined && o.subscription !== undefined) {
      const spec = pair('listDeadLetters()', o);
      pairs = [
        { topic: o.topic, subscription: o.subscription, destination: deadLetterDestinationName(bus, spec) },
      ];
    } else if (typeof bus.driver.deadLetterDestinations === 'function') {
      pairs = await bus.driver.deadLetterDestinations(o.topic);
    } else {
      throw new LosslessError(
        ErrorCode.UNSUPPORTED,
        `${bus.driver.name}: cannot list dead-letter destinations ` +
          (bus.driver.name === 'rabbitmq'
            ? '(AMQP has no queue listing; the management plugin has one over HTTP)'
            : '(its dead-letter topics are named <topic>_<subscription>_<hash>_dlq and cannot be told apart)') +
          ': give the topic and the subscription',
        { broker: bus.driver.name },
      );
    }
    const out: DeadLetterDepth[] = [];
    for (const p of pairs) {
      const spec = deadLetterSpec(p.topic, p.subscription);
      const depth = await brokerDepth(bus, spec);
      if (depth !== undefined) {
        out.push({ ...p, depth, counted: 'broker', atLeast: false });
        continue;
      }
      const scan = await openScan(bus, spec, o);
      let n = 0;
      try {
        while (await scan.next()) n++;
      } finally {
        await scan.close();
      }
      out.push({ ...p, depth: n, counted: 'read', atLeast: n >= SCAN_WINDOW });
    }
    return out;
  } finally {
    await opened.close();
  }
}

// --- show ---------------------------------------------------------------------------------------------------

export interface ShowDeadLettersOptions extends Common {
  topic: string;
  subscription: string;
  /** Most messages shown. Default 20. */
  limit?: number;
}

const SHOW_SHAPE: OptionShape = { ...COMMON, ...PAIR, limit: { type: 'integer', min: 1, max: SCAN_WINDOW } };

/**
 * The first `limit` dead letters, read without removing them: each is given back when the read ends (see
 * reader.ts for what that costs on each broker; RocketMQ hides them for about a second and counts a delivery).
 */
export async function showDeadLetters(
  target: DeadLetterTarget,
  options: ShowDeadLettersOptions,
): Promise<DeadLetter[]> {
  const o = checkOptions<ShowDeadLettersOptions>('showDeadLetters()', options, SHOW_SHAPE);
  const spec = pair('showDeadLetters()', o);
  const limit = o.limit ?? 20;
  const opened = await openTarget(target, o.logger);
  try {
    const depth = await brokerDepth(opened.bus, spec);
    const expected = depth === undefined ? limit : Math.min(depth, limit);
    const scan = await openScan(opened.bus, spec, { ...o, expected, prefetch: limit });
    const out: DeadLetter[] = [];
    const ids = new Set<string>();
    try {
      for (let d = await scan.next(); d; d = await scan.next()) {
        if (ids.has(d.id)) continue;
        ids.add(d.id);
        out.push(describeDeadLetter(d));
      }
    } finally {
      await scan.close();
    }
    return out;
  } finally {
    await opened.close();
  }
}

// --- redrive ------------------------------------------------------------------------------------------------

export interface RedriveProgress {
  readonly scanned: number;
  readonly redriven: number;
  readonly kept: number;
  readonly failed: number;
  /** The depth when the run started, when the broker counts it. */
  readonly total: number | undefined;
}

export interface RedriveDeadLettersOptions extends Common {
  topic: string;
  subscription: string;
  /** Only these message ids. */
  ids?: string[];
  /** Only dead letters whose last error matches this regular expression (at most 500 characters). */
  filterError?: string;
  /** Most messages redriven. Default: all. */
  limit?: number;
  /** Publish to this topic instead of the message's original topic. */
  toTopic?: string;
  /** Most messages redriven per second (spares the consumers). Default: no limit. */
  rate?: number;
  /** Called after each message redriven or kept. */
  onProgress?: (progress: RedriveProgress) => void;
}

export interface RedriveResult {
  readonly topic: string;
  readonly subscription: string;
  /** Where the messages were published. */
  readonly toTopic: string | undefined;
  /** Dead letters read. */
  readonly scanned: number;
  /** Re-published (confirmed) and removed from the dead letters. */
  readonly redriven: number;
  readonly redrivenIds: readonly string[];
  /** Not selected: left in the dead letters. */
  readonly kept: number;
  /** Selected but not redriven (publish refused) or redriven but not removed; they stay in the dead letters. */
  readonly failed: number;
  readonly errors: readonly string[];
  /** Filter tests that ran out of time: those messages were kept. */
  readonly filterTimeouts: number;
  /** Ids asked for with `ids` that were not found. */
  readonly notFound: readonly string[];
}

const REDRIVE_SHAPE: OptionShape = {
  ...COMMON,
  ...PAIR,
  ids: {
    type: 'array',
    of: { type: 'string', minLength: 1, maxLength: 128 },
    minLength: 1,
    maxLength: 100_000,
  },
  filterError: { type: 'string', minLength: 1, maxLength: 500 },
  limit: { type: 'integer', min: 1, max: 10_000_000 },
  toTopic: { type: 'string', minLength: 1, maxLength: 100 },
  rate: { type: 'number', min: 0.01, max: 1_000_000 },
  onProgress: { type: 'function' },
};

/** Publishes awaiting confirms at once (core batches them). */
const REDRIVE_IN_FLIGHT = 64;

/**
 * Re-publishes the selected dead letters through `bus.publish` — same id, key, timestamp, body and application
 * headers; without the dead-letter bookkeeping (so the attempt count starts again at 1), with
 * `lossless-redriven-at` and `lossless-redriven-from` — and removes each from the dead letters only once its
 * publish resolved. Messages not selected stay. Safe to rerun after a crash: nothing is lost, a message whose
 * removal did not happen is redriven again (a duplicate with the same id).
 */
export async function redriveDeadLetters(
  target: DeadLetterTarget,
  options: RedriveDeadLettersOptions,
): Promise<RedriveResult> {
  const o = checkOptions<RedriveDeadLettersOptions>('redriveDeadLetters()', options, REDRIVE_SHAPE);
  const spec = pair('redriveDeadLetters()', o);
  if (o.toTopic !== undefined) validateName('topic', o.toTopic);
  const filter = o.filterError === undefined ? undefined : compileErrorFilter(o.filterError);
  const wanted = o.ids === undefined ? undefined : new Set(o.ids);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const opened = await openTarget(target, o.logger);
  const { bus } = opened;
  const from = `${spec.topic}/${spec.name}`;
  let scanned = 0;
  let kept = 0;
  let failed = 0;
  let filterTimeouts = 0;
  let selected = 0;
  const redrivenIds: string[] = [];
  const errors: string[] = [];
  const found = new Set<string>();
  const seen = new Set<string>();
  try {
    const total = await brokerDepth(bus, spec);
    const scan = await openScan(bus, spec, { ...o, expected: total });
    const report = () => o.onProgress?.({ scanned, redriven: redrivenIds.length, kept, failed, total });
    // Kafka cannot skip a record: a group commits an offset, not a set. A kept message before one that is
    // removed is therefore copied to the end of the dead-letter topic (the driver's nack on a dead-letter read:
    // same id, body, headers, attempt and last error), so that the removal behind it can be committed.
    const keepByCopy = bus.driver.name === 'kafka';
    let keptSinceLastSelected: DriverDelivery[] = [];
    const toCopy: DriverDelivery[] = [];
    const inFlight = new Set<Promise<void>>();
    let stop = false;
    const started = Date.now();
    try {
      while (!stop && selected < limit && !(wanted && found.size === wanted.size)) {
        const d = await scan.next();
        if (!d) break;
        if (seen.has(d.id)) continue; // a kept copy (Kafka) or a duplicate coming round: leave it
        seen.add(d.id);
        scanned++;
        const dl = describeDeadLetter(d);
        let pick = wanted === undefined || wanted.has(d.id);
        if (wanted?.has(d.id)) found.add(d.id);
        if (pick && filter) {
          const r = filter.test(dl.lastError);
          if (r === 'timeout') filterTimeouts++;
          pick = r === 'match';
        }
        if (!pick) {
          kept++;
          if (keepByCopy) keptSinceLastSelected.push(d);
          report();
          continue;
        }
        selected++;
        if (keepByCopy) {
          toCopy.push(...keptSinceLastSelected);
          keptSinceLastSelected = [];
        }
        if (o.rate !== undefined) {
          const due = started + ((selected - 1) / o.rate) * 1_000;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const topic = o.toTopic ?? dl.originalTopic ?? spec.topic;
        const one = (async () => {
          try {
            await bus.publish(topic, {
              id: d.id,
              ...(d.key === undefined ? {} : { key: d.key }),
              body: d.body,
              timestamp: d.timestamp,
              headers: {
                ...applicationHeaders(d.headers),
                [REDRIVEN_AT_HEADER]: new Date().toISOString(),
                [REDRIVEN_FROM_HEADER]: from,
              },
            });
          } catch (error) {
            failed++;
            stop = true;
            errors.push(`${d.id}: not redriven, it stays in the dead letters: ${describeError(error)}`);
            return;
          }
          try {
            await d.ack();
            redrivenIds.push(d.id);
          } catch (error) {
            failed++;
            errors.push(
              `${d.id}: redriven, but removing it from the dead letters failed (a rerun redrives it again): ${describeError(error)}`,
            );
          }
          report();
        })();
        inFlight.add(one);
        void one.finally(() => inFlight.delete(one));
        while (inFlight.size >= REDRIVE_IN_FLIGHT) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      for (const d of toCopy) {
        try {
          await d.nack({
            delayMs: 0,
            error: d.headers['x-lossless-last-error'] ?? 'kept by lossless dlq redrive',
          });
        } catch (error) {
          // Not copied: it stays where it is (uncommitted), and so does everything after it on its partition.
          errors.push(
            `${d.id}: kept in place (${describeError(error)}); later removals may be redriven again`,
          );
        }
      }
    } finally {
      await scan.close();
    }
    return {
      topic: spec.topic,
      subscription: spec.name,
      toTopic: o.toTopic,
      scanned,
      redriven: redrivenIds.length,
      redrivenIds,
      kept,
      failed,
      errors,
      filterTimeouts,
      notFound: wanted ? [...wanted].filter((id) => !found.has(id)) : [],
    };
  } finally {
    await opened.close();
  }
}

// --- purge --------------------------------------------------------------------------------------------------

export interface PurgeDeadLettersOptions extends Common {
  topic: string;
  subscription: string;
  /** Called after each message removed. */
  onProgress?: (removed: number, total: number | undefined) => void;
}

export interface PurgeResult {
  readonly topic: string;
  readonly subscription: string;
  readonly removed: number;
  readonly removedIds: readonly string[];
}

const PURGE_SHAPE: OptionShape = { ...COMMON, ...PAIR, onProgress: { type: 'function' } };

/** Removes every dead letter of the subscription (reads and acks each); resolves with how many. */
export async function purgeDeadLetters(
  target: DeadLetterTarget,
  options: PurgeDeadLettersOptions,
): Promise<PurgeResult> {
  const o = checkOptions<PurgeDeadLettersOptions>('purgeDeadLetters()', options, PURGE_SHAPE);
  const spec = pair('purgeDeadLetters()', o);
  const opened = await openTarget(target, o.logger);
  try {
    const total = await brokerDepth(opened.bus, spec);
    const scan = await openScan(opened.bus, spec, { ...o, expected: total });
    const removedIds: string[] = [];
    const inFlight = new Set<Promise<void>>();
    try {
      for (let d = await scan.next(); d; d = await scan.next()) {
        const delivery = d;
        const one = delivery.ack().then(() => {
          removedIds.push(delivery.id);
          o.onProgress?.(removedIds.length, total);
        });
        inFlight.add(one);
        void one.finally(() => inFlight.delete(one)).catch(() => {});
        while (inFlight.size >= REDRIVE_IN_FLIGHT) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
    } finally {
      await scan.close();
    }
    return { topic: spec.topic, subscription: spec.name, removed: removedIds.length, removedIds };
  } finally {
    await opened.close();
  }
}
