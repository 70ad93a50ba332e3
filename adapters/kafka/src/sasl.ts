// The driver's `sasl` option: which SASL mechanisms it offers (PLAIN, SCRAM-SHA-256/512 with a user name and
// password, OAUTHBEARER with a token provider), their validation (a union, so checked by hand with core's rules per
// mechanism), and the kafkajs `sasl` it becomes. The password and every token the provider returns are secrets:
// the driver adds them to what it scrubs (see kafka-driver.ts).
import {
  checkValue,
  describeValue,
  ErrorCode,
  isLosslessError,
  LosslessError,
  type OptionRule,
  type OptionShape,
} from '@lossless/core/driver';
import type { SASLOptions } from 'kafkajs';

/** Mechanisms with a user name and password (SCRAM is checked by the broker against its stored credentials). */
export type KafkaPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface KafkaPasswordSasl {
  mechanism: KafkaPasswordMechanism;
  username: string;
  /** Never printed: not in errors, logs or health. */
  password: string;
}

/** An OAuth bearer token, as kafkajs sends it (`value` is the token; `extensions` are SASL extensions). */
export interface KafkaOauthBearerToken {
  value: string;
  extensions?: Record<string, string>;
}

export interface KafkaOauthBearerSasl {
  mechanism: 'oauthbearer';
  /**
   * Returns the token for each new connection (kafkajs calls it at every SASL handshake): cache and refresh it
   * yourself (e.g. aws-msk-iam-sasl-signer-js for Amazon MSK IAM). A provider that throws fails that connection
   * with PERMISSION_DENIED naming only its error's class (its message may hold a credential). Token values are
   * never printed.
   */
  oauthBearerProvider: () => Promise<KafkaOauthBearerToken>;
}

export type KafkaSasl = KafkaPasswordSasl | KafkaOauthBearerSasl;

/** The mechanisms `sasl.mechanism` accepts (kafkajs's names, lowercase). */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;

/**
 * Not core's enum rule: that one quotes what it got, and a value pasted into `mechanism` may be the password.
 */
const MECHANISM_RULE: OptionRule = {
  type: 'custom',
  check: (v) =>
    typeof v === 'string' && (SASL_MECHANISMS as readonly string[]).includes(v)
      ? undefined
      : `one of ${SASL_MECHANISMS.map((m) => `'${m}'`).join(', ')}`,
};

const PASSWORD_SHAPE: OptionShape = {
  mechanism: MECHANISM_RULE,
  username: { type: 'string', minLength: 1, maxLength: 1024 },
  password: { type: 'string', minLength: 1, maxLength: 4096, secret: true },
};

const OAUTH_SHAPE: OptionShape = {
  mechanism: MECHANISM_RULE,
  oauthBearerProvider: { type: 'function' },
};

function invalid(message: string): LosslessError {
  return new LosslessError(ErrorCode.INVALID_ARGUMENT, `kafka(): ${message}`, { broker: 'kafka' });
}

/**
 * Checks `sasl` (already known to be set): the mechanism first, then the keys that mechanism takes (unknown keys
 * → INVALID_ARGUMENT naming the closest, a missing user name, password or provider named). Never quotes a value.
 */
export function checkSasl(value: unknown): KafkaSasl {
  try {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw invalid(`sasl must be an object { mechanism, username, password }, got ${describeValue(value)}`);
    }
    const mechanism = checkValue<KafkaSasl['mechanism']>(
      'kafka()',
      'sasl.mechanism',
      (value as { mechanism?: unknown }).mechanism,
      MECHANISM_RULE,
      { broker: 'kafka' },
    );
    const oauth = mechanism === 'oauthbearer';
    const checked = checkValue<{
      username?: string;
      password?: string;
      oauthBearerProvider?: KafkaOauthBearerSasl['oauthBearerProvider'];
    }>(
      'kafka()',
      'sasl',
      value,
      { type: 'object', shape: oauth ? OAUTH_SHAPE : PASSWORD_SHAPE },
      { broker: 'kafka' },
    );
    if (oauth) {
      const provider = checked.oauthBearerProvider;
      if (provider === undefined)
        throw invalid("sasl.oauthBearerProvider is required with mechanism 'oauthbearer'");
      return { mechanism, oauthBearerProvider: provider };
    }
    const { username, password } = checked;
    if (username === undefined) throw invalid(`sasl.username is required with mechanism '${mechanism}'`);
    if (password === undefined) throw invalid(`sasl.password is required with mechanism '${mechanism}'`);
    return { mechanism, username, password };
  } catch (error) {
    if (isLosslessError(error)) throw error;
    throw invalid('sasl could not be read (a getter or Proxy threw while checking it)');
  }
}

/** The secrets `sasl` may carry (its password), for the driver's Secrets. Never throws. */
export function saslSecrets(sasl: unknown): string[] {
  try {
    const password = (sasl as { password?: unknown } | null)?.password;
    return typeof password === 'string' ? [password] : [];
  } catch {
    return [];
  }
}

/**
 * kafkajs's `sasl` for a checked option. The token provider is wrapped: each token it returns is handed to
 * `onToken` (the driver adds it to its secrets) before kafkajs sees it, and an error it throws becomes
 * PERMISSION_DENIED without its message.
 */
export function kafkajsSasl(sasl: KafkaSasl, onToken: (value: string) => void): SASLOptions {
  if (sasl.mechanism !== 'oauthbearer') {
    return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password } as SASLOptions;
  }
  const provider = sasl.oauthBearerProvider;
  return {
    mechanism: 'oauthbearer',
    oauthBearerProvider: async () => {
      let token: KafkaOauthBearerToken;
      try {
        token = await provider();
      } catch (error) {
        throw providerFailed(`threw ${error instanceof Error ? error.name : describeValue(error)}`);
      }
      if (token === null || typeof token !== 'object' || typeof token.value !== 'string' || !token.value) {
        throw providerFailed(`returned ${describeValue(token)}, not { value: '<token>' }`);
      }
      onToken(token.value);
      return token;
    },
  };
}

function providerFailed(what: string): LosslessError {
  return new LosslessError(
    ErrorCode.PERMISSION_DENIED,
    `kafka: sasl.oauthBearerProvider ${what}: no token, so the broker cannot be authenticated to ` +
      '(its error is not shown: it may hold a credential)',
    { broker: 'kafka', retriable: false },
  );
}
