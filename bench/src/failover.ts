// `--scenario failover`: how long a subscription's messages stall when one of its consumer processes is
// SIGKILLed, per broker, the library's consumer against the raw client's. Consumers run as child processes
// (failover-consumer.ts); the parent publishes at a fixed rate through the library (the same publisher for both
// sides: only the consumers differ), every body carrying its sequence number and publish time, and collects
// every handled message over IPC. A message counts as handled when its handler completes (10 ms of simulated
// work each, so the killed consumer holds some unacked, as a real one does).
//
// Scenarios: `survivor` — two consumers on the subscription, one SIGKILLed, the other carries on; `replacement`
// — one consumer, SIGKILLed, a new process started at once (what a supervisor does). Per run, from the kill:
// - stall: max over the messages not yet handled at the kill of first-handled − max(published, kill). The
//   slowest partition/queue the dead consumer owned decides it (its first message published after the kill
//   waits for the whole outage), and so do the messages the dead one held unacked (redelivered once the broker
//   gives up on it). Split into `resume` (messages published after the kill) and `inFlight` (published before).
// - first: the first message the new process (replacement) or the survivor handles after the kill.
// - p99 of publish → first handle over the messages published in the WINDOW after the kill.
// - lost: confirmed publishes never handled by the end (all must arrive within DRAIN after the window);
//   duplicates: handles beyond the first (a lower bound: an IPC report the dead child had not sent is unknown).
// - Kafka: rebalances, from the group's state polled every POLL_MS (admin describeGroups; a rebalance shorter
//   than that can be missed), and the raw kafkajs consumer's GROUP_JOIN events (the driver exposes none).
import { type ChildProcess, spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  kafka as kafkaBroker,
  rabbitmq as rabbitmqBroker,
  rocketmq as rocketmqBroker,
} from '@lossless/brokers';
import { connect, silentLogger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import {
  consumerGroupId,
  deadLetterGroupId,
  deadLetterTopicName,
  kafka,
  retryTopicName,
} from '@lossless/kafka';
import { rabbitmq } from '@lossless/rabbitmq';
import {
  consumerGroupName,
  deadLetterGroupName,
  deadLetterTopicName as rocketDeadLetterTopic,
  rocketmq,
} from '@lossless/rocketmq';
import { connect as amqpConnect } from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import {
  type ChildMessage,
  CONSUMER_ENV,
  type Connection,
  type ConsumerConfig,
  now,
  type ParentMessage,
} from './failover-consumer.js';
import { type BenchConfig, freshName, latch, makeRow, retrying, within } from './harness.js';
import { SUBSCRIPTION } from './library.js';
import { type AdapterReport, removeTopicObjects } from './rabbitmq.js';
import { median, percentile, type ResultRow } from './stats.js';

/** Publish rate, msg/s: within what every broker here hands out (RocketMQ ~350 msg/s, bench/README.md). */
const RATE = 200;
/** Steady flow with every consumer handling before the kill: the baseline latency, and settled assignments. */
const STEADY_MS = 3_000;
/** Publishing goes on this long after the kill; the p99 is over its messages. */
const WINDOW_MS = 20_000;
/** After the window, how long every confirmed message has to arrive before the rest count as lost. */
const DRAIN_MS = 90_000;
/** Kafka group state polling interval. */
const POLL_MS = 250;
const CONCURRENCY = 64;
/** Consumer warnings printed per run (all are counted in the measurement). */
const LOG_LINES = 12;
/** Simulated work per message in the consumers, ms (see failover-consumer.ts). */
const WORK_MS = 10;

type BrokerName = 'rabbitmq' | 'kafka' | 'rocketmq';
type Side = 'library' | 'raw';
type Scenario = 'survivor' | 'replacement';

/**
 * A Kafka variant: the driver's consumer group timeouts (undefined: its defaults, session 10 s / heartbeat 1 s;
 * the raw side always runs kafkajs's defaults, 30 s / 3 s, as a user who sets nothing gets them).
 */
interface Variant {
  name: string;
  group?: { sessionTimeout: number; heartbeatInterval: number };
}
const KAFKA_VARIANTS: readonly Variant[] = [
  { name: 'session 30 s / heartbeat 3 s', group: { sessionTimeout: 30_000, heartbeatInterval: 3_000 } },
  { name: 'session 6 s / heartbeat 0.5 s', group: { sessionTimeout: 6_000, heartbeatInterval: 500 } },
];

/** Every figure of one run. Times in seconds from the kill unless said otherwise. */
export interface FailoverMeasurement {
  broker: BrokerName;
  scenario: Scenario;
  side: Side;
  variant: string;
  repetition: number;
  /** max over messages unhandled at the kill of first-handled − max(published, kill), s. */
  stall: number;
  /** The same over messages published after the kill: when the slowest partition/queue flowed again, s. */
  resume: number;
  /** The same over messages published before the kill and not handled then (the dead one's unacked), s. */
  inFlight: number;
  /** kill → first message handled by the new process (replacement) or the survivor, s. */
  first: number;
  /** replacement: kill → the new process subscribed (spawn, connect, subscribe), s. */
  newReady?: number;
  /** publish → first handle, p50 / p99 of the messages published and handled in the steady phase before the kill, s. */
  steadyP50: number;
  steadyP99: number;
  /** p99 of publish → first handle over the messages published in the window after the kill, s. */
  p99AfterKill: number;
  published: number;
  confirmed: number;
  /** Publishes that failed (not confirmed): not counted as lost. */
  unconfirmed: number;
  lost: number;
  duplicates: number;
  /** Kafka: group state changes out of Stable seen after the kill (polling), and before it (steady phase). */
  rebalancesAfterKill?: number;
  rebalancesBeforeKill?: number;
  /** Raw Kafka: GROUP_JOIN events of the surviving / new consumer after the kill. */
  joinsAfterKill?: number;
  /** Warnings and errors the consumers logged (the library's, kafkajs's). */
  warnings: number;
  /** The first 40 of them, `s-from-kill consumer level message`. */
  warningLines: string[];
  /** Kafka: the group's state transitions, s from the kill (negative: before). */
  groupStates?: string[];
}

export interface FailoverReport extends AdapterReport {
  failover: FailoverMeasurement[];
  /** Whether kafkajs 2.2.4 supports static membership (KIP-345) or KIP-848, with the source references. */
  kafkajsMembership: string;
  load: string;
}

/** Read in node_modules/kafkajs (2.2.4) for this bench: see the file's report. */
const KAFKAJS_MEMBERSHIP =
  'kafkajs 2.2.4 has neither static membership (KIP-345) nor KIP-848: src/broker/index.js joinGroup() ' +
  '(l. 373-392) takes no groupInstanceId and passes none, so JoinGroup v5 (src/protocol/requests/joinGroup/' +
  'v5/request.js l. 25) always sends group_instance_id = null; consumer/consumerGroup.js [PRIVATE.JOIN] ' +
  '(l. 164-178) and consumer/index.js (options l. 54-56) have no such option; heartbeat, syncGroup and ' +
  'leaveGroup requests carry no instance id; src/protocol/requests/apiKeys.js has no ConsumerGroupHeartbeat ' +
  '(API key 68, KIP-848) and consumer/assigners has only the client-side round robin assigner.';

/**
 * Whether the polled group state `cur` (`State(members)`) after `prev` is a new rebalance: the group entered
 * PreparingRebalance, or a phase was missed between two polls (Stable → CompletingRebalance, or Stable with
 * another member count).
 */
function startsRebalance(prev: string | undefined, cur: string): boolean {
  if (prev === undefined) return false;
  const [p, c] = [prev.split('(')[0], cur.split('(')[0]];
  if (c === 'PreparingRebalance') return p !== 'PreparingRebalance';
  if (c === 'CompletingRebalance') return p === 'Stable';
  return c === 'Stable' && p === 'Stable' && cur !== prev;
}

/** What one broker offers the runs: the fixture's settings, the library's driver, cleanup. */
interface Target {
  broker: BrokerName;
  label: string;
  connection: Connection;
  driver(): Driver;
  remove(topic: string): Promise<void>;
  /** Kafka: an admin client for the group's state. */
  groupState?(groupId: string): Promise<string>;
  close(): Promise<void>;
}

/** The child entry beside this module: compiled JavaScript under dist, TypeScript under tsx. */
function spawnConsumer(config: ConsumerConfig): ChildProcess {
  const ts = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(`./failover-consumer.${ts ? 'ts' : 'js'}`, import.meta.url));
  const args = ts ? ['--conditions=@lossless/source', '--import', 'tsx', entry] : [entry];
  // The child's stdout goes nowhere (the bench's stdout is its table); its errors go to our stderr.
  return spawn(process.execPath, args, {
    env: { ...process.env, [CONSUMER_ENV]: JSON.stringify(config) },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
}

/** One consumer process and what it reported. */
class Child {
  readonly proc: ChildProcess;
  readonly ready = latch();
  readonly firstHandled = latch();
  readyAt = Number.NaN;
  handledCount = 0;
  joins: number[] = [];
  readonly exited: Promise<void>;
  /** Set by kill() and stop(): an exit before either is a crash, which fails the run. */
  private expected = false;

  constructor(
    config: ConsumerConfig,
    readonly name: string,
    onHandled: (seq: number, at: number, child: Child) => void,
    onCrash: (why: Error) => void,
    onLog: (at: number, line: string) => void,
  ) {
    this.proc = spawnConsumer(config);
    this.ready.promise.catch(() => {});
    this.firstHandled.promise.catch(() => {});
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    this.proc.once('exit', (code, signal) => {
      const why = new Error(`consumer ${name} exited (${signal ?? `code ${code}`})`);
      this.ready.reject(why);
      this.firstHandled.reject(why);
      if (!this.expected) onCrash(why);
    });
    this.proc.on('message', (m: ChildMessage) => {
      if (m.t === 'h') {
        this.handledCount++;
        onHandled(m.seq, m.at, this);
        if (this.handledCount === 1) this.firstHandled.resolve();
      } else if (m.t === 'ready') {
        this.readyAt = m.at;
        this.ready.resolve();
      } else if (m.t === 'join') this.joins.push(m.at);
      else onLog(m.at, `${name} ${m.line}`);
    });
  }

  kill(): void {
    this.expected = true;
    this.proc.kill('SIGKILL');
  }

  /** Asks for a graceful close (a Kafka member leaves its group); SIGKILL if it has not exited in 20 s. */
  async stop(): Promise<void> {
    this.expected = true;
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const stop: ParentMessage = { t: 'stop' };
    if (this.proc.connected) this.proc.send(stop);
    const timer = setTimeout(() => this.kill(), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Handles of one message: its publish time and every handled time. */
interface Sent {
  pub: number;
  confirmed: boolean;
  handles: number[];
}

async function runOnce(
  t: Target,
  scenario: Scenario,
  side: Side,
  variant: Variant,
  repetition: number,
  log: (line: string) => void,
): Promise<FailoverMeasurement> {
  const topic = freshName('lf', `${scenario.slice(0, 4)}-${side}`, repetition);
  const publisher = await connect(t.driver(), { logger: silentLogger });
  const children: Child[] = [];
  let poller: NodeJS.Timeout | undefined;
  try {
    await publisher.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: SUBSCRIPTION, topic }],
    });
    const records: Sent[] = [];
    let killAt = Number.POSITIVE_INFINITY;
    let duplicates = 0;
    /** The survivor or the new process, from the kill on, and its first handle after the kill. */
    let watched: Child | undefined;
    let firstAfterKill = Number.NaN;
    const onHandled = (seq: number, at: number, child: Child) => {
      if (child === watched && at >= killAt && Number.isNaN(firstAfterKill)) firstAfterKill = at;
      const r = records[seq];
      if (r === undefined) return;
      if (r.handles.length > 0) duplicates++;
      r.handles.push(at);
    };
    const config: ConsumerConfig = {
      connection: t.connection,
      side,
      topic,
      subscription: SUBSCRIPTION,
      concurrency: CONCURRENCY,
      workMs: WORK_MS,
      ...(variant.group ? { kafkaGroup: variant.group } : {}),
      ...(t.broker === 'kafka' ? { groupId: consumerGroupId(topic, SUBSCRIPTION) } : {}),
    };
    // A consumer that exits on its own (say, it could not connect to a loaded broker) fails the run, which is
    // then measured again, instead of its messages counting as lost.
    let crash: Error | undefined;
    const crashed = latch();
    crashed.promise.catch(() => {});
    const onCrash = (why: Error) => {
      crash ??= why;
      crashed.reject(why);
    };
    // The consumers' warnings, on the run's timeline (s from the kill); the first few are printed.
    const logs: string[] = [];
    const onLog = (at: number, line: string) => {
      const stamp = Number.isFinite(killAt) ? `${((at - killAt) / 1000).toFixed(1)} s` : 'before kill';
      logs.push(`${stamp} ${line}`);
      if (logs.length <= LOG_LINES) log(`    [${stamp}] ${line.slice(0, 300)}`);
    };
    const count = scenario === 'survivor' ? 2 : 1;
    for (let i = 0; i < count; i++) children.push(new Child(config, `#${i + 1}`, onHandled, onCrash, onLog));
    await within(Promise.all(children.map((c) => c.ready.promise)), 120_000, `${topic}: consumers ready`);

    // Kafka: the group's state, polled, so rebalances are seen on both sides alike.
    const states: { at: number; state: string }[] = [];
    if (t.groupState) {
      const groupState = t.groupState.bind(t);
      const groupId = consumerGroupId(topic, SUBSCRIPTION);
      let polling = false;
      poller = setInterval(() => {
        if (polling) return;
        polling = true;
        groupState(groupId)
          .then((state) => {
            if (states.at(-1)?.state !== state) states.push({ at: now(), state });
          })
          .catch(() => {})
          .finally(() => {
            polling = false;
          });
      }, POLL_MS);
    }

    // The publisher: RATE msg/s, checked every millisecond; body = sequence number, publish time (epoch ms).
    let publishing = true;
    let failed = 0;
    let pending = 0;
    const t0 = now();
    const pacer = (async () => {
      while (publishing) {
        const due = Math.floor(((now() - t0) / 1000) * RATE) + 1;
        while (records.length < due) {
          const seq = records.length;
          const pub = now();
          const body = new Uint8Array(64);
          const view = new DataView(body.buffer);
          view.setFloat64(0, seq, true);
          view.setFloat64(8, pub, true);
          const r: Sent = { pub, confirmed: false, handles: [] };
          records.push(r);
          pending++;
          publisher
            .publish(topic, { body })
            .then(
              () => {
                r.confirmed = true;
              },
              () => {
                failed++;
              },
            )
            .finally(() => pending--);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();

    try {
      // Every consumer handles before the kill (on Kafka: each owns partitions of the settled generation).
      await within(
        Promise.all(children.map((c) => c.firstHandled.promise)),
        120_000,
        `${topic}: every consumer handling`,
      );
      const steadyFrom = now();
      await Promise.race([new Promise((resolve) => setTimeout(resolve, STEADY_MS)), crashed.promise]);
      const victim = children[0];
      if (victim === undefined) throw new Error('bench: no consumer to kill');
      killAt = now();
      victim.kill();
      const survivor =
        scenario === 'survivor' ? children[1] : new Child(config, '#new', onHandled, onCrash, onLog);
      if (survivor === undefined) throw new Error('bench: no surviving consumer');
      if (scenario === 'replacement') children.push(survivor);
      watched = survivor;
      log(
        `    killed consumer #1 (pid ${victim.proc.pid})${scenario === 'replacement' ? ', started a new one' : ''}`,
      );
      await Promise.race([new Promise((resolve) => setTimeout(resolve, WINDOW_MS)), crashed.promise]);
      publishing = false;
      await pacer;
      const windowEnd = now();

      // Every confirmed message must arrive (the dead one's unacked after the broker gives up on it).
      const deadline = windowEnd + DRAIN_MS;
      const settled = () => pending === 0 && records.every((r) => !r.confirmed || r.handles.length > 0);
      // Polled: the condition spans every record and both processes' reports, no single event says it.
      while (!settled() && now() < deadline) {
        if (crash) throw crash;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const unhandledAtKill = records.filter((r) => r.handles.every((h) => h >= killAt));
      const firstHandle = (r: Sent) => Math.min(...r.handles);
      const delay = (r: Sent) => (firstHandle(r) - Math.max(r.pub, killAt)) / 1000;
      const arrived = unhandledAtKill.filter((r) => r.handles.length > 0);
      const maxOf = (xs: number[]) => (xs.length === 0 ? Number.NaN : Math.max(...xs));
      const resume = maxOf(arrived.filter((r) => r.pub >= killAt).map(delay));
      const inFlight = maxOf(arrived.filter((r) => r.pub < killAt).map(delay));
      const latencies = (rs: Sent[]) =>
        rs
          .filter((r) => r.handles.length > 0)
          .map((r) => (firstHandle(r) - r.pub) / 1000)
          .sort((a, b) => a - b);
      // The baseline: messages published and handled before the kill (those the kill caught are in the stall).
      const steady = latencies(
        records.filter((r) => r.pub >= steadyFrom && r.handles.length > 0 && Math.min(...r.handles) < killAt),
      );
      const after = latencies(records.filter((r) => r.pub >= killAt && r.pub < killAt + WINDOW_MS));
      const stateChanges = (from: number, to: number) =>
        states.filter((s, i) => s.at >= from && s.at < to && startsRebalance(states[i - 1]?.state, s.state))
          .length;
      const m: FailoverMeasurement = {
        broker: t.broker,
        scenario,
        side,
        variant: variant.name,
        repetition,
        stall: Math.max(resume, Number.isNaN(inFlight) ? 0 : inFlight),
        resume,
        inFlight,
        first: (firstAfterKill - killAt) / 1000,
        ...(scenario === 'replacement' ? { newReady: (survivor.readyAt - killAt) / 1000 } : {}),
        steadyP50: percentile(steady, 50),
        steadyP99: percentile(steady, 99),
        p99AfterKill: percentile(after, 99),
        published: records.length,
        confirmed: records.filter((r) => r.confirmed).length,
        unconfirmed: failed,
        lost: records.filter((r) => r.confirmed && r.handles.length === 0).length,
        duplicates,
        warnings: logs.length,
        warningLines: logs.slice(0, 40),
      };
      if (t.groupState) {
        m.rebalancesAfterKill = stateChanges(killAt, Number.POSITIVE_INFINITY);
        m.rebalancesBeforeKill = stateChanges(steadyFrom, killAt);
        m.groupStates = states.map((s) => `${((s.at - killAt) / 1000).toFixed(1)} ${s.state}`);
        if (side === 'raw') m.joinsAfterKill = survivor.joins.filter((at) => at >= killAt).length;
      }
      return m;
    } finally {
      publishing = false;
      await pacer;
    }
  } finally {
    if (poller) clearInterval(poller);
    await Promise.all(children.map((c) => c.stop()));
    await publisher.close().catch(() => {});
    await t.remove(topic).catch((error: unknown) => log(`    removing ${topic}: ${String(error)}`));
  }
}

async function rabbitTarget(log: (line: string) => void): Promise<Target> {
  const fixture = rabbitmqBroker();
  log(`failover: rabbitmq: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const [url] = fixture.settings.urls;
  if (url === undefined) throw new Error('bench: the RabbitMQ fixture reports no node URL');
  return {
    broker: 'rabbitmq',
    label: `RabbitMQ ${fixture.version} (${url.replace(/\/\/[^@]*@/, '//')}), classic queue, amqplib`,
    connection: { broker: 'rabbitmq', url },
    driver: () => rabbitmq({ url, logger: silentLogger }),
    async remove(topic) {
      const model = await amqpConnect(url);
      model.on('error', () => {});
      try {
        await removeTopicObjects(model, topic);
      } finally {
        await model.close().catch(() => {});
      }
    },
    close: async () => {},
  };
}

async function kafkaTarget(log: (line: string) => void): Promise<Target> {
  const fixture = kafkaBroker();
  log(`failover: kafka: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const brokers = fixture.settings.brokers;
  const admin = new Kafka({
    clientId: 'lossless-bench-failover-admin',
    brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  return {
    broker: 'kafka',
    label: `Kafka ${fixture.version} single broker (${brokers.join(',')}), kafkajs 2.2.4, 3 partitions`,
    connection: { broker: 'kafka', brokers },
    driver: () => kafka({ brokers, logger: silentLogger }),
    async remove(topic) {
      await admin
        .deleteGroups([consumerGroupId(topic, SUBSCRIPTION), deadLetterGroupId(topic, SUBSCRIPTION)])
        .catch(() => {});
      const topics = [topic, retryTopicName(topic, SUBSCRIPTION), deadLetterTopicName(topic, SUBSCRIPTION)];
      const existing = new Set(await admin.listTopics());
      const present = topics.filter((x) => existing.has(x));
      if (present.length > 0) await admin.deleteTopics({ topics: present });
    },
    async groupState(groupId) {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      return g ? `${g.state}(${g.members.length})` : 'unknown';
    },
    close: () => admin.disconnect(),
  };
}

async function rocketTarget(log: (line: string) => void): Promise<Target> {
  const fixture = rocketmqBroker();
  log(`failover: rocketmq: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const { endpoints, namesrv, cluster } = fixture.settings;
  return {
    broker: 'rocketmq',
    label: `RocketMQ ${fixture.version} (proxy ${endpoints}), rocketmq-client-nodejs 1.0.8, 4 queues, invisible 15 s`,
    connection: { broker: 'rocketmq', endpoints, namesrv, cluster },
    driver: () => rocketmq({ endpoints, namesrv, cluster, logger: silentLogger }),
    async remove(topic) {
      const a = fixture.admin;
      for (const x of [topic, rocketDeadLetterTopic(topic, SUBSCRIPTION)])
        await a.deleteTopic(x).catch(() => {});
      for (const g of [consumerGroupName(topic, SUBSCRIPTION), deadLetterGroupName(topic, SUBSCRIPTION)]) {
        await a.deleteGroup(g).catch(() => {});
      }
    },
    close: async () => {},
  };
}

const TARGETS: Record<BrokerName, (log: (line: string) => void) => Promise<Target>> = {
  rabbitmq: rabbitTarget,
  kafka: kafkaTarget,
  rocketmq: rocketTarget,
};
const TITLE: Record<BrokerName, string> = { rabbitmq: 'RabbitMQ', kafka: 'Kafka', rocketmq: 'RocketMQ' };
const DEFAULTS: Variant = { name: 'defaults' };

/**
 * cli.ts defaults --repetitions to 6, sized for throughput runs; a failover run lasts up to a minute, so one
 * repetition unless the user asked for more.
 */
function repetitions(cfg: BenchConfig): number {
  return cfg.given?.has('repetitions') ? cfg.repetitions : 1;
}

function summary(m: FailoverMeasurement): string {
  const f = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(3));
  const kafkaPart =
    m.rebalancesAfterKill === undefined
      ? ''
      : `, rebalances ${m.rebalancesAfterKill} after kill / ${m.rebalancesBeforeKill} before` +
        (m.joinsAfterKill === undefined ? '' : `, joins ${m.joinsAfterKill}`) +
        `; group: ${m.groupStates?.join(', ')}`;
  return (
    `    → stall ${f(m.stall)} s (resume ${f(m.resume)}, in flight ${f(m.inFlight)}), first ${f(m.first)} s` +
    (m.newReady === undefined ? '' : ` (new process subscribed at ${f(m.newReady)} s)`) +
    `, p99 after kill ${f(m.p99AfterKill)} s (steady p50 ${f(m.steadyP50)} / p99 ${f(m.steadyP99)}), ` +
    `lost ${m.lost} of ${m.confirmed} confirmed (${m.unconfirmed} unconfirmed), duplicates ${m.duplicates}, ` +
    `consumer warnings ${m.warnings}${kafkaPart}`
  );
}

/** The table's rows of one broker: medians over repetitions; ratio raw/library (above 1 favours the library). */
function rowsOf(broker: BrokerName, all: FailoverMeasurement[]): ResultRow[] {
  const pick = (scenario: Scenario, side: Side, variant: string) =>
    all.filter(
      (m) => m.broker === broker && m.scenario === scenario && m.side === side && m.variant === variant,
    );
  const med = (ms: FailoverMeasurement[], f: (m: FailoverMeasurement) => number) => median(ms.map(f));
  const sum = (ms: FailoverMeasurement[], f: (m: FailoverMeasurement) => number | undefined) =>
    ms.reduce((n, m) => n + (f(m) ?? 0), 0);
  const rows: ResultRow[] = [];
  const variants = broker === 'kafka' ? [DEFAULTS, ...KAFKA_VARIANTS] : [DEFAULTS];
  for (const scenario of ['survivor', 'replacement'] as const) {
    const raw = pick(scenario, 'raw', DEFAULTS.name);
    for (const v of variants) {
      const lib = pick(scenario, 'library', v.name);
      if (lib.length === 0 || raw.length === 0) continue;
      const vs = v === DEFAULTS ? 'defaults' : `library ${v.name}, raw defaults`;
      const counts =
        `lost ${sum(lib, (m) => m.lost)}/${sum(raw, (m) => m.lost)}, ` +
        `dup ${sum(lib, (m) => m.duplicates)}/${sum(raw, (m) => m.duplicates)}` +
        (broker === 'kafka'
          ? `, rebal ${sum(lib, (m) => m.rebalancesAfterKill)}/${sum(raw, (m) => m.rebalancesAfterKill)}`
          : '');
      const name = `${TITLE[broker]} ${scenario} (${vs})`;
      rows.push(
        makeRow(
          `${name}: stall [${counts}]`,
          med(lib, (m) => m.stall),
          med(raw, (m) => m.stall),
          's',
          false,
        ),
      );
      rows.push(
        makeRow(
          `${name}: kill → first by ${scenario === 'survivor' ? 'survivor' : 'new process'}`,
          med(lib, (m) => m.first),
          med(raw, (m) => m.first),
          's',
          false,
        ),
      );
      rows.push(
        makeRow(
          `${name}: p99 latency ${WINDOW_MS / 1000} s after kill`,
          med(lib, (m) => m.p99AfterKill),
          med(raw, (m) => m.p99AfterKill),
          's',
          false,
        ),
      );
    }
  }
  return rows;
}

export async function failoverBench(cfg: BenchConfig, adapter: string | undefined): Promise<FailoverReport> {
  const brokers: BrokerName[] =
    adapter === undefined || adapter === 'all' ? ['rabbitmq', 'kafka', 'rocketmq'] : [adapter as BrokerName];
  for (const b of brokers) {
    if (!Object.hasOwn(TARGETS, b))
      throw new Error(`bench: --scenario failover runs on rabbitmq, kafka or rocketmq, not '${b}'`);
  }
  const reps = repetitions(cfg);
  const started = now();
  const all: FailoverMeasurement[] = [];
  const results: ResultRow[] = [];
  const labels: string[] = [];
  for (const broker of brokers) {
    const t = await TARGETS[broker](cfg.log);
    labels.push(t.label);
    try {
      const variants = broker === 'kafka' ? [DEFAULTS, ...KAFKA_VARIANTS] : [DEFAULTS];
      for (let rep = 1; rep <= reps; rep++) {
        for (const scenario of ['survivor', 'replacement'] as const) {
          // Library first on odd repetitions, raw first on even ones (drift and the neighbours hit both).
          const sides: [Side, Variant][] = [
            ['library', DEFAULTS],
            ['raw', DEFAULTS],
          ];
          if (rep % 2 === 0) sides.reverse();
          for (const v of variants) if (v !== DEFAULTS) sides.push(['library', v]);
          for (const [side, variant] of sides) {
            cfg.log(`failover: ${broker} ${scenario}, ${side}, ${variant.name}, repetition ${rep}/${reps}`);
            // Two attempts: a neighbour restarting the shared broker fails a run, which is then measured again.
            const m = await retrying(
              `${broker} ${scenario} ${side}`,
              cfg.log,
              () => runOnce(t, scenario, side, variant, rep, cfg.log),
              2,
            );
            cfg.log(summary(m));
            all.push(m);
          }
        }
      }
    } finally {
      await t.close().catch(() => {});
    }
    results.push(...rowsOf(broker, all));
  }
  const [l1, l5, l15] = loadavg();
  const load = `run ${((now() - started) / 60_000).toFixed(1)} min, load average at the end ${l1?.toFixed(2)} / ${l5?.toFixed(2)} / ${l15?.toFixed(2)} (${cpus().length} cores, shared)`;
  cfg.log(`failover: ${load}`);
  cfg.log(`failover: ${KAFKAJS_MEMBERSHIP}`);
  return {
    adapter: 'failover',
    broker: labels.join('; '),
    results,
    failover: all,
    kafkajsMembership: KAFKAJS_MEMBERSHIP,
    load,
  };
}
