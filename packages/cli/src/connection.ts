// How the CLI reaches a broker: flags first, then the environment, the same names for every command. Secrets
// never come from a flag (a command line is visible to every user of the machine in `ps`): a password, a
// RocketMQ secret key or a TLS key passphrase come from the environment or from a file whose path is a flag.
// What this returns is exactly the options object of the adapter's factory, so the adapters' own checks apply
// and an error never carries a secret (the adapters mask credentials in every message).
import { readFileSync } from 'node:fs';
import { invalidArgument, type Logger } from '@lossless/core';
import type { Driver, TlsOptions } from '@lossless/core/driver';
import { type KafkaDriverOptions, kafka } from '@lossless/kafka';
import { type RabbitMqDriverOptions, rabbitmq } from '@lossless/rabbitmq';
import { type RocketMqDriverOptions, rocketmq } from '@lossless/rocketmq';

export type AdapterName = 'rabbitmq' | 'kafka' | 'rocketmq';
export const ADAPTERS: readonly AdapterName[] = ['rabbitmq', 'kafka', 'rocketmq'];

/** A broker to connect to: the adapter and the options its factory takes. */
export type CliConnection =
  | { adapter: 'rabbitmq'; options: RabbitMqDriverOptions }
  | { adapter: 'kafka'; options: KafkaDriverOptions }
  | { adapter: 'rocketmq'; options: RocketMqDriverOptions };

