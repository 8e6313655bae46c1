import { describe, expect, it } from 'vitest';
import type { Run, RungateClient } from '@rungate/client';
import { durationSeconds, followRun, statusLine, type ProgressStream } from '../../../src/commands/watch.js';

const CLEAR_LINE = '\u001b[2K';
const base = { id: 'exec_1', flowId: 'f', seq: 3, source: 'webhook' } as const;

/** A terminal that keeps what was written. */
function terminal(): ProgressStream & { text: string } {
  return {
    isTTY: true,
    columns: 120,
    text: '',
    write(chunk: string) {
      this.text += chunk;
    },
  };
}

/** A client whose run is `first` and never changes: enough to follow it until interrupted. */
function stillRunning(first: Run): { client: RungateClient; unsubscribed: () => boolean } {
  let unsubscribed = false;
  const runs = {
    get: () => Promise.resolve(first),
    subscribe: () => () => {
      unsubscribed = true;
    },
  };
  return { client: { runs } as unknown as RungateClient, unsubscribed: () => unsubscribed };
}

describe('the status line', () => {
  it("shows a finished run's duration, not the time since it was created", () => {
    const createdAt = new Date(Date.now() - 3_600_000).toISOString();
    const finished: Run = { ...base, status: 'success', createdAt, duration: 2345 };
    expect(statusLine(finished, Date.now())).toBe('exec_1 success   2.3s');
    // Without Doclo's duration: completedAt − createdAt.
    const completedAt = new Date(Date.parse(createdAt) + 4_000).toISOString();
    expect(durationSeconds({ ...base, status: 'failed', createdAt, completedAt })).toBe(4);
    expect(statusLine({ ...base, status: 'failed', createdAt, completedAt }, Date.now())).toBe('exec_1 failed    4.0s');
    expect(durationSeconds({ ...base, status: 'cancelled', createdAt, cancelledAt: completedAt })).toBe(4);
    expect(durationSeconds({ ...base, status: 'cancelled' })).toBeUndefined();
  });

  it('shows the time since creation while the run goes on', () => {
    const createdAt = new Date(Date.now() - 5_000).toISOString();
    expect(statusLine({ ...base, status: 'running', createdAt, duration: 1 }, Date.now())).toMatch(/^exec_1 running {3}5\.\ds$/);
  });
});

describe('followRun interrupted (Ctrl-C)', () => {
  it('rejects, stops following and leaves the line redrawn clean on a terminal', async () => {
    const createdAt = new Date().toISOString();
    const { client, unsubscribed } = stillRunning({ ...base, status: 'running', createdAt });
    const out = terminal();
    const interrupt = new AbortController();
    const following = followRun(client, 'exec_1', out, interrupt.signal);
    await new Promise((resolve) => setImmediate(resolve));
    // What the terminal itself echoes for Ctrl-C lands on the line before the signal arrives.
    out.write('^C');
    interrupt.abort();
    await expect(following).rejects.toThrow();
    expect(unsubscribed()).toBe(true);
    // The last thing written clears the line, draws the status again and ends the line.
    expect(out.text).toMatch(new RegExp(`\r${CLEAR_LINE.replace('[', '\\[')}exec_1 running {3}\\d+\\.\\ds\n$`));
    const lastLine = out.text.split('\r').at(-1)!;
    expect(lastLine).not.toContain('^C');
  });

  it('rejects at once when interrupted before the first answer', async () => {
    const runs = { get: () => new Promise<Run>(() => undefined), subscribe: () => () => undefined };
    const interrupt = new AbortController();
    const following = followRun({ runs } as unknown as RungateClient, 'exec_1', terminal(), interrupt.signal);
    interrupt.abort();
    await expect(following).rejects.toThrow();
  });
});
