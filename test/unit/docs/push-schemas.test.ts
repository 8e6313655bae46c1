import { describe, expect, it } from 'vitest';
import { clientFrameProblem, pushSchemas, schemaProblem, serverFrameProblem } from '../../support/push-schemas.js';

const RUN = { id: 'exec_1', flowId: 'invoice-extractor', status: 'running', seq: 2, source: 'poll', progress: { step: 'extract', percentage: 65 }, traceId: 'passes-through' };

describe('docs/schema (contract section 3)', () => {
  it('accepts every client message the contract shows', () => {
    for (const frame of [
      { op: 'subscribe', runId: 'exec_1' },
      { op: 'subscribe', runId: 'exec_1', since: 4 },
      { op: 'subscribe', runIds: ['exec_1', 'exec_2'], since: 0 },
      { op: 'subscribe', flowId: 'invoice-extractor' },
      { op: 'subscribe', flowId: '*' },
      { op: 'unsubscribe', runId: 'exec_1' },
      { op: 'unsubscribe', flowId: '*' },
      { op: 'auth', token: 'eyJhbGciOiJIUzI1NiJ9.e30.sig' },
    ]) {
      expect(clientFrameProblem(frame), JSON.stringify(frame)).toBeUndefined();
    }
  });

  it('refuses client messages the gateway answers with bad_request', () => {
    for (const frame of [
      { op: 'subscribe', runId: 'exec_1', runIds: ['exec_2'] },
      { op: 'subscribe', runId: '*' },
      { op: 'subscribe', runId: '.' },
      { op: 'subscribe', runId: 'exec_1', since: -1 },
      { op: 'subscribe', runIds: [] },
      { op: 'subscribe', runIds: ['exec 1'] },
      { op: 'auth', token: '' },
      { op: 'publish', runId: 'exec_1' },
      { runId: 'exec_1' },
    ]) {
      expect(clientFrameProblem(frame), JSON.stringify(frame)).toEqual(expect.any(String));
    }
  });

  it('accepts the gateway messages and run objects of the contract, and refuses others', () => {
    for (const frame of [
      { type: 'subscribed', runId: 'exec_1' },
      { type: 'subscribed', flowId: '*' },
      { type: 'run', run: RUN },
      { type: 'run', run: { ...RUN, status: 'success', completedAt: '2026-01-02T03:04:05.678Z', duration: 5000, output: { total: 1 }, seq: 3, source: 'webhook' } },
      { type: 'error', code: 'not_found', message: 'run exec_9 does not exist', runId: 'exec_9' },
      { type: 'error', code: 'bad_request', message: 'frame is not valid JSON' },
    ]) {
      expect(serverFrameProblem(frame), JSON.stringify(frame)).toBeUndefined();
    }
    for (const frame of [
      { type: 'subscribed', runId: 'exec_1', flowId: 'f' },
      { type: 'run', run: { ...RUN, status: 'pending' } },
      { type: 'run', run: { ...RUN, seq: 0 } },
      { type: 'run', run: { ...RUN, source: 'guess' } },
      { type: 'run', run: { ...RUN, createdAt: 'yesterday' } },
      { type: 'error', code: 'EXECUTION_NOT_FOUND', message: 'x' },
      { type: 'hello' },
    ]) {
      expect(serverFrameProblem(frame), JSON.stringify(frame)).toEqual(expect.any(String));
    }
    // SSE events carry the run object itself as their data.
    expect(schemaProblem(pushSchemas.run, RUN)).toBeUndefined();
  });
});
