// `lossless dlq list|show|redrive|purge`: parses flags, resolves the connection, calls the operations API and
// prints a table (or JSON with --json). Progress goes to stderr; results to stdout.
import { createInterface } from 'node:readline/promises';
import { describeError, invalidArgument } from '@lossless/core';
import { CONNECTION_FLAGS, type ConnectionFlags, ENV, resolveConnection } from '../connection.js';
import { EXIT, formatTable, Progress } from '../output.js';
import { exitCodeOf, type FlagSpec, intFlag, parseFlags, str } from './args.js';
import type { DeadLetter } from './dead-letter.js';
import { compileErrorFilter } from './filter.js';
import { listDeadLetters, purgeDeadLetters, redriveDeadLetters, showDeadLetters } from './operations.js';

export const CONNECTION_HELP = `Connection (every command):
  --adapter rabbitmq|kafka|rocketmq        or ${ENV.adapter}
  --url amqp://host:5672 (repeatable)      RabbitMQ, or ${ENV.rabbitmqUrl} (comma-separated)
  --brokers host:9092[,host:9092]          Kafka, or ${ENV.kafkaBrokers}
  --endpoints host:8081 --namesrv host:9876  RocketMQ, or ${ENV.rocketmqEndpoints}, ${ENV.rocketmqNamesrv}
  --cluster NAME                           RocketMQ broker cluster (default DefaultCluster), or ${ENV.rocketmqCluster}
  --username NAME                          or ${ENV.username}; the password from ${ENV.password} or --password-file PATH
  --sasl-mechanism plain|scram-sha-256|scram-sha-512   Kafka (default scram-sha-512 with --username)
  --access-key KEY                         RocketMQ ACL; the secret from ${ENV.secretKey} or --secret-key-file PATH
  --tls --ca PATH --cert PATH --key PATH --servername NAME --insecure
                                           TLS; a key's passphrase from ${ENV.tlsPassphrase}
Secrets are never taken from a flag and never printed.`;

export const DLQ_HELP = `lossless dlq — dead letters, the same on RabbitMQ, Kafka and RocketMQ

Usage:
  lossless dlq list    [--topic T] [--subscription S] [--json]
  lossless dlq show    --topic T --subscription S [--limit N] [--json]
  lossless dlq redrive --topic T --subscription S [--ids a,b] [--filter-error REGEX] [--limit N]
                       [--to-topic T2] [--rate N] [--json]
  lossless dlq purge   --topic T --subscription S [--yes] [--json]

  list     every dead-letter destination with its depth (RabbitMQ and RocketMQ need --topic and --subscription)
  show     the first N dead letters (default 20): id, key, attempt, last error, original topic, body preview;
           nothing is removed (RocketMQ: hidden about a second, one delivery counted)
  redrive  re-publish the selected dead letters to their topic (or --to-topic), same id, attempt reset, header
           lossless-redriven-at; each is removed only after the broker confirmed its copy. A rerun after a crash
           loses nothing (a message may arrive twice, same id). --rate: most messages per second
  purge    remove every dead letter of the subscription (asks on a terminal unless --yes)

${CONNECTION_HELP}

Exit codes: 0 done; 1 done but messages were left behind (failed filter tests, ids not found, removals that
failed); 2 bad usage (nothing done); 3 broker unreachable or refused; 4 failed half-way (rerun is safe).`;

