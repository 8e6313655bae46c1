import { describe, expect, it } from 'vitest';
import { redactUrlPassword } from '../../../src/util/redact-url.js';

describe('redactUrlPassword', () => {
  it('hides the password and keeps the rest', () => {
    expect(redactUrlPassword('redis://:s3cret@127.0.0.1:6379/2')).toBe('redis://:***@127.0.0.1:6379/2');
    expect(redactUrlPassword('postgres://app:p%40ss@db.internal:5432/rungate')).toBe('postgres://app:***@db.internal:5432/rungate');
  });

  it('leaves a URL without a password as it was written', () => {
    expect(redactUrlPassword('redis://127.0.0.1:1/0')).toBe('redis://127.0.0.1:1/0');
    expect(redactUrlPassword('postgres://app@db/rungate')).toBe('postgres://app@db/rungate');
  });

  it('drops the credentials of text that does not parse', () => {
    expect(redactUrlPassword('redis://user:pw@[bad/0')).toBe('redis://***@[bad/0');
  });
});
