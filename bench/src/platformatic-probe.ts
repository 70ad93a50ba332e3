// Feasibility probe: can a lossless Kafka driver be built on @platformatic/kafka? Each check runs one property the
// kafkajs driver (adapters/kafka/src) relies on against the kit's Kafka broker and records works / partial /
// doesn't with the line of evidence it saw. Not part of the CLI; on Node >= 22.22, after `npx tsc -b`:
//   .lossless/node/<22.x>/bin/node bench/dist/platformatic-probe.js [--secure]
// `--secure` also brings up the kit's secured fixture (SASL_SSL, SCRAM-SHA-512) for the TLS/SASL and
// auth-failure checks; without it those two are read from the sources only. Everything created is deleted.

import { randomUUID } from 'node:crypto';
import { kafka as kafkaBroker } from '@lossless/brokers';
import type { Consumer, Message, MessagesStream, Producer, ProducerOptions } from '@platformatic/kafka';
import { markdown } from './stats.js';

type Platformatic = typeof import('@platformatic/kafka');
type Verdict = 'works' | 'partial' | "doesn't" | 'n/a';
interface Finding {
  property: string;
  verdict: Verdict;
  evidence: string;
}

const findings: Finding[] = [];
const log = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function note(property: string, verdict: Verdict, evidence: string): void {
  findings.push({ property, verdict, evidence });
  log(`[${verdict}] ${property}: ${evidence}`);
}

/** An error as a driver's error table would see it: class, code, the broker's error id and whether it retries. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as Error & Record<string, unknown>;
  const parts = [`${e.constructor.name}`, `code=${String(e.code)}`];
  const inner: string[] = [];
  const walk = (x: unknown, depth: number) => {
    if (!(x instanceof Error) || depth > 4) return;
    const r = x as Error & Record<string, unknown>;
    if (r.apiId !== undefined)
      inner.push(`${String(r.apiId)}(${String(r.apiCode)}, canRetry=${String(r.canRetry)})`);
    const errors = (x as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const y of errors.slice(-2)) walk(y, depth + 1);
    if (r.cause) walk(r.cause, depth + 1);
  };
  walk(error, 0);
  if (inner.length > 0) parts.push(`broker=${[...new Set(inner)].join(',')}`);
  parts.push(`"${e.message.slice(0, 120)}"`);
  return parts.join(' ');
}

/** `--only a,b`: run only the checks whose name contains one of the words (the admin/produce ones always run). */
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? (process.argv[i + 1] ?? '').split(',') : undefined;
})();

async function check(property: string, fn: () => Promise<void>, always = false): Promise<void> {
  if (!always && only && !only.some((w) => property.includes(w))) return;
  try {
    await bounded(fn(), 90_000, property);
  } catch (error) {
    note(property, "doesn't", `threw ${describe(error)}`);
  }
}

function hex(b: Buffer | undefined): string {
  return b === undefined ? 'undefined' : b.toString('hex');
}

/**
 * Collects `count` messages from a stream (or what arrived within `ms`), then pauses it: the stream and its
 * consumer stay alive (a `for await` that breaks would destroy the stream), and what was read stays unsettled.
 */
function take(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>, count: number, ms = 20_000) {
  return new Promise<Message[]>((resolve, reject) => {
    const got: Message[] = [];
    const finish = () => {
      clearTimeout(timer);
      stream.removeListener('data', onData);
      stream.removeListener('error', onError);
      stream.pause();
      resolve(got);
    };
    const onData = (m: Message) => {
      got.push(m);
      if (got.length >= count) finish();
    };
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(finish, ms);
    stream.on('data', onData);
    stream.on('error', onError);
    stream.resume();
  });
}

/** Rejects when `promise` takes longer than `ms` (a check that hangs is a finding, not a stuck probe). */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A check the others build on (the main topic, its records): runs whatever `--only` says. */
const setup = (property: string, fn: () => Promise<void>) => check(property, fn, true);

