// A consumer group's lag, for core's `lossless.consume.lag` gauge: per partition of each topic it reads, the end
// offset (high watermark) minus the group's committed offset — or minus the earliest retained offset where the
// group committed nothing yet (a new group starts at the earliest, see `retainsBeforeSubscription`).
import type { Admin } from 'kafkajs';

export async function groupLag(admin: Admin, groupId: string, topics: readonly string[]): Promise<number> {
  const [committed, ends] = await Promise.all([
    admin.fetchOffsets({ groupId, topics: [...topics] }),
    Promise.all(topics.map(async (topic) => ({ topic, partitions: await admin.fetchTopicOffsets(topic) }))),
  ]);
  const at = new Map<string, bigint>();
  for (const t of committed) {
    for (const p of t.partitions) at.set(`${t.topic}:${p.partition}`, BigInt(p.offset));
  }
  let lag = 0n;
  for (const { topic, partitions } of ends) {
    for (const p of partitions) {
      const high = BigInt(p.high);
      const done = at.get(`${topic}:${p.partition}`) ?? -1n;
      const from = done >= 0n ? done : BigInt(p.low);
      if (high > from) lag += high - from;
    }
  }
  return Number(lag);
}
