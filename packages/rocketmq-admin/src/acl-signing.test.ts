// The remoting signature against vectors computed outside this code, from the Java algorithm's definition
// (values of the ext fields sorted by key, then the body, HMAC-SHA1, Base64), with `openssl dgst -sha1 -hmac`:
//   printf 'lossless-adminTBW102t1{"a":1}' | openssl dgst -sha1 -hmac 'Adm1n-s3cret' -binary | base64
import { describe, expect, it } from 'vitest';
import { signExtFields, signedContent } from './acl-signing.js';

describe('signExtFields', () => {
  it('signs the values sorted by key (AccessKey first: upper case sorts first), then the body', () => {
    const body = Buffer.from('{"a":1}', 'utf8');
    const fields = signExtFields({ topic: 't1', defaultTopic: 'TBW102' }, body, {
      accessKey: 'lossless-admin',
      secretKey: 'Adm1n-s3cret',
    });
    expect(fields).toEqual({
      topic: 't1',
      defaultTopic: 'TBW102',
      AccessKey: 'lossless-admin',
      Signature: 'fBQogdOmjYlJ0Nxu1Cwrsq7Xq5I=',
    });
    expect(signedContent(fields, body).toString('utf8')).toBe('lossless-adminTBW102t1{"a":1}');
  });

  it('signs a request without fields or body: the access key alone', () => {
    expect(signExtFields({}, undefined, { accessKey: 'lossless-admin', secretKey: 'Adm1n-s3cret' })).toEqual({
      AccessKey: 'lossless-admin',
      Signature: 'JoWpM8NsWb6W7UDY1/5Ud2S4dk0=',
    });
  });

  it('includes the security token in the signed fields, and replaces a Signature already there', () => {
    const fields = signExtFields({ groupName: 'g', Signature: 'stale' }, Buffer.alloc(0), {
      accessKey: 'ak',
      secretKey: 'sk',
      securityToken: 'tok',
    });
    expect(fields).toEqual({
      groupName: 'g',
      AccessKey: 'ak',
      SecurityToken: 'tok',
      Signature: 'GyQh60Txg6y4Zbe/5F/3oBAQuY0=',
    });
  });

  it('never puts the secret key in the fields', () => {
    const fields = signExtFields({ topic: 't' }, undefined, { accessKey: 'ak', secretKey: 'the-secret' });
    expect(JSON.stringify(fields)).not.toContain('the-secret');
  });
});
