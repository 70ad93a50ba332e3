// The driver's partitioning must agree with kafkajs's (and so the Java client's) default partitioner: a key
// written by another client lands in the same partition, so per-key order holds across producers.
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionFor } from './murmur2.js';

const kafkajs = Partitioners.DefaultPartitioner();
function theirs(key: string, count: number): number {
  const partitionMetadata = Array.from({ length: count }, (_, i) => ({
    partitionId: i,
    leader: 0,
    replicas: [],
    isr: [],
    offlineReplicas: [],
    partitionErrorCode: 0,
  }));
  return kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
}

describe('murmur2 partitioning', () => {
  it("places every key where kafkajs's default partitioner does, for keys of every length and script", () => {
    const alphabet = ['a', 'Z', '9', '-', 'é', 'ß', '中', '文', '😀', '\u0000', ' '];
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
      return seed;
    };
    const keys = ['', 'a', 'ab', 'abc', 'abcd', 'order-42', '0190f8c2-7b1e-7c3d-9a4f-5e6d7c8b9a01'];
    for (let n = 0; n < 2_000; n++) {
      const length = next() % 300;
      keys.push(Array.from({ length }, () => alphabet[next() % alphabet.length]).join(''));
    }
    for (const key of keys) {
      for (const count of [1, 3, 7, 64]) expect(partitionFor(key, count), key).toBe(theirs(key, count));
    }
  });
});
