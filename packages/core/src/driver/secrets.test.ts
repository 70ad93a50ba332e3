// Secrets.guard: nothing thrown or rejected through it carries a secret; addressSecrets: what an address holds.
import { describe, expect, it } from 'vitest';
import { addressSecrets, Secrets } from './secrets.js';

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

describe('addressSecrets', () => {
  it('takes the password of a URL, and the text after a colon when an "@host" was lost, but never a port', () => {
    expect(addressSecrets('amqp://u:p4ss@h:5672/')).toContain('p4ss');
    expect(addressSecrets('amqp://user:1234')).toContain('1234'); // "user:1234" may be a login without its host
    expect(addressSecrets('amqps://127.0.0.1:5686')).toEqual([]);
    expect(addressSecrets('amqps://broker.example.com:5671/')).toEqual([]);
    expect(addressSecrets('amqp://localhost:5672')).toEqual([]);
    expect(addressSecrets('amqp://[::1]:5672')).toEqual([]);
  });
});
