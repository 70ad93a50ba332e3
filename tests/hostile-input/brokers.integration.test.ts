// The hostile-input property against real brokers from the kit: RabbitMQ, Kafka and RocketMQ. Junk on every
// public call, the adapter's factory fed junk with a recognisable secret planted in its credential fields; after
// every run: no unhandled rejection, every call settled in time with a resolve or a typed error, every confirmed
// message delivered, the secret in no error and no log line.
import {
  createBroker,
  type KafkaSettings,
  type RabbitMqSettings,
  type RocketMqSettings,
} from '@lossless/brokers';
import { silentLogger } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { kafka } from '@lossless/kafka';
import { rabbitmq } from '@lossless/rabbitmq';
import { rocketmq } from '@lossless/rocketmq';
import { describe, expect, it } from 'vitest';
import { type HostileTarget, runHostile } from './hostile-run.js';

const SECRET = 'S3cr3t-#-lossless';
const RUNS = Number(process.env.LOSSLESS_HOSTILE_RUNS ?? 25);

function factoryOf(make: (o: never) => Driver): (junk: unknown) => Driver {
  return (junk) => make(junk as never);
}

async function check(target: HostileTarget, topic: string): Promise<void> {
  const summary = await runHostile(target, { runs: RUNS, topic });
  console.log(`hostile input (${target.name}): ${JSON.stringify(summary)}`);
  expect(summary.unhandled).toBe(0);
  expect(summary.secretLeaks).toBe(0);
  expect(summary.lost).toBe(0);
  expect(summary.confirmed).toBeGreaterThan(0);
}

/** RabbitMQ options with the secret as a password: unparseable, wrong on the real node, misspelled, unreachable. */
function rabbitInputs(real: string): unknown[] {
  const host = new URL(real).host;
  return [
    { url: `amqp://guest:${SECRET}@${host}/` }, // an unencoded '#': the URL does not parse
    { url: `amqp://guest:${encodeURIComponent(SECRET)}@${host}/` }, // parses; a wrong password on the real node
    { url: `amqp://nobody:${encodeURIComponent(SECRET)}@${host}/` }, // unknown user
    { url: `amqp://guest:${encodeURIComponent(SECRET)}@127.0.0.1:1/` }, // nothing listens
    { urls: [`amqp://guest:${SECRET}@${host}/`, real] },
    { url: real, pasword: SECRET }, // a misspelled key whose value is a secret
    { url: `amqps://guest:${encodeURIComponent(SECRET)}@${host}/`, connectAttemptTimeoutMs: 1_000 },
    { url: `http://guest:${encodeURIComponent(SECRET)}@${host}/` },
  ];
}

const suffix = `${process.pid}-${Date.now().toString(36)}`;

describe('hostile input against real brokers', () => {
  it('RabbitMQ', { timeout: 300_000 }, async () => {
    const broker = createBroker('rabbitmq');
    await broker.up();
    const { urls } = broker.settings as RabbitMqSettings;
    await check(
      {
        name: 'rabbitmq',
        driver: () => rabbitmq({ urls, logger: silentLogger }),
        factory: factoryOf(rabbitmq),
        factoryInputs: rabbitInputs(urls[0]!),
        secret: SECRET,
        settleBoundMs: 15_000,
        deliveryBoundMs: 15_000,
      },
      `hostile-${suffix}`,
    );
  });

  it('Kafka', { timeout: 400_000 }, async () => {
    const broker = createBroker('kafka');
    await broker.up();
    const { brokers } = broker.settings as KafkaSettings;
    await check(
      {
        name: 'kafka',
        driver: () => kafka({ brokers, logger: silentLogger }),
        factory: factoryOf(kafka),
        factoryInputs: [
          { brokers: ['127.0.0.1:1'], sasl: { mechanism: 'plain', username: 'u', password: SECRET } },
          { brokers: [`u:${SECRET}@127.0.0.1:1`] },
          { brokers, password: SECRET },
          { brokers, clientId: SECRET, connectionTimeout: -1 },
          { brokers: SECRET },
        ],
        secret: SECRET,
        settleBoundMs: 30_000,
        deliveryBoundMs: 45_000,
      },
      `hostile-${suffix}`,
    );
  });

  it('RocketMQ', { timeout: 400_000 }, async () => {
    const broker = createBroker('rocketmq');
    await broker.up();
    const s = broker.settings as RocketMqSettings;
    await check(
      {
        name: 'rocketmq',
        driver: () =>
          rocketmq({ endpoints: s.endpoints, namesrv: s.namesrv, cluster: s.cluster, logger: silentLogger }),
        factory: factoryOf(rocketmq),
        factoryInputs: [
          { endpoints: '127.0.0.1:1', namesrv: s.namesrv, secretKey: SECRET },
          { endpoints: `127.0.0.1:1?token=${SECRET}`, namesrv: s.namesrv },
          { endpoints: s.endpoints, namesrv: `${SECRET}:9876` },
          { endpoints: s.endpoints, namesrv: s.namesrv, accessKey: 'ak', secretKey: SECRET },
        ],
        secret: SECRET,
        settleBoundMs: 30_000,
        deliveryBoundMs: 60_000,
      },
      `hostile-${suffix}`,
    );
  });
});