async function main(): Promise<void> {
  const node = process.versions.node;
  const [major = 0, minor = 0] = node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 22)) {
    throw new Error(`the probe needs Node >= 22.22 (@platformatic/kafka's engines), this is ${node}`);
  }
  const pk: Platformatic = await import('@platformatic/kafka');
  const fixture = kafkaBroker();
  await fixture.up();
  const brokers = [...fixture.settings.brokers];
  log(`probe: Kafka ${fixture.version} at ${brokers.join(',')}, Node ${node}`);
  const base = { clientId: 'lossless-probe', bootstrapBrokers: brokers };
  const admin = new pk.Admin({ ...base, retries: 2 });
  const topics: string[] = [];
  const groups: string[] = [];
  const fresh = (what: string) => {
    const t = `lpp-${Date.now().toString(36)}-${what}`;
    topics.push(t);
    return t;
  };
  const group = (what: string) => {
    const g = `lpp-g-${Date.now().toString(36)}-${what}`;
    groups.push(g);
    return g;
  };
  const producers: Producer[] = [];
  const newProducer = (extra: Partial<ProducerOptions<Buffer, Buffer, Buffer, Buffer>> = {}) => {
    const p = new pk.Producer<Buffer, Buffer, Buffer, Buffer>({
      ...base,
      idempotent: true,
      autocreateTopics: false,
      retries: 3,
      ...extra,
    });
    producers.push(p);
    return p;
  };
  const consumers: Consumer[] = [];
  const newConsumer = (groupId: string, extra: Record<string, unknown> = {}) => {
    const c = new pk.Consumer({ ...base, groupId, autocommit: false, maxWaitTime: 500, ...extra });
    consumers.push(c);
    return c;
  };
  const committed = pk.MessagesStreamModes.COMMITTED;
  const earliest = pk.MessagesStreamFallbackModes.EARLIEST;

  try {
    // --- admin: create with partitions and configs, describe configs -------------------------------------
    const main = fresh('main');
    await setup('admin: create topic with partitions + configs, describe configs', async () => {
      const created = await admin.createTopics({
        topics: [main],
        partitions: 3,
        replicas: 1,
        configs: [
          { name: 'min.insync.replicas', value: '1' },
          { name: 'retention.ms', value: '86400000' },
          { name: 'max.message.bytes', value: '4096' },
        ],
      });
      const [described] = await admin.describeConfigs({
        resources: [
          {
            resourceType: pk.ConfigResourceTypes.TOPIC,
            resourceName: main,
            configurationKeys: ['min.insync.replicas', 'retention.ms', 'max.message.bytes', 'cleanup.policy'],
          },
        ],
      });
      const cfg = described?.configs.map((c) => `${c.name}=${String(c.value)}`).join(' ') ?? '?';
      let again = 'no error';
      try {
        await admin.createTopics({ topics: [main], partitions: 3, replicas: 1 });
      } catch (error) {
        again = describe(error);
      }
      note(
        'admin: create topic with partitions + configs, describe configs',
        'works',
        `createTopics → partitions=${created[0]?.partitions} replicas=${created[0]?.replicas}; describeConfigs → ${cfg}; ` +
          `create again → ${again} (configs apply to every topic of one call)`,
      );
    });

    // --- produce: idempotent, acks all, explicit partitions, offsets, binary headers ----------------------
    const producer = newProducer();
    const sent: { id: string; partition: number }[] = [];
    const binKey = Buffer.from([0x00, 0xff, 0x80, 0x69]);
    const binValue = Buffer.from([0x00, 0x01, 0xfe, 0xff, 0xc3, 0x28]); // 0xc3 0x28: invalid UTF-8
    await setup('idempotent producer, acks all, per-partition offsets in the answer', async () => {
      const info = await producer.initIdempotentProducer({});
      const messages = [0, 1, 2, 0, 1, 2, 2].map((partition) => {
        const id = randomUUID();
        sent.push({ id, partition });
        return {
          topic: main,
          partition,
          value: Buffer.from(`body-${id}`),
          headers: new Map([
            [Buffer.from('id'), Buffer.from(id)],
            [binKey, binValue],
          ]),
        };
      });
      const result = await producer.send({ messages, acks: pk.ProduceAcks.ALL });
      const offsets = (result.offsets ?? []).map((o) => `p${o.partition}@${o.offset}`).join(' ');
      note(
        'idempotent producer, acks all, per-partition offsets in the answer',
        result.offsets?.length === 3 ? 'works' : 'partial',
        `producerId=${info.producerId} epoch=${info.producerEpoch}; send(7 records over p0,p1,p2,p0,p1,p2,p2) → ` +
          `offsets [${offsets}] — one base offset per partition of the request (as kafkajs: record i = base + its ` +
          `index within the partition)`,
      );
    });
    const reader = newConsumer(group('main'));
    let readBack: Message[] = [];
    await setup('explicit partition per message; binary headers both ways', async () => {
      const stream = await reader.consume({ topics: [main], mode: committed, fallbackMode: earliest });
      readBack = await take(stream, sent.length);
      const byId = new Map(
        readBack.map((m) => {
          const id = [...m.headers].find(([k]) => k.toString() === 'id')?.[1]?.toString() ?? '?';
          return [id, m] as const;
        }),
      );
      const placed = sent.filter((s) => byId.get(s.id)?.partition === s.partition).length;
      const first = readBack[0];
      const bin = first ? [...first.headers].find(([k]) => k.equals(binKey)) : undefined;
      note(
        'explicit partition per message',
        placed === sent.length ? 'works' : "doesn't",
        `${placed}/${sent.length} records read back from the partition they were sent to (MessageToProduce.partition)`,
      );
      note(
        'record headers (binary) both ways',
        bin?.[1]?.equals(binValue) ? 'works' : "doesn't",
        `sent key ${hex(binKey)} value ${hex(binValue)} → read ${hex(bin?.[0])} = ${hex(bin?.[1])}; ` +
          `headers arrive as Map<Buffer, Buffer> (lookup by Buffer identity fails: iterate or use headerEntries)`,
      );
      // Manual commit of explicit offsets, per partition, while the stream is still a member.
      const epoch = readBack[0]?.leaderEpoch ?? -1;
      await reader.commit({
        offsets: [
          { topic: main, partition: 0, offset: 1n, leaderEpoch: epoch },
          { topic: main, partition: 2, offset: 2n, leaderEpoch: epoch },
        ],
      });
      const [listed] = await admin.listConsumerGroupOffsets({ groups: [reader.groupId] });
      const parts =
        listed?.topics
          .flatMap((t) => t.partitions.map((p) => `p${p.partitionIndex}=${p.committedOffset}`))
          .join(' ') ?? '?';
      const lag = await reader.getLag({ topics: [main] });
      const ends = await admin.listOffsets({
        topics: [
          { name: main, partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) },
        ],
      });
      note(
        'manual commit of an explicit offset per partition',
        parts.includes('p0=1') && parts.includes('p2=2') ? 'works' : "doesn't",
        `consumer.commit({offsets:[p0→1, p2→2]}) → listConsumerGroupOffsets: ${parts} (uncommitted = -1)`,
      );
      const lagByAdmin = (ends[0]?.partitions ?? [])
        .map((p) => {
          const c = listed?.topics[0]?.partitions.find((x) => x.partitionIndex === p.partitionIndex);
          const done = c && c.committedOffset >= 0n ? c.committedOffset : 0n;
          return `p${p.partitionIndex}=${p.offset - done}`;
        })
        .join(' ');
      note(
        'admin: list offsets / lag',
        'works',
        `admin.listOffsets(LATEST) − admin.listConsumerGroupOffsets → lag ${lagByAdmin}; consumer.getLag → ` +
          `${JSON.stringify([...lag].map(([, l]) => l.map(String)))} (getLag subtracts its streams' ` +
          `offsetsCommitted: -1 for a partition no live stream has committed, consumer.js getLag)`,
      );
      await stream.close();
    });

    // --- backpressure ------------------------------------------------------------------------------------
    await check('pausing / bounding in-flight records', async () => {
      const topic = fresh('bp');
      await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
      const p = newProducer();
      const value = Buffer.alloc(200, 1);
      for (let i = 0; i < 4; i++) {
        await p.send({ messages: Array.from({ length: 500 }, () => ({ topic, value })) });
      }
      const c = newConsumer(group('bp'));
      const stream = await c.consume({
        topics: [topic],
        mode: committed,
        fallbackMode: earliest,
        highWaterMark: 16,
      });
      let got = 0;
      stream.on('readable', () => {
        if (got === 0 && stream.read() !== null) got++;
      });
      await sleep(3_000);
      const buffered = stream.readableLength;
      const perPartition =
        typeof (c as unknown as Record<string, unknown>).pause === 'function' ? 'has' : 'has no';
      await stream.close();
      note(
        'pausing / resuming fetch per partition; bounding in-flight records',
        'partial',
        `Consumer ${perPartition} pause(partitions); MessagesStream.pause()/resume() stop the whole stream. ` +
          `Backpressure = Readable highWaterMark (messages): with highWaterMark 16 and 1 message read, ` +
          `${buffered} sat in the buffer after 3 s — #pushRecords pushes a whole fetch response, then stops ` +
          `fetching until _read (messages-stream.js #pushRecords/#fetch); a per-partition bound (prefetch) ` +
          `must be kept by the driver above the stream`,
      );
    });

    // --- rebalance, classic protocol ---------------------------------------------------------------------
    await check('rebalance notifications (classic)', async () => {
      const g = group('rb');
      const a = newConsumer(g, { sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
      const events: string[] = [];
      const t0 = Date.now();
      const at = (what: string) => events.push(`${what}@${Date.now() - t0}ms`);
      a.on('consumer:group:rebalance', () => at('A:rebalance'));
      a.on('consumer:group:join', (e) =>
        at(`A:join(${e.assignments?.flatMap((x) => x.partitions).join(',') ?? ''})`),
      );
      const sa = await a.consume({ topics: [main], mode: committed, fallbackMode: earliest });
      const held = await take(sa, 3, 10_000); // handed out, never settled
      const b = newConsumer(g, { sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
      b.on('consumer:group:join', (e) =>
        at(`B:join(${e.assignments?.flatMap((x) => x.partitions).join(',') ?? ''})`),
      );
      const sb = await b.consume({ topics: [main], mode: committed, fallbackMode: earliest });
      const gotB = await take(sb, 1, 8_000);
      at(`B:first message p${gotB[0]?.partition}@${gotB[0]?.offset}`);
      // A commit for a partition A no longer owns: does the broker refuse it (stale ack detection)?
      const lost = [0, 1, 2].find((p) => !(a.assignments ?? []).some((x) => x.partitions.includes(p)));
      let stale = 'A still owns every partition';
      if (lost !== undefined) {
        try {
          await a.commit({ offsets: [{ topic: main, partition: lost, offset: 5n, leaderEpoch: -1 }] });
          stale = `accepted (p${lost}, no longer A's)`;
        } catch (error) {
          stale = `refused ${describe(error)}`;
        }
      }
      await sb.close();
      await sa.close();
      note(
        'rebalance notifications; drain in-flight deliveries before partitions move (classic)',
        'partial',
        `A held ${held.length} unsettled; events: ${events.join(', ')}. 'consumer:group:rebalance' is a synchronous ` +
          `event: nothing awaits the application, so partitions move with deliveries in flight (consumer.js ` +
          `#heartbeat → #joinGroup; cooperative-sticky only autocommits before revoking, ` +
          `#completeClassicSyncGroup). Commit of a revoked partition by A: ${stale}`,
      );
    });

    // --- KIP-848 -----------------------------------------------------------------------------------------
    await check('consumer group protocol KIP-848', async () => {
      const g = group('848');
      const a = newConsumer(g, { groupProtocol: pk.GroupProtocols.CONSUMER });
      const events: string[] = [];
      const t0 = Date.now();
      const at = (what: string) => events.push(`${what}@${Date.now() - t0}ms`);
      a.on('consumer:group:join', () => at('A:join'));
      a.on('consumer:group:rebalance', () => at('A:revoke'));
      const sa = await a.consume({ topics: [main], mode: committed, fallbackMode: earliest });
      const got = await take(sa, sent.length, 15_000);
      at(`A:${got.length} messages, assignment ${a.assignments?.flatMap((x) => x.partitions).join(',')}`);
      const b = newConsumer(g, { groupProtocol: pk.GroupProtocols.CONSUMER });
      const sb = await b.consume({ topics: [main], mode: committed, fallbackMode: earliest });
      await sleep(6_000);
      at(
        `after B joined: A ${a.assignments?.flatMap((x) => x.partitions).join(',')} / ` +
          `B ${b.assignments?.flatMap((x) => x.partitions).join(',')}`,
      );
      let described = '';
      try {
        const [d] = [...(await admin.describeGroups({ groups: [g] })).values()];
        described = `protocolType=${String(d?.protocolType)} state=${String(d?.state)}`;
      } catch (error) {
        // DescribeGroups is the classic API; a consumer-protocol group needs ConsumerGroupDescribe (KIP-848).
        described = `failed: ${describe(error)}`;
      }
      await sb.close();
      await sa.close();
      note(
        'consumer group protocol KIP-848 (group.protocol=consumer) on Kafka 4.4',
        got.length === sent.length ? 'works' : 'partial',
        `${events.join(', ')}; admin.describeGroups → ${described}. Revocation (#revokePartitions) pauses streams and starts a commit ` +
          `without waiting for it or the application, then acknowledges at once`,
      );
    });

    // --- errors ------------------------------------------------------------------------------------------
    await check('errors: unknown topic', async () => {
      const started = Date.now();
      try {
        await newProducer().send({
          messages: [{ topic: `lpp-missing-${randomUUID()}`, value: Buffer.from('x') }],
        });
        note('error: produce to an unknown topic', "doesn't", 'no error (auto-created?)');
      } catch (error) {
        note(
          'error: produce to an unknown topic (autocreateTopics false, retries 3)',
          'partial',
          `${describe(error)} after ${Date.now() - started} ms — base.js kMetadata replaces the broker's ` +
            `UNKNOWN_TOPIC_OR_PARTITION with this UserError (no cause, no broker code): NOT_FOUND only by message`,
        );
      }
      try {
        const c = newConsumer(group('missing'));
        const s = await c.consume({
          topics: [`lpp-missing-${randomUUID()}`],
          mode: committed,
          fallbackMode: earliest,
        });
        await s.close();
        note(
          'error: consume an unknown topic',
          'partial',
          'consume() resolved: the driver must check with admin',
        );
      } catch (error) {
        note('error: consume an unknown topic', 'partial', `${describe(error)} (the same UserError)`);
      }
    });
    await check('errors: too-large record', async () => {
      try {
        await newProducer().send({
          messages: [{ topic: main, partition: 0, value: Buffer.alloc(10_000, 1) }],
        });
        note('error: too-large record', "doesn't", 'accepted a 10,000-byte record on max.message.bytes=4096');
      } catch (error) {
        note('error: too-large record (10,000 B on max.message.bytes=4096)', 'works', describe(error));
      }
    });
    await check('errors: unreachable broker', async () => {
      const started = Date.now();
      const p = new pk.Producer({
        clientId: 'lossless-probe',
        bootstrapBrokers: ['127.0.0.1:1'],
        retries: 1,
      });
      try {
        await p.send({ messages: [{ topic: main, value: Buffer.from('x') }] });
      } catch (error) {
        note(
          'error: unreachable broker (retries 1)',
          'works',
          `${describe(error)} after ${Date.now() - started} ms`,
        );
      } finally {
        await p.close().catch(() => {});
      }
    });

    // --- connection drop during produce ------------------------------------------------------------------
    await check('in-flight produce when the connection drops', async () => {
      const topic = fresh('drop');
      await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
      const p = newProducer({ retries: 5, retryDelay: 200 });
      await p.initIdempotentProducer({});
      // base.js kPerformWithRetry emits 'client:performWithRetry' (operation, attempt) before every attempt.
      let retried = 0;
      (p as unknown as NodeJS.EventEmitter).on(
        'client:performWithRetry',
        (operation: string, attempt: number) => {
          if (operation === 'produce' && attempt > 0) retried++;
        },
      );
      const value = Buffer.alloc(512, 3);
      let confirmed = 0;
      let failed = 0;
      let drops = 0;
      const ids = new Set<string>();
      const pidsSeen = new Set<string>();
      for (let round = 0; round < 20; round++) {
        const messages = Array.from({ length: 200 }, (_, i) => {
          const id = `${round}-${i}`;
          ids.add(id);
          return { topic, partition: i % 3, value, headers: new Map([[Buffer.from('id'), Buffer.from(id)]]) };
        });
        const sockets = Object.values(await p.getSendConnections({ messages })).map((c) => c.socket);
        const sending = p.send({ messages });
        // Cut the connection while the request is on the wire (before the answer, most rounds).
        await new Promise((resolve) => setImmediate(resolve));
        for (const s of sockets) {
          s?.destroy();
          drops++;
        }
        try {
          await sending;
          confirmed += messages.length;
        } catch (error) {
          failed += messages.length;
          log(`  round ${round}: ${describe(error)}`);
        }
        pidsSeen.add(String(p.producerId));
      }
      // Read everything back: duplicates (same id twice) mean a re-send under a new producer id.
      const c = newConsumer(group('drop'));
      const s = await c.consume({ topics: [topic], mode: committed, fallbackMode: earliest });
      const seen = new Map<string, number>();
      const back = await take(s, confirmed + failed, 20_000);
      for (const m of back) {
        const id = [...m.headers].find(([k]) => k.toString() === 'id')?.[1]?.toString() ?? '?';
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      await s.close();
      const duplicates = [...seen.values()].filter((n) => n > 1).length;
      note(
        'in-flight produce when the broker connection drops',
        duplicates === 0 && back.length >= confirmed ? 'works' : 'partial',
        `20 sends of 200 (3 partitions), socket destroyed right after each send: ${confirmed} confirmed, ` +
          `${failed} failed, ${back.length} stored, ${duplicates} duplicated ids, producer ids seen ${pidsSeen.size} ` +
          `(${drops} sockets cut), ${retried} produce re-attempts (same records, same sequence numbers). Sources: producer.js #performSingleDestinationSend retries the same records with ` +
          `the same sequence snapshot (kPerformWithRetry); after the last attempt #performSend drops the producer ` +
          `id and sequences (next send: new InitProducerId); OUT_OF_ORDER_SEQUENCE / UNKNOWN_PRODUCER_ID → ` +
          `#recoverIdempotentProducer re-sends under a new id`,
      );
    });

    // --- security ----------------------------------------------------------------------------------------
    if (process.argv.includes('--secure')) {
      await check('TLS + SASL SCRAM-SHA-512; auth failure', async () => {
        const secured = kafkaBroker({ secure: true, log: () => {} });
        await secured.up();
        const s = secured.settings.security;
        if (!s) throw new Error('the secured fixture has no security settings');
        const { readFileSync } = await import('node:fs');
        const ca = readFileSync(s.caFile, 'utf8');
        const user = s.admin;
        const sbase = {
          clientId: 'lossless-probe',
          bootstrapBrokers: [...secured.settings.brokers],
          tls: { ca: [ca], servername: s.servername },
          retries: 1,
        };
        const ok = new pk.Admin({
          ...sbase,
          sasl: { mechanism: 'SCRAM-SHA-512', username: user.username, password: user.password },
        });
        const listed = await ok.listTopics();
        await ok.close();
        note('TLS + SASL SCRAM-SHA-512 login', 'works', `listTopics over SASL_SSL → ${listed.length} topics`);
        const bad = new pk.Admin({
          ...sbase,
          sasl: { mechanism: 'SCRAM-SHA-512', username: user.username, password: 'wrong-password' },
        });
        const started = Date.now();
        try {
          await bad.listTopics();
          note('error: auth failure', "doesn't", 'a wrong password was accepted');
        } catch (error) {
          note(
            'error: auth failure (wrong SCRAM password)',
            'works',
            `${describe(error)} after ${Date.now() - started} ms`,
          );
        } finally {
          await bad.close().catch(() => {});
        }
      });
    } else {
      note(
        'TLS and SASL SCRAM-SHA-512 options',
        'works',
        'read only (secured fixture not started): BaseOptions.tls (node:tls ConnectionOptions), tlsServerName, ' +
          "sasl { mechanism: 'SCRAM-SHA-512', username, password (string or provider) } (network/connection.js, " +
          'protocol/sasl/scram-sha.js); PLAIN, SCRAM-SHA-256, OAUTHBEARER, GSSAPI too',
      );
      note(
        'error: auth failure',
        'partial',
        "read only: connection.js wraps a failed SaslAuthenticate in AuthenticationError('SASL authentication " +
          "failed.', code PLT_KFK_AUTHENTICATION, the broker's error as cause) — run with --secure to see it",
      );
    }
  } finally {
    for (const c of consumers) await c.close(true).catch(() => {});
    for (const p of producers) await p.close(true).catch(() => {});
    if (groups.length > 0) await admin.deleteGroups({ groups }).catch(() => {});
    const existing = new Set(await admin.listTopics().catch(() => [] as string[]));
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present }).catch(() => {});
    await admin.close().catch(() => {});
  }
  console.log(
    `\n${markdown(
      ['property', 'verdict', 'evidence'],
      findings.map((f) => [f.property, f.verdict, f.evidence.replaceAll('|', '\\|')]),
    )}\n`,
  );
}

await main();
process.exit(0);
