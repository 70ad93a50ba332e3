// RabbitMQ: @lossless/rabbitmq through core against raw amqplib 2.x on the kit's single node, same queue.
//
// Both sides publish persistent 1 KiB messages to a durable fanout exchange bound to one durable queue whose
// arguments are exactly those the driver declares (classic: x-dead-letter-exchange; quorum: also the delivery
// limit, at-least-once dead-lettering and reject-publish), so the broker does the same work for both. Raw
// publishes carry a message id (as a careful raw user would set) but no headers and no `mandatory`.
//
// `secure`: the kit's secured node instead (amqps:// only, verify_peer + fail_if_no_peer_cert). Both sides then
// open the same TLS (the kit's CA, the admin user's client certificate, the certificate's name) and log in with
// PLAIN as the same user: the driver through its `tls` and `auth` options, amqplib through the socket options it
// hands to tls.connect and its `credentials`.

import { randomUUID } from 'node:crypto';
import { rabbitmq as rabbitmqBroker } from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import {
  deadLetterExchangeName,
  deadLetterQueueName,
  exchangeName,
  queueName,
  type RabbitMqDriverOptions,
  rabbitmq,
} from '@lossless/rabbitmq';
import { connect as amqpConnect, type ChannelModel, type ConfirmChannel, credentials } from 'amqplib';
import { type BenchConfig, firstUrl, type Latency, latch, rate, within } from './harness.js';
import { LatencySamples, pacedLatency, SUBSCRIPTION } from './library.js';
import { runScenarios } from './runner.js';
import {
  negotiatedTls,
  rememberSecrets,
  type SecurityNote,
  secureMaterial,
  type TlsCostRow,
} from './secure.js';
import type { ResultRow } from './stats.js';

export type QueueType = 'classic' | 'quorum';

export interface RabbitMqBenchOptions {
  /** Queue types to measure publish and consume on (latency runs on the first). Default ['classic']. */
  queueTypes: readonly QueueType[];
  /** Most unconfirmed publishes of the raw pipelined pattern. Default 1,000. */
  window: number;
  /** The kit's secured node (TLS with a client certificate, PLAIN login) for both sides. Default false. */
  secure?: boolean;
}

export interface AdapterReport {
  adapter: string;
  broker: string;
  /** Set by the broker benchmarks: true when both sides went through TLS and authentication (`--secure`). */
  secure?: boolean;
  /** What a secured run's sides went through (no password). */
  security?: SecurityNote;
  results: ResultRow[];
  /** `--secure --with-plain`: the plain run of the same process, and each side's TLS cost against it. */
  plain?: AdapterReport;
  tlsCost?: TlsCostRow[];
}

/** amqplib's socket options for the secured node: tls.connect's TLS settings and the PLAIN login. */
type AmqpSecureSocket = {
  ca?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
  credentials?: ReturnType<typeof credentials.plain>;
};

/** The driver's queue arguments for a subscription with default settings (maxDeliveries 10, deadLetter true). */
function queueArgs(topic: string, type: QueueType): Record<string, string | number> {
  const args: Record<string, string | number> = {
    'x-queue-type': type,
    'x-dead-letter-exchange': deadLetterExchangeName(topic, SUBSCRIPTION),
  };
  if (type === 'quorum') {
    args['x-delivery-limit'] = 10;
    args['x-dead-letter-strategy'] = 'at-least-once';
    args['x-overflow'] = 'reject-publish';
  }
  return args;
}

/** Raw amqplib on one connection: declare, the publish patterns, consume, latency, delete. */
/**
 * Deletes the queues and exchanges either side declares for `topic` with the bench's subscription (the library
 * also its dead-letter objects and the settings marker of a topic declared with defaults); what is absent is no
 * error. Shared by every RabbitMQ scenario that cleans up (curves.ts and failover.ts too).
 */
export async function removeTopicObjects(model: ChannelModel, topic: string): Promise<void> {
  const queues = [queueName(topic, SUBSCRIPTION), deadLetterQueueName(topic, SUBSCRIPTION)];
  const exchanges = [
    exchangeName(topic),
    deadLetterExchangeName(topic, SUBSCRIPTION),
    // The driver's settings marker for a topic declared with defaults (rabbitmq-driver's topology.ts).
    `${topic}.lossless-spec.pd.rd.md.none`,
  ];
  for (const [kind, name] of [
    ...queues.map((q) => ['q', q] as const),
    ...exchanges.map((e) => ['e', e] as const),
  ]) {
    // A fresh channel each: a failed delete (say, a 404 on an older broker) closes its channel.
    const ch = await model.createChannel();
    ch.on('error', () => {});
    try {
      if (kind === 'q') await ch.deleteQueue(name);
      else await ch.deleteExchange(name);
      await ch.close();
    } catch {
      /* absent: nothing to delete */
    }
  }
}

