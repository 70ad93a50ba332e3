// The partition tracker's watermark: never past an unsettled offset, whatever order settlements come in.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionTrack } from './partition-track.js';

describe('PartitionTrack', () => {
  it('commits nothing before the first hand-out and one past the last once all are settled', () => {
    const t = new PartitionTrack('orders', 0);
    expect(t.due()).toBeUndefined();
    const a = t.hand(10);
    const b = t.hand(11);
    expect(t.watermark()).toBe(10);
    b.settled = true;
    expect(t.watermark()).toBe(10); // 10 is not done: committing 12 would lose it
    expect(t.unsettled).toBe(1);
    a.settled = true;
    expect(t.watermark()).toBe(12);
    expect(t.due()).toBe(12);
    t.committed = 12;
    expect(t.due()).toBeUndefined();
    t.revoked = true;
    t.hand(12).settled = true;
    expect(t.due()).toBeUndefined();
  });

  it('keeps gaps in offsets (compaction, transactions) without waiting for them', () => {
    const t = new PartitionTrack('orders', 1);
    t.hand(5).settled = true;
    const later = t.hand(9);
    expect(t.watermark()).toBe(9);
    later.settled = true;
    expect(t.watermark()).toBe(10);
  });

  it('is the lowest unsettled offset for any settlement order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(), { maxLength: 600 }),
        (count, picks) => {
          const t = new PartitionTrack('t', 0);
          const slots = Array.from({ length: count }, (_, i) => t.hand(100 + i * 2));
          const open = new Set(slots);
          for (const p of picks) {
            const slot = slots[p % count];
            if (!slot) continue;
            slot.settled = true;
            open.delete(slot);
            const lowest = Math.min(...[...open].map((s) => s.offset));
            const expected = open.size === 0 ? 100 + (count - 1) * 2 + 1 : lowest;
            if (t.watermark() !== expected) return false;
            if (t.unsettled !== open.size) return false;
          }
          return true;
        },
      ),
      { numRuns: 60 },
    );
  });
});