/** The connection flags every command takes, in node:util parseArgs form. */
export const CONNECTION_FLAGS = {
  adapter: { type: 'string' },
  url: { type: 'string', multiple: true },
  brokers: { type: 'string' },
  endpoints: { type: 'string' },
  namesrv: { type: 'string' },
  cluster: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  'sasl-mechanism': { type: 'string' },
  'access-key': { type: 'string' },
  'secret-key-file': { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  servername: { type: 'string' },
  insecure: { type: 'boolean' },
} as const;

export type ConnectionFlags = {
  adapter?: string;
  url?: string[];
  brokers?: string;
  endpoints?: string;
  namesrv?: string;
  cluster?: string;
  username?: string;
  'password-file'?: string;
  'sasl-mechanism'?: string;
  'access-key'?: string;
  'secret-key-file'?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  insecure?: boolean;
};

/** The environment variables, named once (also in the README and `lossless --help`). */
export const ENV = {
  adapter: 'LOSSLESS_ADAPTER',
  rabbitmqUrl: 'LOSSLESS_RABBITMQ_URL',
  kafkaBrokers: 'LOSSLESS_KAFKA_BROKERS',
  rocketmqEndpoints: 'LOSSLESS_ROCKETMQ_ENDPOINTS',
  rocketmqNamesrv: 'LOSSLESS_ROCKETMQ_NAMESRV',
  /** The broker cluster whose masters get topics and groups (the adapter's default: DefaultCluster). */
  rocketmqCluster: 'LOSSLESS_ROCKETMQ_CLUSTER',
  username: 'LOSSLESS_USERNAME',
  password: 'LOSSLESS_PASSWORD',
  secretKey: 'LOSSLESS_SECRET_KEY',
  tlsPassphrase: 'LOSSLESS_TLS_PASSPHRASE',
} as const;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[,;]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** A file's text, trimmed of a final newline; the path is in the error, the content never. */
function readSecret(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw invalidArgument(
      `--${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function readPem(flag: string, path: string): string {
  const text = readSecret(flag, path);
  if (!text.includes('-----BEGIN')) throw invalidArgument(`--${flag}: ${path} is not a PEM file`);
  return text;
}

function tlsOptions(f: ConnectionFlags, env: NodeJS.ProcessEnv): TlsOptions | undefined {
  const wanted = f.tls === true || f.ca !== undefined || f.cert !== undefined || f.insecure === true;
  if (!wanted) {
    if (f.key !== undefined || f.servername !== undefined) {
      throw invalidArgument('--key and --servername need TLS: add --tls (or --ca / --cert)');
    }
    return undefined;
  }
  const tls: TlsOptions = {};
  if (f.ca !== undefined) tls.ca = readPem('ca', f.ca);
  if (f.cert !== undefined) tls.cert = readPem('cert', f.cert);
  if (f.key !== undefined) tls.key = readPem('key', f.key);
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw invalidArgument('--cert and --key go together');
  const passphrase = env[ENV.tlsPassphrase];
  if (passphrase !== undefined && passphrase !== '') tls.passphrase = passphrase;
  if (f.servername !== undefined) tls.servername = f.servername;
  if (f.insecure === true) tls.rejectUnauthorized = false;
  return tls;
}

/** The password from --password-file, else LOSSLESS_PASSWORD; undefined when neither is given. */
function password(f: ConnectionFlags, env: NodeJS.ProcessEnv): string | undefined {
  if (f['password-file'] !== undefined) return readSecret('password-file', f['password-file']);
  const p = env[ENV.password];
  return p === undefined || p === '' ? undefined : p;
}

/**
 * Resolves the connection from flags, then the environment. INVALID_ARGUMENT for a missing or contradictory
 * setting; the adapter factory checks the rest when the driver is made.
 */
export function resolveConnection(f: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): CliConnection {
  const adapter = f.adapter ?? env[ENV.adapter];
  if (adapter === undefined || !ADAPTERS.includes(adapter as AdapterName)) {
    throw invalidArgument(
      `--adapter must be one of ${ADAPTERS.join(', ')} (or set ${ENV.adapter})` +
        (adapter === undefined ? '' : `, not "${adapter.slice(0, 40)}"`),
    );
  }
  const username = f.username ?? env[ENV.username];
  const secret = password(f, env);
  const tls = tlsOptions(f, env);
  const foreign = (flags: (keyof ConnectionFlags)[]) => {
    const given = flags.filter((k) => f[k] !== undefined);
    if (given.length > 0)
      throw invalidArgument(`--${given.join(', --')}: not an option of the ${adapter} adapter`);
  };
  if (adapter === 'rabbitmq') {
    foreign([
      'brokers',
      'endpoints',
      'namesrv',
      'cluster',
      'sasl-mechanism',
      'access-key',
      'secret-key-file',
    ]);
    const urls = f.url && f.url.length > 0 ? f.url : list(env[ENV.rabbitmqUrl]);
    if (urls.length === 0)
      throw invalidArgument(`RabbitMQ: give --url amqp://host:5672 (or ${ENV.rabbitmqUrl})`);
    const options: RabbitMqDriverOptions = { urls };
    if (username !== undefined) {
      if (secret === undefined) {
        throw invalidArgument(`--username needs a password: ${ENV.password} or --password-file`);
      }
      options.auth = { username, password: secret };
    }
    if (tls) options.tls = tls;
    return { adapter, options };
  }
  if (adapter === 'kafka') {
    foreign(['url', 'endpoints', 'namesrv', 'cluster', 'access-key', 'secret-key-file']);
    const brokers = list(f.brokers ?? env[ENV.kafkaBrokers]);
    if (brokers.length === 0)
      throw invalidArgument(`Kafka: give --brokers host:9092[,host:9092] (or ${ENV.kafkaBrokers})`);
    const options: KafkaDriverOptions = { brokers };
    const mechanism = f['sasl-mechanism'];
    if (mechanism !== undefined || username !== undefined) {
      const m = mechanism ?? 'scram-sha-512';
      if (m !== 'plain' && m !== 'scram-sha-256' && m !== 'scram-sha-512') {
        throw invalidArgument('--sasl-mechanism must be plain, scram-sha-256 or scram-sha-512');
      }
      if (username === undefined || secret === undefined) {
        throw invalidArgument(`SASL needs --username and a password (${ENV.password} or --password-file)`);
      }
      options.sasl = { mechanism: m, username, password: secret };
    }
    if (tls) options.tls = tls;
    return { adapter, options };
  }
  foreign(['url', 'brokers', 'sasl-mechanism', 'username', 'password-file']);
  const endpoints = f.endpoints ?? env[ENV.rocketmqEndpoints];
  const namesrv = f.namesrv ?? env[ENV.rocketmqNamesrv];
  if (!endpoints || !namesrv) {
    throw invalidArgument(
      `RocketMQ: give --endpoints (the gRPC proxy) and --namesrv (or ${ENV.rocketmqEndpoints}, ${ENV.rocketmqNamesrv})`,
    );
  }
  const options: RocketMqDriverOptions = { endpoints, namesrv };
  const cluster = f.cluster ?? env[ENV.rocketmqCluster];
  if (cluster) options.cluster = cluster;
  const accessKey = f['access-key'];
  const secretKey =
    f['secret-key-file'] !== undefined
      ? readSecret('secret-key-file', f['secret-key-file'])
      : env[ENV.secretKey];
  if (accessKey !== undefined) {
    if (!secretKey)
      throw invalidArgument(`--access-key needs a secret key: ${ENV.secretKey} or --secret-key-file`);
    options.auth = { accessKey, secretKey };
  }
  if (tls) options.tls = tls;
  return { adapter: 'rocketmq', options };
}

/** The adapter's driver for a connection. */
export function driverFor(c: CliConnection, logger: Logger): Driver {
  if (c.adapter === 'rabbitmq') return rabbitmq({ ...c.options, logger });
  if (c.adapter === 'kafka') return kafka({ ...c.options, logger });
  return rocketmq({ ...c.options, logger });
}
