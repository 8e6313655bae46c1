import { describe, expect, it } from 'vitest';
import { UpstreamError, parseExecution } from '../../../src/upstream/index.js';

const body = (fields: Record<string, unknown>): string =>
  JSON.stringify({ id: 'exec_1', flowId: 'flow_1', createdAt: '2024-02-20T15:30:00Z', ...fields });

describe('parseExecution', () => {
  it.each([
    ['pending', 'queued'], ['queued', 'queued'], ['running', 'running'], ['completed', 'success'],
    ['success', 'success'], ['failed', 'failed'], ['cancelled', 'cancelled'],
  ])('normalises %s to %s (API reference and SDK vocabularies)', (raw, normal) => {
    expect(parseExecution(body({ status: raw }), 200).status).toBe(normal);
  });

  it('passes every other field through', () => {
    const fields = {
      status: 'completed', version: '1.2.0', output: { total: 12 }, metrics: { durationMs: 5, pageCount: 1, creditsUsed: 2 },
      metadata: { customerId: 'c' }, completedAt: '2024-02-20T15:30:05.000Z', duration: 5000, traceId: 't',
    };
    expect(parseExecution(body(fields), 200)).toEqual({ id: 'exec_1', flowId: 'flow_1', createdAt: '2024-02-20T15:30:00Z', ...fields, status: 'success' });
  });

  it("drops rungate's own seq and source fields", () => {
    const parsed = parseExecution(body({ status: 'running', seq: 4, source: 'poll' }), 200);
    expect(parsed).not.toHaveProperty('seq');
    expect(parsed).not.toHaveProperty('source');
  });

  it('fills a missing flowId only from the fallback', () => {
    const noFlow = JSON.stringify({ id: 'exec_1', status: 'pending' });
    expect(parseExecution(noFlow, 200, 'flow_x').flowId).toBe('flow_x');
    expect(() => parseExecution(noFlow, 200)).toThrow(UpstreamError);
  });

  it.each([
    ['not JSON', 'oops'],
    ['an array', '[]'],
    ['no id', JSON.stringify({ flowId: 'f', status: 'running' })],
    ['no status', JSON.stringify({ id: 'exec_1', flowId: 'f' })],
    ['an unknown status', JSON.stringify({ id: 'exec_1', flowId: 'f', status: 'thinking' })],
  ])('rejects %s as a bad response', (_what, text) => {
    try {
      parseExecution(text, 200);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ kind: 'bad_response', code: 'RUNGATE_ERR_UPSTREAM_BAD_RESPONSE', status: 200, retryable: false });
    }
  });
});
