// `lossless dlq` against the real kit brokers: dead letters made by a handler that always throws, then list,
// show (twice: nothing removed), a filtered redrive (exactly the selected ones reach a live consumer, once, same
// ids), a redrive run as a child process SIGKILLed half-way and rerun (nothing lost, duplicates counted), and a
// purge. Every message is accounted for: lost 0, phantom 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { kafka as kafkaBroker, rabbitmq as rabbitBroker, rocketmq as rocketBroker } from '@lossless/brokers';
import { type Bus, connect, silentLogger } from '@lossless/core';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliConnection, driverFor } from './connection.js';
import {
  listDeadLetters,
  purgeDeadLetters,
  REDRIVEN_AT_HEADER,
  redriveDeadLetters,
  showDeadLetters,
} from './index.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const fast = { initialDelayMs: 10, maxDelayMs: 20, factor: 1, jitter: 'none' as const };

type Kind = 'rabbitmq' | 'kafka' | 'rocketmq';
const fixtures = { rabbitmq: rabbitBroker(), kafka: kafkaBroker(), rocketmq: rocketBroker() };

function target(kind: Kind): { connection: CliConnection; env: Record<string, string> } {
  if (kind === 'rabbitmq') {
    const { urls } = fixtures.rabbitmq.settings;
    return {
      connection: { adapter: 'rabbitmq', options: { urls } },
      env: { LOSSLESS_ADAPTER: kind, LOSSLESS_RABBITMQ_URL: urls.join(',') },
    };
  }
  if (kind === 'kafka') {
    const { brokers } = fixtures.kafka.settings;
    return {
      connection: { adapter: 'kafka', options: { brokers } },
      env: { LOSSLESS_ADAPTER: kind, LOSSLESS_KAFKA_BROKERS: brokers.join(',') },
    };
  }
  const { endpoints, namesrv, cluster } = fixtures.rocketmq.settings;
  return {
    connection: { adapter: 'rocketmq', options: { endpoints, namesrv, cluster } },
    env: {
      LOSSLESS_ADAPTER: kind,
      LOSSLESS_ROCKETMQ_ENDPOINTS: endpoints,
      LOSSLESS_ROCKETMQ_NAMESRV: namesrv,
      LOSSLESS_ROCKETMQ_CLUSTER: cluster,
    },
  };
}

