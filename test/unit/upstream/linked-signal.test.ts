import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { linkSignal } from '../../../src/upstream/linked-signal.js';

describe('linkSignal', () => {
  it('aborts with the source reason, and unties from every source', () => {
    const a = new AbortController();
    const b = new AbortController();
    const link = linkSignal([a.signal, undefined, b.signal]);
    const reason = new Error('closing');
    b.abort(reason);
    expect(link.signal.aborted).toBe(true);
    expect(link.signal.reason).toBe(reason);
    expect(link.timedOut).toBe(false);
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);
  });

  it('starts aborted when a source already is', () => {
    const a = new AbortController();
    a.abort(new Error('gone'));
    expect(linkSignal([a.signal], 1000).signal.aborted).toBe(true);
  });

  it('times out with a TimeoutError', async () => {
    const link = linkSignal([], 5);
    await new Promise((resolve) => link.signal.addEventListener('abort', resolve, { once: true }));
    expect(link.timedOut).toBe(true);
    expect((link.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('leaves nothing on a long-lived source once disposed, however many links were made', () => {
    const lifecycle = new AbortController();
    for (let i = 0; i < 10_000; i++) linkSignal([lifecycle.signal], 60_000).dispose();
    expect(getEventListeners(lifecycle.signal, 'abort')).toHaveLength(0);
    const late = linkSignal([lifecycle.signal]);
    late.dispose();
    lifecycle.abort();
    expect(late.signal.aborted).toBe(false);
  });
});
