import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeRun } from '../../../src/runs/merge-run.js';
import { isValidId, normalizeStatus } from '../../../src/runs/run.js';
import { parseWebhookPayload } from '../../../src/webhooks/webhook-payload.js';
import { WebhookPayloadError } from '../../../src/errors.js';

/** Contract section 2's rule, written out independently of the code under test. */
const CONTRACT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/;
const STATUSES = new Set(['queued', 'running', 'success', 'failed', 'cancelled']);

/** Strings an attacker would try as ids: any text, dot segments, near-valid ids, prototype keys. */
const hostileId = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('.', '..', '...', '.a', 'a..b', '..%2f', '__proto__', 'constructor', 'prototype', '*', '-', 'a\r\nb', 'a\u0000b'),
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,300}$/),
);

describe('ids and statuses (property-based)', () => {
  it('accepts exactly the ids of the contract rule: never a dot segment, never a path or a line break', () => {
    fc.assert(
      fc.property(hostileId, (id) => {
        expect(isValidId(id)).toBe(CONTRACT_ID.test(id));
        if (isValidId(id)) {
          expect(id === '.' || id === '..').toBe(false);
          expect(id).not.toMatch(/[/\\\s%*]/);
          // A valid id needs no percent-encoding in a path: what is sent is what was asked.
          expect(encodeURIComponent(id).replace(/%3A/g, ':')).toBe(id);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('maps a status only to one of the five, whatever the string (Object.prototype names included)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom(...Object.getOwnPropertyNames(Object.prototype))), (status) => {
        const normalized = normalizeStatus(status);
        expect(normalized === undefined || STATUSES.has(normalized)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('never makes a run of news whose id or flowId breaks the rule, nor of an unknown status', () => {
    fc.assert(
      fc.property(hostileId, hostileId, fc.oneof(fc.constantFrom('success', 'pending'), fc.string()), (id, flowId, status) => {
        const outcome = mergeRun(undefined, { id, flowId, status }, 'webhook', {}, 1000);
        const acceptable = isValidId(id) && isValidId(flowId) && normalizeStatus(status) !== undefined;
        expect(outcome.kind).toBe(acceptable ? 'changed' : 'invalid');
      }),
      { numRuns: 2000 },
    );
  });

  it('parses a webhook only when data.id and data.flowId follow the rule', () => {
    fc.assert(
      fc.property(hostileId, hostileId, (id, flowId) => {
        const raw = Buffer.from(JSON.stringify({ event: 'execution.completed', data: { id, flowId, status: 'success' } }));
        if (isValidId(id) && isValidId(flowId)) expect(parseWebhookPayload(raw).data).toMatchObject({ id, flowId });
        else expect(() => parseWebhookPayload(raw)).toThrow(WebhookPayloadError);
      }),
      { numRuns: 2000 },
    );
  });
});