const DLQ_FLAGS: FlagSpec = {
  ...(CONNECTION_FLAGS as unknown as FlagSpec),
  topic: { type: 'string' },
  subscription: { type: 'string' },
  limit: { type: 'string' },
  ids: { type: 'string' },
  'filter-error': { type: 'string' },
  'to-topic': { type: 'string' },
  rate: { type: 'string' },
  yes: { type: 'boolean' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
}

const defaultIo = (): Io => ({
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});

function connectionFlags(v: Record<string, unknown>): ConnectionFlags {
  const f: Record<string, unknown> = {};
  for (const k of Object.keys(CONNECTION_FLAGS)) if (v[k] !== undefined) f[k] = v[k];
  return f as ConnectionFlags;
}

function required(v: Record<string, unknown>, sub: string): { topic: string; subscription: string } {
  const topic = str(v.topic);
  const subscription = str(v.subscription);
  if (topic === undefined || subscription === undefined) {
    throw invalidArgument(`dlq ${sub} needs --topic and --subscription`);
  }
  return { topic, subscription };
}

function showBlock(m: DeadLetter): string {
  const rows: [string, string][] = [
    ['id', m.id],
    ['key', m.key ?? '-'],
    ['attempt', m.attempt === undefined ? '-' : String(m.attempt)],
    ['last error', (m.lastError ?? '-').replace(/\s+/g, ' ').slice(0, 200)],
    ['reason', m.reason ?? '-'],
    [
      'original',
      `${m.originalTopic ?? '-'}${m.originalPartition === undefined ? '' : ` partition ${m.originalPartition}`}${m.originalOffset === undefined ? '' : ` (${m.originalOffset})`}`,
    ],
    ['published', m.timestamp],
  ];
  if (m.redrivenAt !== undefined) rows.push(['redriven at', m.redrivenAt]);
  const headers = Object.entries(m.headers);
  if (headers.length > 0)
    rows.push(['headers', headers.map(([k, v]) => `${k}=${v.slice(0, 60)}`).join(', ')]);
  rows.push(['body', `${m.bodyBytes} bytes: ${m.bodyPreview}`]);
  return rows.map(([k, v]) => `${k.padEnd(12)} ${v}`).join('\n');
}

async function confirm(io: Io, question: string): Promise<boolean> {
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Runs `lossless dlq <argv>`; returns the exit code. Never throws. */
export async function dlqCommand(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  const out = (s: string) => io.stdout.write(`${s}\n`);
  try {
    const { values: v, positionals } = parseFlags(argv, DLQ_FLAGS);
    const sub = positionals[0];
    if (v.help === true || sub === undefined || sub === 'help') {
      out(DLQ_HELP);
      return v.help === true || sub === 'help' ? EXIT.ok : EXIT.usage;
    }
    if (positionals.length > 1)
      throw invalidArgument(`unexpected argument "${positionals[1]?.slice(0, 40)}"`);
    const json = v.json === true;
    const quiet = v.quiet === true || json;
    const only = (allowed: string[]) => {
      const extra = ['limit', 'ids', 'filter-error', 'to-topic', 'rate', 'yes'].filter(
        (k) => v[k] !== undefined && !allowed.includes(k),
      );
      if (extra.length > 0) throw invalidArgument(`dlq ${sub} takes no --${extra.join(', --')}`);
    };
    if (!['list', 'show', 'redrive', 'purge'].includes(sub)) {
      throw invalidArgument(`unknown dlq command "${sub.slice(0, 40)}": list, show, redrive or purge`);
    }
    const connection = resolveConnection(connectionFlags(v), io.env);

    if (sub === 'list') {
      only([]);
      const rows = await listDeadLetters(connection, {
        ...(str(v.topic) === undefined ? {} : { topic: str(v.topic) as string }),
        ...(str(v.subscription) === undefined ? {} : { subscription: str(v.subscription) as string }),
      });
      if (json) out(JSON.stringify({ destinations: rows }, null, 2));
      else {
        out(
          formatTable(
            ['topic', 'subscription', 'destination', 'depth', 'counted'],
            rows.map((r) => [
              r.topic,
              r.subscription,
              r.destination,
              r.atLeast ? `>=${r.depth}` : r.depth,
              r.counted,
            ]),
          ),
        );
        if (rows.length === 0) out('no dead-letter destinations');
      }
      return EXIT.ok;
    }

    const pair = required(v, sub);
    if (sub === 'show') {
      only(['limit']);
      const limit = intFlag('limit', v.limit, 5_000);
      const messages = await showDeadLetters(connection, {
        ...pair,
        ...(limit === undefined ? {} : { limit }),
      });
      if (json) out(JSON.stringify({ ...pair, messages }, null, 2));
      else {
        out(messages.map(showBlock).join('\n\n'));
        out(`\n${messages.length} dead letter(s) shown; none removed`);
      }
      return EXIT.ok;
    }

    if (sub === 'redrive') {
      only(['limit', 'ids', 'filter-error', 'to-topic', 'rate']);
      const limit = intFlag('limit', v.limit);
      const ids = str(v.ids)
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      const rateText = str(v.rate);
      const rate = rateText === undefined ? undefined : Number(rateText);
      if (rate !== undefined && !(Number.isFinite(rate) && rate > 0 && rate <= 1_000_000)) {
        throw invalidArgument('--rate must be a number of messages per second, above 0');
      }
      const filterText = str(v['filter-error']);
      if (filterText !== undefined) compileErrorFilter(filterText, '--filter-error'); // name the flag in errors
      const progress = quiet ? undefined : new Progress('redrive', undefined, io.stderr, 1_000);
      const result = await redriveDeadLetters(connection, {
        ...pair,
        ...(ids === undefined ? {} : { ids }),
        ...(str(v['filter-error']) === undefined ? {} : { filterError: str(v['filter-error']) as string }),
        ...(limit === undefined ? {} : { limit }),
        ...(str(v['to-topic']) === undefined ? {} : { toTopic: str(v['to-topic']) as string }),
        ...(rate === undefined ? {} : { rate }),
        onProgress: (p) =>
          progress?.update(
            p.scanned,
            `scanned${p.total === undefined ? '' : ` of ${p.total}`}, redriven ${p.redriven}, kept ${p.kept}, failed ${p.failed}`,
          ),
      });
      progress?.end();
      const code =
        result.failed > 0 && result.redriven === 0 && result.errors.some((e) => e.includes('not redriven'))
          ? EXIT.failed
          : result.failed > 0 || result.filterTimeouts > 0 || result.notFound.length > 0
            ? EXIT.findings
            : EXIT.ok;
      if (json) out(JSON.stringify(result, null, 2));
      else {
        out(
          formatTable(
            ['scanned', 'redriven', 'kept', 'failed', 'filter timeouts', 'ids not found'],
            [
              [
                result.scanned,
                result.redriven,
                result.kept,
                result.failed,
                result.filterTimeouts,
                result.notFound.length,
              ],
            ],
          ),
        );
        for (const e of result.errors.slice(0, 20)) io.stderr.write(`${e}\n`);
        if (result.notFound.length > 0) out(`not found: ${result.notFound.slice(0, 20).join(', ')}`);
      }
      return code;
    }

    // purge
    only(['yes']);
    if (v.yes !== true) {
      if (io.stdin.isTTY !== true) {
        throw invalidArgument('dlq purge removes every dead letter: add --yes (no terminal to ask on)');
      }
      const ok = await confirm(
        io,
        `Remove every dead letter of subscription '${pair.subscription}' of topic '${pair.topic}'? [y/N] `,
      );
      if (!ok) {
        out('nothing removed');
        return EXIT.ok;
      }
    }
    const progress = quiet ? undefined : new Progress('purge', undefined, io.stderr, 1_000);
    const result = await purgeDeadLetters(connection, {
      ...pair,
      onProgress: (n) => progress?.update(n, 'removed'),
    });
    progress?.end();
    if (json)
      out(
        JSON.stringify({ topic: result.topic, subscription: result.subscription, removed: result.removed }),
      );
    else out(`removed ${result.removed} dead letter(s) of ${pair.topic}/${pair.subscription}`);
    return EXIT.ok;
  } catch (error) {
    io.stderr.write(`lossless dlq: ${describeError(error)}\n`);
    return exitCodeOf(error);
  }
}
