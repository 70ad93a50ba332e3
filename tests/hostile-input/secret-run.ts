// A whole process that uses a recognisable secret everywhere a user may put one, with the adapters' default
// (console) loggers, and prints every outcome with util.inspect — stack, cause and all. The integration test
// greps all of its stdout and stderr for the secret. Arguments: a JSON object of broker settings.
import { inspect } from 'node:util';
import { connect } from '@lossless/core';
import type { Driver } from '@lossless/core/driver';
import { kafka } from '@lossless/kafka';
import { rabbitmq } from '@lossless/rabbitmq';
import { rocketmq } from '@lossless/rocketmq';

const SECRET = process.env.LOSSLESS_TEST_SECRET ?? 'S3cr3t-#-lossless';
const settings = JSON.parse(process.argv[2] ?? '{}') as {
  rabbitmq?: string;
  kafka?: string[];
  rocketmq?: { endpoints: string; namesrv: string };
};
const enc = encodeURIComponent(SECRET);

const attempts: [string, () => Driver][] = [];
if (settings.rabbitmq) {
  const host = new URL(settings.rabbitmq).host;
  attempts.push(
    ['rabbitmq: unparseable URL', () => rabbitmq({ url: `amqp://guest:${SECRET}@${host}/` })],
    ['rabbitmq: wrong password', () => rabbitmq({ url: `amqp://guest:${enc}@${host}/` })],
    ['rabbitmq: unknown user', () => rabbitmq({ url: `amqp://nobody:${enc}@${host}/` })],
    ['rabbitmq: unknown vhost', () => rabbitmq({ url: `amqp://guest:guest@${host}/no-such-vhost` })],
    [
      'rabbitmq: nothing listens',
      () => rabbitmq({ url: `amqp://guest:${enc}@127.0.0.1:1/`, connectAttemptTimeoutMs: 500 }),
    ],
    ['rabbitmq: misspelled key', () => rabbitmq({ url: settings.rabbitmq, pasword: SECRET } as never)],
  );
}
if (settings.kafka) {
  const brokers = settings.kafka;
  attempts.push(
    ['kafka: credentials in an address', () => kafka({ brokers: [`u:${SECRET}@127.0.0.1:1`] })],
    ['kafka: unknown key with a secret', () => kafka({ brokers, password: SECRET } as never)],
    ['kafka: nothing listens', () => kafka({ brokers: ['127.0.0.1:1'], connectionTimeout: 500 })],
  );
}
if (settings.rocketmq) {
  const r = settings.rocketmq;
  attempts.push(
    [
      'rocketmq: secret in an endpoint',
      () => rocketmq({ endpoints: `127.0.0.1:1?token=${SECRET}`, namesrv: r.namesrv }),
    ],
    ['rocketmq: unknown key with a secret', () => rocketmq({ ...r, secretKey: SECRET } as never)],
  );
}

const outcomes: Record<string, string> = {};
for (const [what, make] of attempts) {
  try {
    const bus = await connect(make(), { connectTimeoutMs: 3_000 });
    outcomes[what] = 'connected';
    await bus.close();
  } catch (error) {
    outcomes[what] = (error as { code?: string }).code ?? 'untyped';
    console.error(`${what}: ${outcomes[what]}`);
    console.error(inspect(error, { depth: 10 }));
  }
}
console.log(`secret-run outcomes: ${JSON.stringify(outcomes)}`);
