// Secrets.guard: nothing thrown or rejected through it carries a secret.
import { describe, expect, it } from 'vitest';
import { Secrets } from './secrets.js';

const SECRET = 's3cr3t-password-value';

describe('Secrets.guard', () => {
  const secrets = new Secrets([SECRET]);

  it('scrubs what a function throws', () => {
    expect(() =>
      secrets.guard(() => {
        throw new Error(`bad url amqp://u:${SECRET}@h`);
      }),
    ).toThrow('bad url amqp://u:***@h');
  });

  it('scrubs what a returned promise rejects with, and passes results through', async () => {
    await expect(secrets.guard(async () => Promise.reject(new Error(`refused ${SECRET}`)))).rejects.toThrow(
      'refused ***',
    );
    await expect(secrets.guard(async () => 42)).resolves.toBe(42);
    expect(secrets.guard(() => 'plain')).toBe('plain');
  });
});
