// lmdbOutbox: entries survive reopening the directory, the next bus re-sends what a previous one left unconfirmed
// (same ids), and bad options are INVALID_ARGUMENT naming the closest key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, ErrorCode, isLosslessError, type LosslessError, silentLogger } from '@lossless/core';
import { MemoryBroker, memoryDriver } from '@lossless/core/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { lmdbOutbox } from './lmdb-outbox.js';

const dirs: string[] = [];
function dir() {
  const d = mkdtempSync(join(tmpdir(), 'lossless-outbox-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const record = (id: string) => ({
  id,
  key: 'k',
  headers: { type: 'OrderPaid', ü: '✓' },
  body: new Uint8Array([0, 1, 2, 255]),
  timestamp: 1_700_000_000_000,
});

describe('lmdbOutbox', () => {
  it('keeps entries across reopening, oldest first, and forgets deleted ones', async () => {
    const path = dir();
    const a = lmdbOutbox({ path });
    await a.load();
    await a.put([
      { topic: 't', record: record('m1') },
      { topic: 't', record: record('m2') },
    ]);
    await a.put([{ topic: 'u', record: record('m3') }]);
    await a.delete(['m2']);
    await a.close();
    const b = lmdbOutbox({ path });
    const entries = await b.load();
    expect(entries.map((e) => [e.topic, e.record.id])).toEqual([
      ['t', 'm1'],
      ['u', 'm3'],
    ]);
    expect(entries[0]!.record).toEqual(record('m1'));
    await b.put([{ topic: 't', record: record('m4') }]);
    expect((await lmdbOutbox({ path }).load()).map((e) => e.record.id)).toEqual(['m1', 'm3', 'm4']);
    await b.close();
  });

  it('re-sends what a previous bus left unconfirmed, with the same ids, when the next bus connects', async () => {
    const path = dir();
    const broker = new MemoryBroker();
    let confirm = true;
    broker.faults.onSend = () => (confirm ? 'confirm' : 'hang');
    const topology = { topics: [{ name: 'orders' }], subscriptions: [{ name: 's', topic: 'orders' }] };
    const first = await connect(memoryDriver({ broker }), {
      logger: silentLogger,
      outbox: { store: lmdbOutbox({ path }), resolveOn: 'accepted' },
    });
    await first.declare(topology);
    await first.publish('orders', { id: 'early', body: 'confirmed' });
    await first.flush();
    confirm = false;
    const accepted = await first.publish('orders', { id: 'late', body: 'never confirmed' });
    expect(accepted.status).toBe('accepted');
    expect(first.outboxSize).toBe(1);
    // The process "dies": the driver goes away without the bus closing; the store is released as the OS would.
    await first.driver.close();
    confirm = true;
    const second = await connect(memoryDriver({ broker }), {
      logger: silentLogger,
      outbox: { store: lmdbOutbox({ path }), resolveOn: 'accepted' },
    });
    await second.flush();
    expect(second.outboxSize).toBe(0);
    const ids: string[] = [];
    const sub = await second.subscribe('orders', 's', (d) => void ids.push(d.id));
    await expect.poll(() => ids.length).toBeGreaterThanOrEqual(2);
    expect(new Set(ids)).toEqual(new Set(['early', 'late']));
    await sub.close();
    await second.close();
  });

  it('refuses bad options with INVALID_ARGUMENT, naming the closest key', () => {
    for (const [options, text] of [
      [undefined, 'path is required'],
      [{}, 'path is required'],
      [{ path: '' }, 'path'],
      [{ pth: '/tmp/x' }, "did you mean 'path'"],
      [{ path: '/tmp/x', maxBytes: 10 }, 'maxBytes'],
      [{ path: 42 }, 'path must be a string'],
    ] as const) {
      let error: unknown;
      try {
        lmdbOutbox(options as never);
      } catch (e) {
        error = e;
      }
      expect(isLosslessError(error)).toBe(true);
      expect((error as LosslessError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as Error).message).toContain(text);
    }
  });
});
