// A whole process that uses a recognisable secret everywhere a user may put one, with the adapters' default
// (console) loggers, and prints every outcome with util.inspect — stack, cause and all. The integration test
// greps all of its stdout and stderr for the secret. Arguments: a JSON object of broker settings.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { createBroker, type SecureSettings } from '@lossless/brokers';
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

// The secured fixtures (TLS and authentication required), when the test brought them up: the secret as a
// password they refuse, and inside a client key that does not parse.
if (process.env.LOSSLESS_TEST_SECURE === '1') {
  const pem = (file: string) => readFileSync(file, 'utf8');
  const badKey = `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`;
  const rabbitSecure = createBroker('rabbitmq', { secure: true }).settings;
  const kafkaSecure = createBroker('kafka', { secure: true }).settings;
  const rocketSecure = createBroker('rocketmq', { secure: true }).settings;
  for (const s of [rabbitSecure, kafkaSecure, rocketSecure]) {
    if (!s.security) throw new Error(`secret-run: the ${s.kind} fixture is not the secured one`);
  }
  const sec = (s: { security?: SecureSettings }) => s.security as SecureSettings;
  const rabbitTls = (key: string) => ({
    ca: pem(sec(rabbitSecure).caFile),
    cert: pem(sec(rabbitSecure).clientCertFile),
    key,
    servername: sec(rabbitSecure).servername,
  });
  const url = (rabbitSecure as { urls: string[] }).urls[0] ?? '';
  const admin = sec(rabbitSecure).admin.username;
  attempts.push(
    [
      'rabbitmq secured: wrong password in auth',
      () =>
        rabbitmq({
          url,
          tls: rabbitTls(pem(sec(rabbitSecure).clientKeyFile)),
          auth: { username: admin, password: SECRET },
        }),
    ],
    [
      'rabbitmq secured: the secret in a client key that does not parse',
      () =>
        rabbitmq({
          url,
          tls: rabbitTls(badKey),
          auth: { username: admin, password: sec(rabbitSecure).admin.password },
        }),
    ],
    [
      'kafka secured: wrong SASL password',
      () =>
        kafka({
          brokers: (kafkaSecure as { brokers: string[] }).brokers,
          tls: { ca: pem(sec(kafkaSecure).caFile), servername: sec(kafkaSecure).servername },
          sasl: { mechanism: 'scram-sha-512', username: admin, password: SECRET },
        }),
    ],
    [
      'rocketmq secured: wrong secret key',
      () => {
        const r = rocketSecure as { endpoints: string; namesrv: string; cluster: string };
        return rocketmq({
          endpoints: r.endpoints,
          namesrv: r.namesrv,
          cluster: r.cluster,
          tls: { ca: pem(sec(rocketSecure).caFile), servername: sec(rocketSecure).servername },
          auth: { accessKey: admin, secretKey: SECRET },
        });
      },
    ],
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
