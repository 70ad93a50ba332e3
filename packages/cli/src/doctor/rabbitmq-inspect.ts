// What the doctor can see of a RabbitMQ over AMQP alone. amqplib cannot list queues, and a passive declare
// (checkQueue) answers only "exists, N messages, M consumers" — not the flags or arguments. So each queue of a
// subscription given with --subscription (and each exchange of a --topic) is probed by *re-declaration*: the
// broker answers 406 PRECONDITION_FAILED "inequivalent arg 'x-overflow' … received none but current is the value
// 'drop-head' of type 'longstr'" for the first setting that differs, which names its current value; the probe
// adopts it and declares again, until the declaration is equivalent (a no-op). Every probe runs on a throwaway
// channel (a 406 closes it). The object is checked with a passive declare first, so the probe never creates a
// missing one (only a delete racing between the two could: the probe then creates what it read so far). Policies,
// the node count and quorum members are not visible this way: the report says so (rabbitmq.policies.unchecked).
import { ErrorCode, LosslessError } from '@lossless/core';
import { nodeTlsOptions, redactAddress } from '@lossless/core/driver';
import type { RabbitMqDriverOptions } from '@lossless/rabbitmq';
import { type ChannelModel, connect, credentials, type Options } from 'amqplib';
import type { RabbitExchangeState, RabbitQueueState } from './rabbitmq-rules.js';

/** A 406 answer to a re-declaration: which setting differs and its current value. */
export interface Inequivalence {
  readonly arg: string;
  /** undefined: the object does not have the setting ("current is none"). */
  readonly current: unknown;
}

const NUMERIC = new Set([
  'byte',
  'short',
  'signedint',
  'long',
  'unsignedbyte',
  'unsignedshort',
  'unsignedint',
  'longlong',
  'signedlong',
  'float',
  'double',
  'decimal',
]);

/** Parses RabbitMQ's "inequivalent arg" message (rabbit_misc:assert_args_equivalence, 3.x and 4.x). */
export function parseInequivalence(message: string): Inequivalence | undefined {
  const m = message.match(
    /inequivalent arg '([^']+)' for \w+ '.*?' in vhost '.*?': received .*? but current is (.+?)"?$/,
  );
  if (!m) return undefined;
  const arg = m[1] as string;
  const current = (m[2] as string).trim();
  if (current === 'none') return { arg, current: undefined };
  const typed = current.match(/^the value '(.*)' of type '(\w+)'$/);
  if (typed) {
    const [, value = '', type = ''] = typed;
    if (NUMERIC.has(type)) return { arg, current: Number(value) };
    if (type === 'bool') return { arg, current: value === 'true' };
    return { arg, current: value };
  }
  const plain = current.match(/^'(.*)'$/);
  const value = plain ? (plain[1] as string) : current;
  return { arg, current: value === 'true' ? true : value === 'false' ? false : value };
}

