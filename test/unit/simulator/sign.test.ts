import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhookBody } from '../../../src/simulator/sign.js';

describe('signWebhookBody', () => {
  it('is sha256= plus lowercase hex HMAC-SHA256 of the exact bytes', () => {
    const body = '{"event":"execution.completed","data":{"id":"exec_1","note":"é"}}';
    const expected = createHmac('sha256', 'whsec_test').update(Buffer.from(body, 'utf8')).digest('hex');
    expect(signWebhookBody('whsec_test', body)).toBe(`sha256=${expected}`);
    expect(signWebhookBody('whsec_test', Buffer.from(body, 'utf8'))).toBe(`sha256=${expected}`);
    expect(signWebhookBody('whsec_test', body)).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('matches a known vector', () => {
    // RFC 4231 test case 2.
    expect(signWebhookBody('Jefe', 'what do ya want for nothing?')).toBe(
      'sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('changes with any byte of the body or the secret', () => {
    expect(signWebhookBody('s', '{"a":1}')).not.toBe(signWebhookBody('s', '{"a": 1}'));
    expect(signWebhookBody('s', '{"a":1}')).not.toBe(signWebhookBody('t', '{"a":1}'));
  });
});
