import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RungateError } from '../../../src/errors.js';
import { createRng } from '../../../src/simulator/rng.js';
import { createRunEngine, type RunEngine } from '../../../src/simulator/run-engine.js';
import { toExecution } from '../../../src/simulator/run-view.js';
import type { SimRun } from '../../../src/simulator/sim-run.js';
import { parseStartRequest, type StartRequest } from '../../../src/simulator/start-request.js';

const request = (extra: Record<string, unknown> = {}): StartRequest =>
  parseStartRequest(
    'flow_1',
    Buffer.from(JSON.stringify({ input: { document: { base64: Buffer.from('%PDF-1.4 doc').toString('base64') } }, ...extra })),
  );

describe('run engine', () => {
  let engine: RunEngine;
  let finished: SimRun[];

  const make = (failRate: number, runMs = 1000): RunEngine =>
    createRunEngine({
      runMs,
      failRate,
      idRng: createRng(1),
      lifecycleRng: createRng(2),
      onFinished: (run) => finished.push(run),
    });

  beforeEach(() => {
    vi.useFakeTimers();
    finished = [];
  });
  afterEach(() => {
    engine.close();
    vi.useRealTimers();
  });

  it('moves queued → running → success within 0.5×..1.5× runMs and reports the end once', () => {
    engine = make(0);
    const { run, created } = engine.start('flow_1', request({ metadata: { k: 'v' } }));
    expect(created).toBe(true);
    expect(run.id).toMatch(/^exec_[0-9a-f]{16}$/);
    expect(run.status).toBe('queued');
    expect(run.plan.durationMs).toBeGreaterThanOrEqual(500);
    expect(run.plan.durationMs).toBeLessThanOrEqual(1500);
    vi.advanceTimersByTime(run.plan.startAfterMs);
    expect(run.status).toBe('running');
    const view = toExecution(run, 'sdk', Date.now() + 10);
    expect(view.progress).toMatchObject({ step: expect.any(String), percentage: expect.any(Number) });
    vi.advanceTimersByTime(run.plan.durationMs - run.plan.startAfterMs);
    expect(run.status).toBe('success');
    expect(run.output).toMatchObject({ document: { sha256: run.document.sha256, bytes: run.document.bytes } });
    expect(run.metrics).toMatchObject({ durationMs: run.plan.durationMs, pageCount: 1, stepsRun: 3, stepsTotal: 3 });
    expect(finished).toEqual([run]);
    expect(engine.counts()).toEqual({ total: 1, terminal: 1 });
  });

  it('fails runs at failRate 1 with EXTRACTION_FAILED at step extract', () => {
    engine = make(1);
    const { run } = engine.start('flow_1', request());
    vi.advanceTimersByTime(2000);
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({ code: 'EXTRACTION_FAILED', message: expect.any(String), step: 'extract' });
    expect(run.output).toBeUndefined();
  });

  it('cancels queued or running runs, then refuses with the right 409s and 404', () => {
    engine = make(0);
    const { run } = engine.start('flow_1', request());
    expect(engine.cancel(run.id)).toMatchObject({ status: 'cancelled', cancelledAtMs: expect.any(Number) });
    expect(() => engine.cancel(run.id)).toThrow(expect.objectContaining({ status: 409, code: 'ALREADY_CANCELLED' }));
    vi.advanceTimersByTime(5000);
    expect(run.status).toBe('cancelled');
    expect(finished).toEqual([]);

    const { run: done } = engine.start('flow_1', request({ metadata: { n: 2 } }));
    vi.advanceTimersByTime(5000);
    expect(() => engine.cancel(done.id)).toThrow(expect.objectContaining({ status: 409, code: 'NOT_CANCELLABLE' }));
    expect(() => engine.cancel('exec_missing')).toThrow(RungateError);
    expect(() => engine.cancel('exec_missing')).toThrow(expect.objectContaining({ status: 404, code: 'EXECUTION_NOT_FOUND' }));
  });

  it('returns the same run for a repeated idempotency key and 409s on a different body', () => {
    engine = make(0);
    const first = engine.start('flow_1', request({ idempotencyKey: 'k1' }));
    const again = engine.start('flow_1', request({ idempotencyKey: 'k1', wait: true }));
    expect(again).toEqual({ run: first.run, created: false });
    expect(() => engine.start('flow_1', request({ idempotencyKey: 'k1', metadata: { other: true } }))).toThrow(
      expect.objectContaining({ status: 409, code: 'IDEMPOTENCY_KEY_CONFLICT' }),
    );
    expect(engine.counts().total).toBe(1);
  });

  it('waitForEnd resolves ended, timeout or closed', async () => {
    engine = make(0);
    const { run } = engine.start('flow_1', request());
    const short = engine.waitForEnd(run, 10);
    vi.advanceTimersByTime(10);
    await expect(short).resolves.toBe('timeout');
    const long = engine.waitForEnd(run, 10_000);
    vi.advanceTimersByTime(2000);
    await expect(long).resolves.toBe('ended');

    const { run: other } = engine.start('flow_1', request({ metadata: { x: 1 } }));
    const pending = engine.waitForEnd(other, 10_000);
    engine.close();
    await expect(pending).resolves.toBe('closed');
    vi.advanceTimersByTime(5000);
    expect(other.status).toBe('queued');
  });

  it('shows pending/completed under the apiref vocabulary', () => {
    engine = make(0);
    const { run } = engine.start('flow_1', request());
    expect(toExecution(run, 'apiref', Date.now()).status).toBe('pending');
    vi.advanceTimersByTime(2000);
    expect(toExecution(run, 'apiref', Date.now()).status).toBe('completed');
    expect(toExecution(run, 'sdk', Date.now()).status).toBe('success');
  });
});