function code(error: unknown): number | undefined {
  const c = (error as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

/** One AMQP connection for the doctor's probes. */
export class RabbitProbe {
  private constructor(
    private readonly model: ChannelModel,
    readonly serverProperties: Record<string, unknown>,
    readonly url: string,
  ) {}

  /** Connects to the first node that answers. UNAVAILABLE / PERMISSION_DENIED when none does. */
  static async open(options: RabbitMqDriverOptions, timeoutMs: number): Promise<RabbitProbe> {
    const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
    const socket: Options.Connect & Record<string, unknown> = { timeout: timeoutMs };
    const auth = options.auth;
    if (auth) {
      socket.credentials =
        auth.mechanism === 'external'
          ? credentials.external()
          : auth.mechanism === 'amqplain'
            ? credentials.amqplain(auth.username, auth.password)
            : credentials.plain(auth.username, auth.password);
    }
    if (options.tls) {
      Object.assign(socket, nodeTlsOptions(options.tls, { where: 'rabbitmq doctor', broker: 'rabbitmq' }));
    }
    let last: unknown;
    for (const url of urls) {
      try {
        const model = await connect(url, socket);
        model.on('error', () => {});
        const props = (model.connection as unknown as { serverProperties?: Record<string, unknown> })
          .serverProperties;
        return new RabbitProbe(model, props ?? {}, redactAddress(url));
      } catch (error) {
        last = error;
        const message = error instanceof Error ? error.message : String(error);
        if (/ACCESS.REFUSED|403|auth/i.test(message)) {
          throw new LosslessError(
            ErrorCode.PERMISSION_DENIED,
            `rabbitmq doctor: ${redactAddress(url)} refused the login: ${message}`,
            { broker: 'rabbitmq' },
          );
        }
      }
    }
    throw new LosslessError(
      ErrorCode.UNAVAILABLE,
      `rabbitmq doctor: no node answered (${urls.map(redactAddress).join(', ')}): ${last instanceof Error ? last.message : String(last)}`,
      { broker: 'rabbitmq', cause: last },
    );
  }

  /** 'RabbitMQ 3.10.8 (cluster lossless-rmq@vm)'. */
  get brokerName(): string {
    const p = this.serverProperties;
    const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? '?'));
    return `${text(p.product ?? 'RabbitMQ')} ${text(p.version)} (cluster ${text(p.cluster_name)})`;
  }

  private async onChannel<T>(f: (ch: Awaited<ReturnType<ChannelModel['createChannel']>>) => Promise<T>) {
    const ch = await this.model.createChannel();
    ch.on('error', () => {});
    try {
      return await f(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Whether the queue exists (a passive declare on its own channel). */
  async queueExists(name: string): Promise<boolean> {
    try {
      await this.onChannel((ch) => ch.checkQueue(name));
      return true;
    } catch (error) {
      if (code(error) === 404) return false;
      throw error;
    }
  }

  async exchangeExists(name: string): Promise<boolean> {
    try {
      await this.onChannel((ch) => ch.checkExchange(name));
      return true;
    } catch (error) {
      if (code(error) === 404) return false;
      throw error;
    }
  }

  /**
   * The queue's flags and arguments, read by re-declaration; undefined when it does not exist. Gives up after
   * 24 rounds (an argument whose value cannot be sent back as read) with what it read: `complete: false`.
   */
  async queue(
    name: string,
    role: RabbitQueueState['role'],
  ): Promise<(RabbitQueueState & { complete: boolean }) | undefined> {
    if (!(await this.queueExists(name))) return undefined;
    let durable = true;
    let autoDelete = false;
    let exclusive = false;
    const args: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (let round = 0; round < 24; round++) {
      try {
        await this.onChannel((ch) =>
          ch.assertQueue(name, { durable, autoDelete, exclusive: false, arguments: args }),
        );
        return { name, role, durable, autoDelete, exclusive, arguments: args, complete: true };
      } catch (error) {
        if (code(error) === 405) {
          // RESOURCE_LOCKED: an exclusive queue of another connection. Its other flags cannot be read.
          exclusive = true;
          return { name, role, durable, autoDelete, exclusive, arguments: args, complete: false };
        }
        if (code(error) === 404) return undefined; // deleted in between
        if (code(error) !== 406) throw error;
        const diff = parseInequivalence(error instanceof Error ? error.message : String(error));
        const key = diff ? `${diff.arg}=${JSON.stringify(diff.current)}` : '';
        if (!diff || seen.has(key)) break;
        seen.add(key);
        if (diff.arg === 'durable') durable = diff.current === true;
        else if (diff.arg === 'auto_delete') autoDelete = diff.current === true;
        else if (diff.arg === 'exclusive') exclusive = diff.current === true;
        else if (diff.current === undefined) delete args[diff.arg];
        else args[diff.arg] = diff.current;
      }
    }
    return { name, role, durable, autoDelete, exclusive, arguments: args, complete: false };
  }

  /** The exchange's type and flags, read by re-declaration; undefined when it does not exist. */
  async exchange(name: string): Promise<RabbitExchangeState | undefined> {
    if (!(await this.exchangeExists(name))) return undefined;
    let type = 'fanout';
    let durable = true;
    let autoDelete = false;
    const seen = new Set<string>();
    for (let round = 0; round < 8; round++) {
      try {
        await this.onChannel((ch) => ch.assertExchange(name, type, { durable, autoDelete }));
        return { name, type, durable, autoDelete };
      } catch (error) {
        if (code(error) === 404) return undefined;
        if (code(error) !== 406) throw error;
        const diff = parseInequivalence(error instanceof Error ? error.message : String(error));
        const key = diff ? `${diff.arg}=${JSON.stringify(diff.current)}` : '';
        if (!diff || seen.has(key)) break;
        seen.add(key);
        if (diff.arg === 'type') type = String(diff.current);
        else if (diff.arg === 'durable') durable = diff.current === true;
        else if (diff.arg === 'auto_delete') autoDelete = diff.current === true;
      }
    }
    return { name, type, durable, autoDelete };
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => {});
  }
}