async function until(what: string, condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the CLI from sources; resolves with its exit code and output. `onStderr` may kill it. */
function runCli(
  args: string[],
  env: Record<string, string>,
  onStderr?: (text: string, child: ChildProcess) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@lossless/source', '--import', 'tsx', CLI, ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const buses: Bus[] = [];
afterAll(async () => {
  await Promise.allSettled(buses.map((b) => b.close()));
});

const KINDS: Kind[] = ['rabbitmq', 'kafka', 'rocketmq'];

describe.each(KINDS)('lossless dlq on %s', (kind) => {
  it('lists, shows, redrives a filtered subset, survives a SIGKILLed redrive and purges, losing nothing', async () => {
    const t0 = Date.now();
    await fixtures[kind].up();
    const { connection, env } = target(kind);
    const bus = await connect(driverFor(connection, silentLogger), { logger: silentLogger });
    buses.push(bus);
    const topic = `dlq-${kind}-${randomUUID().slice(0, 8)}`;
    const subscription = 'work';
    await bus.declare({
      topics: [{ name: topic }],
      subscriptions: [{ name: subscription, topic, maxDeliveries: 2, deadLetter: true }],
    });

    // 12 "even", 12 "odd", 4 "keep": the handler's error names the group.
    const groups = { even: [] as string[], odd: [] as string[], keep: [] as string[] };
    for (const [group, n] of [
      ['even', 12],
      ['odd', 12],
      ['keep', 4],
    ] as const) {
      for (let i = 0; i < n; i++) groups[group].push(`${topic}-${group}-${i}`);
    }
    const all = [...groups.even, ...groups.odd, ...groups.keep];
    const groupOf = (id: string) => id.split('-').at(-2) as keyof typeof groups;
    const body = new Uint8Array([0x68, 0x69, 0x0a, 0x00, 0xff, ...new TextEncoder().encode('x'.repeat(100))]);
    await Promise.all(
      all.map((id, i) => bus.publish(topic, { id, key: `k-${i % 5}`, body, headers: { app: 'v1' } })),
    );

    const failing = await bus.subscribe(
      topic,
      subscription,
      async (m) => {
        throw new Error(`boom-${groupOf(m.id)}`);
      },
      { redeliveryBackoff: fast, concurrency: 16 },
    );
    await until('every message dead-lettered', () => failing.stats.deadLettered >= all.length, 90_000);
    await failing.close();
    const tDead = Date.now();

    // list: the depth is the count (RocketMQ counts by reading).
    const [row] = await listDeadLetters(connection, { topic, subscription });
    expect(row?.depth).toBe(all.length);
    expect(row?.counted).toBe(kind === 'rocketmq' ? 'read' : 'broker');
    if (kind === 'kafka') {
      const listed = await listDeadLetters(connection, { topic });
      expect(listed.map((r) => [r.subscription, r.depth])).toEqual([[subscription, all.length]]);
    } else {
      await expect(listDeadLetters(connection, {})).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    }

    // show: the fields, and nothing removed.
    // RocketMQ: the list's read gave every message back with a short invisible time, and the broker revives
    // them in a background scan: a read right after sees only those revived so far.
    let shown = await showDeadLetters(connection, { topic, subscription, limit: 5 });
    for (const end = Date.now() + 45_000; kind === 'rocketmq' && shown.length < 5 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 2_000));
      shown = await showDeadLetters(connection, { topic, subscription, limit: 5 });
    }
    expect(shown).toHaveLength(5);
    for (const m of shown) {
      expect(all).toContain(m.id);
      expect(m.key).toMatch(/^k-\d$/);
      expect(m.attempt).toBe(2);
      expect(m.lastError).toContain(`boom-${groupOf(m.id)}`);
      expect(m.reason).toBe('max-deliveries');
      expect(m.originalTopic).toBe(topic);
      if (kind === 'kafka') expect(m.originalPartition).toBeTypeOf('number');
      expect(Number.isNaN(Date.parse(m.timestamp))).toBe(false);
      expect(m.headers).toEqual({ app: 'v1' });
      expect(m.bodyBytes).toBe(body.length);
      expect(m.bodyPreview).toBe(`hi\\n\\x00\\xff${'x'.repeat(75)}…`);
    }
    if (kind !== 'rocketmq') {
      // Every dead letter is still there (Kafka reads its partitions in no fixed order: compare sets).
      const again = await showDeadLetters(connection, { topic, subscription, limit: all.length });
      expect(again.map((m) => m.id).sort()).toEqual([...all].sort());
      expect((await listDeadLetters(connection, { topic, subscription }))[0]?.depth).toBe(all.length);
    }
    const tShow = Date.now();

    // A live consumer that now succeeds, counting every delivery by id.
    const received = new Map<string, number>();
    const phantoms: string[] = [];
    const live = await bus.subscribe(
      topic,
      subscription,
      async (m) => {
        if (!all.includes(m.id)) phantoms.push(m.id);
        expect(m.attempt).toBe(1);
        expect(m.headers[REDRIVEN_AT_HEADER]).toBeDefined();
        expect(m.headers.app).toBe('v1');
        received.set(m.id, (received.get(m.id) ?? 0) + 1);
      },
      { concurrency: 16 },
    );

    // Redrive the "even" ones only: each delivered exactly once, the others stay.
    const evenIds: string[] = [];
    let even = await redriveDeadLetters(connection, { topic, subscription, filterError: 'boom-even' });
    evenIds.push(...even.redrivenIds);
    // RocketMQ: messages the show read come back after the revive scan; a rerun takes them (no duplicates:
    // each was removed only after its publish, and read once).
    for (const end = Date.now() + 60_000; kind === 'rocketmq' && evenIds.length < 12 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 2_000));
      even = await redriveDeadLetters(connection, { topic, subscription, filterError: 'boom-even' });
      evenIds.push(...even.redrivenIds);
    }
    expect(evenIds.sort()).toEqual([...groups.even].sort());
    await until('the even ones delivered', () => groups.even.every((id) => received.has(id)), 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const id of groups.even) expect(received.get(id)).toBe(1);
    for (const id of [...groups.odd, ...groups.keep]) expect(received.has(id)).toBe(false);
    if (kind !== 'rocketmq') {
      expect((await listDeadLetters(connection, { topic, subscription }))[0]?.depth).toBe(
        groups.odd.length + groups.keep.length,
      );
    }
    await expect(
      redriveDeadLetters(connection, { topic, subscription, filterError: '(' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    const tFiltered = Date.now();

    // A redrive of the "odd" ones in a child process, SIGKILLed once it reported some redriven, then reruns.
    const args = [
      'dlq',
      'redrive',
      '--topic',
      topic,
      '--subscription',
      subscription,
      '--filter-error',
      'boom-odd',
    ];
    // RocketMQ: the filtered redrive's reads gave the odd ones back; let the broker revive them first.
    if (kind === 'rocketmq') await new Promise((r) => setTimeout(r, 15_000));
    let killedAt = -1;
    const killed = await runCli([...args, '--rate', '4'], env, (text, child) => {
      const counts = [...text.matchAll(/redriven (\d+)/g)].map((m) => Number(m[1]));
      const n = counts.at(-1) ?? 0;
      if (n >= 3 && killedAt < 0) {
        killedAt = n;
        child.kill('SIGKILL');
      }
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(killedAt).toBeGreaterThanOrEqual(3);
    const deliveredBeforeRerun = groups.odd.filter((id) => received.has(id)).length;
    expect(deliveredBeforeRerun).toBeLessThan(groups.odd.length);
    let reruns = 0;
    let rerunRedriven = 0;
    const deadline = Date.now() + 90_000;
    while (!groups.odd.every((id) => received.has(id))) {
      if (Date.now() > deadline) break;
      const rerun = await runCli([...args, '--json'], env);
      expect(rerun.code, rerun.stderr).toBe(0);
      rerunRedriven += (JSON.parse(rerun.stdout) as { redriven: number }).redriven;
      reruns++;
      await until(
        'the rerun delivered',
        () => received.size >= groups.even.length + deliveredBeforeRerun,
        10_000,
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const id of groups.odd) expect(received.get(id) ?? 0).toBeGreaterThanOrEqual(1);
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    const tKilled = Date.now();

    // purge: the "keep" ones are removed (RocketMQ: some may still be hidden after the reads; purge until gone).
    const purged = new Set<string>();
    const purgeDeadline = Date.now() + 60_000;
    const firstPurge = await runCli(['dlq', 'purge', '--topic', topic, '--subscription', subscription], env);
    expect(firstPurge.code).toBe(2); // no terminal, no --yes: refused
    expect(firstPurge.stderr).toContain('--yes');
    while (purged.size < groups.keep.length && Date.now() < purgeDeadline) {
      const p = await purgeDeadLetters(connection, { topic, subscription });
      for (const id of p.removedIds) purged.add(id);
    }
    const cliPurge = await runCli(
      ['dlq', 'purge', '--topic', topic, '--subscription', subscription, '--yes'],
      env,
    );
    expect(cliPurge.code, cliPurge.stderr).toBe(0);
    expect(cliPurge.stdout).toMatch(/removed \d+ dead letter/);
    const [after] = await listDeadLetters(connection, { topic, subscription });
    expect(after?.depth).toBe(0);

    // The count: every message delivered at least once or purged; nothing else delivered.
    const lost = all.filter((id) => !received.has(id) && !purged.has(id));
    for (const id of purged) expect(groups.keep.includes(id) || groups.odd.includes(id)).toBe(true);
    expect(lost).toEqual([]);
    expect(phantoms).toEqual([]);
    for (const id of groups.keep) expect(received.has(id)).toBe(false);
    await live.close();
    console.log(
      `${kind}: ${all.length} dead letters; filtered redrive ${evenIds.length} (each once); killed after ` +
        `${killedAt} redriven, ${reruns} rerun(s) redrove ${rerunRedriven}; duplicates ${duplicates}; ` +
        `purged ${purged.size}; lost ${lost.length}, phantom ${phantoms.length}; ` +
        `times: dead-letter ${tDead - t0} ms, list+show ${tShow - tDead} ms, filtered ${tFiltered - tShow} ms, ` +
        `kill+rerun ${tKilled - tFiltered} ms, purge ${Date.now() - tKilled} ms`,
    );
  }, 240_000);
});