class Raw {
  constructor(
    private readonly url: string,
    private readonly bodyBytes: number,
    private readonly secure: AmqpSecureSocket = {},
  ) {}

  /**
   * A connection of its own per side, as the library's bus has (and a broker restarted by another process
   * between sides costs nothing). The same socket option as the driver: Nagle off; on the secured node, the
   * same TLS settings and login as the driver's.
   */
  private async session<T>(run: (model: ChannelModel) => Promise<T>): Promise<T> {
    const model = await amqpConnect(this.url, { ...this.secure, noDelay: true });
    model.on('error', () => {}); // a lost connection fails the side's promises; without a listener it throws
    try {
      return await run(model);
    } finally {
      await model.close().catch(() => {});
    }
  }

  async declare(topic: string, type: QueueType): Promise<void> {
    return this.session(async (model) => {
      const ch = await model.createChannel();
      try {
        await ch.assertExchange(topic, 'fanout', { durable: true, autoDelete: false });
        const q = queueName(topic, SUBSCRIPTION);
        await ch.assertQueue(q, { durable: true, autoDelete: false, arguments: queueArgs(topic, type) });
        await ch.bindQueue(q, topic, '');
      } finally {
        await ch.close();
      }
    });
  }

  /** Deletes what either side declared for `topic` (library: also its dead-letter objects and settings marker). */
  async remove(topic: string): Promise<void> {
    return this.session((model) => removeTopicObjects(model, topic));
  }

  private body(): Buffer {
    return Buffer.alloc(this.bodyBytes, 7);
  }

  /** The best raw pattern: one confirm channel, up to `window` unconfirmed, refilled from the confirms. */
  async publishWindow(topic: string, total: number, window: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createConfirmChannel();
      try {
        const body = this.body();
        let sent = 0;
        let confirmed = 0;
        let draining = false;
        const started = performance.now();
        await new Promise<void>((resolve, reject) => {
          const onConfirm = (err: unknown) => {
            if (err) return reject(err);
            if (++confirmed === total) resolve();
            else if (!draining) pump();
          };
          ch.on('close', () => reject(new Error('channel closed')));
          const pump = () => {
            while (sent < total && sent - confirmed < window) {
              sent++;
              const ok = ch.publish(
                topic,
                '',
                body,
                { persistent: true, messageId: randomUUID() },
                onConfirm,
              );
              if (!ok) {
                draining = true;
                ch.once('drain', () => {
                  draining = false;
                  pump();
                });
                return;
              }
            }
          };
          pump();
        });
        return rate(total, started);
      } finally {
        await ch.close();
      }
    });
  }

  /** The library's shape with raw amqplib: `callers` callers, each awaiting its confirm before the next. */
  async publishAwaiting(topic: string, total: number, callers: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createConfirmChannel();
      try {
        const body = this.body();
        let next = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: callers }, async () => {
            while (next++ < total) await publishConfirmed(ch, topic, body);
          }),
        );
        return rate(total, started);
      } finally {
        await ch.close();
      }
    });
  }

  /** Manual ack, prefetch `prefetch`; each message is acked a microtask after it arrives (an empty handler). */
  async consume(topic: string, total: number, prefetch: number): Promise<number> {
    return this.session(async (model) => {
      const ch = await model.createChannel();
      try {
        await ch.prefetch(prefetch);
        let count = 0;
        const { promise: finished, resolve: done, reject } = latch();
        ch.on('close', () => reject(new Error('channel closed')));
        finished.catch(() => {}); // observed below; a close before then must not be unhandled
        const started = performance.now();
        const ok = await ch.consume(
          queueName(topic, SUBSCRIPTION),
          (msg) => {
            if (!msg) return;
            void Promise.resolve()
              .then(() => {
                ch.ack(msg);
                if (++count === total) done();
              })
              .catch(() => {}); // a closed channel: 'close' fails the side
          },
          { noAck: false },
        );
        await within(finished, 120_000 + total, `raw consume of ${topic}`);
        const result = rate(total, started);
        await ch.cancel(ok.consumerTag);
        return result;
      } finally {
        await ch.close();
      }
    });
  }

  /** Fixed-rate publishes on a confirm channel, consumed with manual acks on a second channel. */
  async latency(topic: string, cfg: BenchConfig): Promise<Latency> {
    return this.session(async (model) => {
      const pub = await model.createConfirmChannel();
      const sub = await model.createChannel();
      try {
        await sub.prefetch(cfg.concurrency);
        const samples = new LatencySamples();
        await sub.consume(
          queueName(topic, SUBSCRIPTION),
          (msg) => {
            if (!msg) return;
            void Promise.resolve()
              .then(() => {
                samples.record(msg.content.readDoubleLE(0));
                sub.ack(msg);
              })
              .catch(() => {}); // a closed channel: pacedLatency() times out and the repetition is redone
          },
          { noAck: false },
        );
        let failures = 0;
        return await pacedLatency(
          cfg,
          samples,
          (body) => publishConfirmed(pub, topic, body),
          (body) => {
            try {
              pub.publish(topic, '', body, { persistent: true, messageId: randomUUID() }, (err) => {
                if (err) failures++;
              });
            } catch {
              failures++; // the channel closed (broker restarted): the repetition is measured again
            }
          },
          () => failures,
        );
      } finally {
        await sub.close();
        await pub.close();
      }
    });
  }
}

