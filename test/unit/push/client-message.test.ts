import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseClientMessage, ProtocolError } from '../../../src/push/client-message.js';
import { parsePreferWait } from '../../../src/http/prefer-wait.js';

describe('parseClientMessage', () => {
  it('reads each form of subscribe, unsubscribe and auth', () => {
    expect(parseClientMessage('{"op":"subscribe","runId":"exec_1","since":3}', 10)).toEqual({ op: 'subscribe', target: { kind: 'runs', runIds: ['exec_1'] }, since: 3 });
    expect(parseClientMessage('{"op":"unsubscribe","runIds":["a","b","a"]}', 10)).toEqual({ op: 'unsubscribe', target: { kind: 'runs', runIds: ['a', 'b'] }, since: undefined });
    expect(parseClientMessage('{"op":"subscribe","flowId":"*"}', 10)).toEqual({ op: 'subscribe', target: { kind: 'flow', flowId: '*' }, since: undefined });
    expect(parseClientMessage('{"op":"auth","token":"t"}', 10)).toEqual({ op: 'auth', token: 't' });
  });

  it('refuses too many runIds at once', () => {
    expect(() => parseClientMessage(JSON.stringify({ op: 'subscribe', runIds: ['a', 'b', 'c'] }), 2)).toThrow(ProtocolError);
  });

  it('throws only ProtocolError for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ op: fc.constantFrom('subscribe', 'unsubscribe', 'auth'), runId: fc.anything(), since: fc.anything() }).map((v) => JSON.stringify(v))), (text) => {
        try {
          parseClientMessage(text, 100);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parsePreferWait', () => {
  it('reads wait among other preferences and clamps to 60 s', () => {
    expect(parsePreferWait('wait=5')).toBe(5);
    expect(parsePreferWait('respond-async, wait=10')).toBe(10);
    expect(parsePreferWait(['return=minimal', 'wait=600'])).toBe(60);
    expect(parsePreferWait('wait=abc')).toBeUndefined();
    expect(parsePreferWait(undefined)).toBeUndefined();
  });
});
