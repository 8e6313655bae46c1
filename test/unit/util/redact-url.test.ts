import { describe, expect, it } from 'vitest';
import { redactUrl, redactUrlPassword } from '../../../src/util/redact-url.js';

describe('redactUrl', () => {
  it('replaces the value of access_token, whatever its place or spelling, and keeps the rest', () => {
    expect(redactUrl('/api/v1/events?flowId=f&access_token=eyJ.abc.def')).toBe('/api/v1/events?flowId=f&access_token=[redacted]');
    expect(redactUrl('/api/v1/runs/x/events?access_token=t&since=3')).toBe('/api/v1/runs/x/events?access_token=[redacted]&since=3');
    expect(redactUrl('/e?ACCESS_TOKEN=t')).toBe('/e?ACCESS_TOKEN=[redacted]');
    expect(redactUrl('/e?access%5Ftoken=t')).toBe('/e?access%5Ftoken=[redacted]');
    expect(redactUrl('/e?access_token')).toBe('/e?access_token=[redacted]');
  });

  it('leaves URLs without credentials as they are, malformed encodings included', () => {
    for (const url of ['/api/v1/runs', '/api/v1/runs?limit=5&cursor=abc', '/x?%E0%A4%A=1', '/x?']) expect(redactUrl(url)).toBe(url);
  });
});

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
