import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type Stack } from '../support/gateway-harness.js';
import { screenLines, startCli, startInTerminal } from '../support/cli-process.js';

const CTRL_C = '\x03';
const DOCUMENT = { input: { document: { base64: Buffer.from('%PDF-1.4 terminal').toString('base64'), mimeType: 'application/pdf' } } };

async function startRun(url: string): Promise<string> {
  const response = await fetch(`${url}/api/v1/flows/invoice-extractor/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(DOCUMENT) });
  return ((await response.json()) as { id: string }).id;
}

/** The JSON lines of a server's stdout (every line must be one). */
function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('rungate serve: a banner for people, JSON lines for programs (spawned CLI)', () => {
  it('shows the dashboard, a curl start and a watch line on a terminal, after the listening line', async () => {
    const serve = startInTerminal(['serve', '--port', '0', '--store', 'memory', '--simulate', '--sim-run-ms', '20000']);
    await eventually(() => serve.stdout().includes('Ctrl-C stops the gateway.'), 20_000);
    const screen = screenLines(serve.stdout());
    const listening = screen.map((line) => (line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : undefined)).find((line) => line?.msg === 'listening');
    expect(listening).toBeDefined();
    const url = listening!.url as string;
    const banner = screen.slice(screen.findIndex((line) => line.startsWith(`rungate `)));
    expect(banner[0]).toMatch(new RegExp(`^rungate \\S+ listening on ${url} \\(store: memory; upstream: the embedded Doclo simulator, runs of about 20 s`));
    expect(banner).toContain(`  Dashboard    ${url}/`);
    expect(banner.find((line) => line.startsWith('  Start a run  '))).toBe(
      `  Start a run  curl -s -X POST ${url}/api/v1/flows/invoice-extractor/run -H 'content-type: application/json' -d '{"input":{"document":{"base64":"JVBERi0xLjQK","mimeType":"application/pdf"}}}'`,
    );
    expect(banner).toContain(`  Watch it     npx rungate watch <the run's id> --url ${url}`);
    serve.child.stdin?.write(CTRL_C);
    expect((await serve.done).code).toBe(0);
  });

  it('writes only JSON lines when stdout is not a terminal, the listening line as the contract has it', async () => {
    const serve = startCli(['serve', '--port', '0', '--store', 'memory', '--simulate', '--sim-run-ms', '200']);
    await eventually(() => serve.stdout().includes('"msg":"listening"'), 20_000);
    const lines = jsonLines(serve.stdout());
    const listening = lines.filter((line) => line.msg === 'listening');
    expect(listening).toHaveLength(1);
    expect(listening[0]!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(serve.stdout()).not.toContain('Dashboard');
    // --sim-run-ms reaches the embedded simulator: each run is planned at 0.5× to 1.5× of it.
    expect(lines.find((line) => line.upstreamUrl !== undefined)).toMatchObject({ runMs: 200 });
    const url = listening[0]!.url as string;
    const id = await startRun(url);
    const done = (await (await fetch(`${url}/api/v1/runs/${id}`, { headers: { prefer: 'wait=20' } })).json()) as { status: string; metrics?: { durationMs?: number } };
    expect(done.status).toMatch(/success|failed/);
    expect(done.metrics?.durationMs).toBeGreaterThanOrEqual(100);
    expect(done.metrics?.durationMs).toBeLessThanOrEqual(300);
    serve.child.kill('SIGTERM');
    expect((await serve.done).code).toBe(0);
  });
});

describe('rungate watch on a terminal (spawned CLI)', () => {
  /** Runs outlast every test here; the tests end them themselves. */
  let slow: Stack;
  beforeAll(async () => {
    slow = await startStack({ sim: { runMs: 120_000, failRate: 0, seed: 31 } });
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('Ctrl-C: exit 130, the status line redrawn without ^C, and a word that the run goes on', async () => {
    const id = await startRun(slow.url);
    const watch = startInTerminal(['watch', id, '--url', slow.url]);
    await eventually(() => watch.stdout().includes(id), 20_000);
    watch.child.stdin?.write(CTRL_C);
    const result = await watch.done;
    expect(result.code).toBe(130);
    // The terminal echoed ^C onto the line; the redraw that follows leaves it clean.
    expect(result.stdout).toContain('^C');
    const screen = screenLines(result.stdout).filter((line) => line.trim() !== '');
    expect(screen.at(-2)).toMatch(new RegExp(`^${id} (queued|running) +\\d+\\.\\ds`));
    expect(screen.at(-2)).not.toContain('^C');
    expect(screen.at(-1)).toBe(`rungate watch: interrupted; run ${id} goes on (rungate watch ${id} follows it again)`);
    // The run did go on.
    const run = (await (await fetch(`${slow.url}/api/v1/runs/${id}`)).json()) as { status: string };
    expect(run.status).toMatch(/queued|running/);
  });

  it('SIGINT without a terminal: exit 130 too, with plain lines', async () => {
    const id = await startRun(slow.url);
    const watch = startCli(['watch', id, '--url', slow.url]);
    await eventually(() => watch.stderr().includes(id), 20_000);
    watch.child.kill('SIGINT');
    const result = await watch.done;
    expect(result.code).toBe(130);
    expect(result.stdout).toBe('');
    expect(result.stderr).not.toContain('\r');
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(`rungate watch: interrupted; run ${id} goes on (rungate watch ${id} follows it again)`);
  });

  it("shows a finished run's duration, not the time since it was created", async () => {
    const id = await startRun(slow.url);
    // Ended by a cancel right away: its duration is short, whatever time passes before watch looks.
    await fetch(`${slow.url}/api/v1/runs/${id}/cancel`, { method: 'POST' });
    const run = (await (await fetch(`${slow.url}/api/v1/runs/${id}`)).json()) as { status: string; createdAt: string; cancelledAt: string };
    // Doclo answers a cancel with cancelledAt (no duration, no completedAt).
    expect(run).toMatchObject({ status: 'cancelled', cancelledAt: expect.any(String) });
    const expected = Date.parse(run.cancelledAt) - Date.parse(run.createdAt);
    // Long enough after creation that the time since creation could not pass for the duration.
    await eventually(() => Date.now() - Date.parse(run.createdAt) > expected + 1500, 10_000);
    const watch = startInTerminal(['watch', id, '--url', slow.url]);
    const result = await watch.done;
    expect(result.code).toBe(2);
    const line = screenLines(result.stdout).find((text) => text.startsWith(`${id} cancelled`));
    expect(line).toBe(`${id} cancelled ${(expected / 1000).toFixed(1)}s`);
  });
});
