// @lossless/rocketmq-admin's RocketMqAdmin against a real RocketMQ 5.3.3 (this kit): initGroupOffsets leaves
// every queue of the topic with a committed offset for a new group. The broker's first commit of a group's offsets
// is not atomic, so concurrent first commits (one per queue) used to overwrite each other and leave queues without
// an offset (many queues and groups make that race likely enough to see: about one run in three before the fix).
// It needs a running broker, hence here and not beside the admin (whose package's tests are unit tests).
import { randomUUID } from 'node:crypto';
import { RequestCode, ResponseCode, RocketMqAdmin, remotingCall } from '@lossless/rocketmq-admin';
import { beforeAll, describe, expect, it } from 'vitest';
import { rocketmq as rocketmqBroker } from './rocketmq.js';

const broker = rocketmqBroker();
const QUEUES = 64;

beforeAll(async () => {
  await broker.up();
}, 600_000);

describe('RocketMqAdmin.initGroupOffsets', () => {
  it('commits an offset on every queue for each new group', async () => {
    const { namesrv, cluster, broker: brokerAddress } = broker.settings;
    const admin = new RocketMqAdmin({ namesrv, cluster });
    const topic = `offsets-${randomUUID().slice(0, 8)}`;
    await admin.createTopic(topic, { messageType: 'NORMAL', queues: QUEUES });
    try {
      const groups = Array.from({ length: 20 }, (_, i) => `${topic}-g${i}`);
      for (const group of groups) {
        await admin.createGroup(group);
        await admin.initGroupOffsets(group, topic);
      }
      const missing: string[] = [];
      for (const group of groups) {
        for (let queueId = 0; queueId < QUEUES; queueId++) {
          const r = await remotingCall(brokerAddress, RequestCode.QUERY_CONSUMER_OFFSET, {
            consumerGroup: group,
            topic,
            queueId: String(queueId),
            setZeroIfNotFound: 'false',
          });
          if (r.code !== ResponseCode.SUCCESS) missing.push(`${group} queue ${queueId}`);
        }
      }
      expect(missing).toEqual([]);
      for (const group of groups) await admin.deleteGroup(group);
    } finally {
      await admin.deleteTopic(topic);
    }
  }, 120_000);
});
