// Greps the whole output (stdout and stderr) of a process that uses a recognisable secret in every place a
// credential goes, on RabbitMQ, Kafka and RocketMQ from the kit (plain and secured), with the default console
// loggers.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import {
  createBroker,
  type KafkaSettings,
  type RabbitMqSettings,
  type RocketMqSettings,
} from '@lossless/brokers';
import { expect, it } from 'vitest';

const SECRET = 'S3cr3t-#-lossless';

it('no secret in any error, stack, cause or log line of a whole process', { timeout: 600_000 }, async () => {
  const rabbit = createBroker('rabbitmq');
  const kafka = createBroker('kafka');
  const rocket = createBroker('rocketmq');
  const secured = (['rabbitmq', 'kafka', 'rocketmq'] as const).map((k) => createBroker(k, { secure: true }));
  await Promise.all([rabbit.up(), kafka.up(), rocket.up(), ...secured.map((b) => b.up())]);
  const r = rocket.settings as RocketMqSettings;
  const settings = {
    rabbitmq: (rabbit.settings as RabbitMqSettings).urls[0],
    kafka: (kafka.settings as KafkaSettings).brokers,
    rocketmq: { endpoints: r.endpoints, namesrv: r.namesrv },
  };
  const root = resolve(import.meta.dirname, '../..');
  const run = spawnSync(
    process.execPath,
    [
      resolve(root, 'scripts/run-ts.mjs'),
      resolve(import.meta.dirname, 'secret-run.ts'),
      JSON.stringify(settings),
    ],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
      env: { ...process.env, LOSSLESS_TEST_SECRET: SECRET, LOSSLESS_TEST_SECURE: '1' },
    },
  );
  const output = `${run.stdout}\n${run.stderr}`;
  expect(run.status, output).toBe(0);
  const line = run.stdout.split('\n').find((l) => l.startsWith('secret-run outcomes: '));
  const outcomes = JSON.parse(line?.slice('secret-run outcomes: '.length) ?? '{}') as Record<string, string>;
  // Every attempt failed with the code a user should see, so the grep below looked at real errors.
  expect(outcomes).toEqual({
    'rabbitmq: unparseable URL': 'INVALID_ARGUMENT',
    'rabbitmq: wrong password': 'PERMISSION_DENIED',
    'rabbitmq: unknown user': 'PERMISSION_DENIED',
    'rabbitmq: unknown vhost': 'NOT_FOUND',
    'rabbitmq: nothing listens': 'UNAVAILABLE',
    'rabbitmq: misspelled key': 'INVALID_ARGUMENT',
    'kafka: credentials in an address': 'INVALID_ARGUMENT',
    'kafka: unknown key with a secret': 'INVALID_ARGUMENT',
    'kafka: nothing listens': 'UNAVAILABLE',
    'rocketmq: secret in an endpoint': 'INVALID_ARGUMENT',
    'rocketmq: unknown key with a secret': 'INVALID_ARGUMENT',
    'rabbitmq secured: wrong password in auth': 'PERMISSION_DENIED',
    'rabbitmq secured: the secret in a client key that does not parse': 'INVALID_ARGUMENT',
    'kafka secured: wrong SASL password': 'PERMISSION_DENIED',
    'rocketmq secured: wrong secret key': 'PERMISSION_DENIED',
  });
  const leaks = output
    .split('\n')
    .filter((line) => line.includes(SECRET) || line.includes(encodeURIComponent(SECRET)));
  expect(leaks, 'lines that show the secret').toEqual([]);
});