function publishConfirmed(ch: ConfirmChannel, topic: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish(topic, '', body, { persistent: true, messageId: randomUUID() }, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

export async function rabbitmqBench(cfg: BenchConfig, options: RabbitMqBenchOptions): Promise<AdapterReport> {
  const secure = options.secure === true;
  // The secured fixture's progress lines go through the bench's log, which scrubs its passwords.
  const fixture = rabbitmqBroker(secure ? { secure: true, log: cfg.log } : {});
  rememberSecrets(fixture.settings.security);
  cfg.log(`rabbitmq: bringing up ${fixture.cluster} through the broker kit…`);
  await fixture.up();
  const url = firstUrl(fixture.settings);
  let driverSecurity: Pick<RabbitMqDriverOptions, 'tls' | 'auth'> = {};
  let rawSecurity: AmqpSecureSocket = {};
  let security: SecurityNote | undefined;
  if (secure) {
    const m = secureMaterial(fixture.settings.security, 'rabbitmq');
    const tls = { ca: [m.ca], cert: m.cert, key: m.key, servername: m.servername };
    driverSecurity = { tls, auth: { username: m.username, password: m.password } };
    rawSecurity = { ...tls, credentials: credentials.plain(m.username, m.password) };
    const { hostname, port } = new URL(url);
    security = {
      tls: await negotiatedTls(hostname, Number(port || 5671), tls),
      clientCertificate: true,
      login: `PLAIN as ${m.username}`,
    };
    cfg.log(`rabbitmq: ${url}, ${security.tls}, client certificate, ${security.login}`);
  }
  const raw = new Raw(url, cfg.bodyBytes, rawSecurity);
  const results: ResultRow[] = [];
  for (const type of options.queueTypes) {
    // Latency and memory are measured on the first queue type only; the others add publish, consume and CPU.
    const first = type === options.queueTypes[0];
    const rows = await runScenarios(
      {
        target: {
          driver: () => rabbitmq({ url, logger: silentLogger, ...driverSecurity }),
          topology: (topic, subscription) => ({
            topics: [{ name: topic }],
            subscriptions: [{ name: subscription, topic, queueType: type }],
          }),
        },
        variant: type,
        declare: (topic) => raw.declare(topic, type),
        remove: (topic) => raw.remove(topic),
        publish: {
          scenario: `confirmed publish (${type}): library ${cfg.concurrency} awaiting callers vs raw window ${options.window}`,
          label: `confirmed publish (${type}, raw window)`,
          line: 'publish raw window',
          run: (topic, c) => raw.publishWindow(topic, c.messages, options.window),
        },
        // The same library runs against raw in the library's own shape: the library's cost without the depth.
        alsoPublish: {
          side: 'raw64',
          scenario: `confirmed publish (${type}): library vs raw, both ${cfg.concurrency} awaiting callers`,
          label: `confirmed publish (${type}, raw awaiting)`,
          line: 'publish raw awaiting',
          run: (topic, c) => raw.publishAwaiting(topic, c.messages, c.concurrency),
        },
        consume: {
          scenario: `consume + ack (${type}): concurrency ${cfg.concurrency} vs prefetch ${cfg.concurrency}`,
          label: `consume + ack (${type})`,
          run: (topic, c) => raw.consume(topic, c.messages, c.concurrency),
        },
        fromFirstDelivery: false,
        latency: (topic, c) => raw.latency(topic, c),
        latencyCounts: true,
      },
      cfg,
      { warmUp: { retry: true }, latency: first, memory: first },
    );
    results.push(...rows);
  }
  const over = security ? `, over ${security.tls} with a client certificate, ${security.login}` : '';
  return {
    adapter: 'rabbitmq',
    broker: `RabbitMQ ${fixture.version} single node (${fixture.cluster}, 127.0.0.1${over}), amqplib 2.3.1, durable ${options.queueTypes.join(' and ')} queue(s)`,
    secure,
    ...(security ? { security } : {}),
    results,
  };
}
