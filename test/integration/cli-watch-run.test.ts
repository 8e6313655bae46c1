import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flattenOptions } from '../../src/config/option-parser.js';
import { SERVE_OPTIONS } from '../../src/config/serve-config.js';
import { signWebhookBody } from '../../src/simulator/index.js';
import { eventually, startStack, type Stack } from '../support/gateway-harness.js';
import { cli, startCli } from '../support/cli-process.js';

async function startRun(stack: Stack): Promise<string> {
  const response = await fetch(`${stack.url}/api/v1/flows/invoice-extractor/run`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { document: { base64: Buffer.from('%PDF-1.4 cli').toString('base64'), mimeType: 'application/pdf' } } }),
  });
  return ((await response.json()) as { id: string }).id;
}

/** Ends a run at the gateway as Doclo would: a signed webhook with its final state. */
async function finishByWebhook(stack: Stack, id: string, status: string): Promise<void> {
  const body = JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'invoice-extractor', status, output: {} } });
  const response = await fetch(`${stack.url}/webhooks/doclo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-doclo-signature': signWebhookBody(stack.sim.webhookSecret, body) },
    body,
  });
  expect(response.status).toBe(200);
}

describe('rungate watch / rungate run (spawned CLI)', () => {
  let ok: Stack;
  let failing: Stack;
  /** Runs that outlast the CLI's start however slow the machine; tests end them themselves. */
  let slow: Stack;
  let dir = '';

  beforeAll(async () => {
    ok = await startStack({ sim: { runMs: 400, failRate: 0, seed: 21 } });
    failing = await startStack({ sim: { runMs: 300, failRate: 1, seed: 22 } });
    slow = await startStack({ sim: { runMs: 60_000, failRate: 0, seed: 23 } });
    dir = mkdtempSync(join(tmpdir(), 'rungate-cli-'));
    writeFileSync(join(dir, 'doc.pdf'), Buffer.from('%PDF-1.4\n% a tiny document\n'));
    writeFileSync(join(dir, 'scan.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
    writeFileSync(join(dir, 'notes.txt'), 'just text');
  });
  afterAll(async () => {
    await ok?.close();
    await failing?.close();
    await slow?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--help lists the flags and exits 0, for serve, watch and run', async () => {
    const serve = await cli(['serve', '--help']);
    expect(serve.code).toBe(0);
    for (const spec of flattenOptions(SERVE_OPTIONS)) expect(serve.stdout).toContain(`--${spec.flag}`);
    for (const [command, flags] of [['watch', ['--url', '--token']], ['run', ['--url', '--token', '--metadata', '--version']]] as const) {
      const result = await cli([command, '-h']);
      expect(result.code).toBe(0);
      for (const flag of flags) expect(result.stdout).toContain(flag);
    }
  });

  it('watch: exit 0 on success, plain lines on stderr, the final run JSON on stdout', async () => {
    const id = await startRun(slow);
    const watching = startCli(['watch', id, '--url', slow.url]);
    // Ended once watch has printed the run under way, not after a run time the CLI may outlast.
    await eventually(() => watching.stderr().includes(id), 20_000);
    await finishByWebhook(slow, id, 'success');
    const result = await watching.done;
    expect(result.code).toBe(0);
    const run = JSON.parse(result.stdout) as { id: string; status: string };
    expect(run).toMatchObject({ id, status: 'success' });
    const lines = result.stderr.trim().split('\n');
    // The first line is the state when watch looked: queued (or running).
    expect(lines[0]).toMatch(new RegExp(`${id} (queued|running)`));
    expect(lines.at(-1)).toContain(`${id} success`);
    expect(result.stderr).not.toContain('\r');
  });

  it('watch: shows running and the live percentage when the gateway polls watched runs for progress', async () => {
    const progress = await startStack({ sim: { runMs: 2000, failRate: 0, seed: 23 }, args: ['--progress-poll-ms', '200'] });
    try {
      const id = await startRun(progress);
      const result = await cli(['watch', id, '--url', progress.url]);
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(new RegExp(`${id} running .*\\] \\d+% \\w+`));
    } finally {
      await progress.close();
    }
  });

  it('watch: exit 1 when the run fails (URL from RUNGATE_URL)', async () => {
    const id = await startRun(failing);
    const result = await cli(['watch', id], { RUNGATE_URL: failing.url });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ id, status: 'failed' });
  });

  it('watch: exit 2 when the run is cancelled', async () => {
    const id = await startRun(slow);
    const watching = startCli(['watch', id, '--url', slow.url]);
    // Cancelled once watch has printed the run under way, so watch sees the cancel happen.
    await eventually(() => watching.stderr().includes(id), 20_000);
    await fetch(`${slow.url}/api/v1/runs/${id}/cancel`, { method: 'POST' });
    const result = await watching.done;
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ id, status: 'cancelled' });
  });

  it('watch: exit 3 for an unknown run and for an unreachable gateway', async () => {
    const unknown = await cli(['watch', 'exec_nobody_knows', '--url', ok.url]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('EXECUTION_NOT_FOUND');
    const unreachable = await cli(['watch', 'exec_x', '--url', 'http://127.0.0.1:1']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain('NETWORK_ERROR');
    expect(unreachable.stdout).toBe('');
  });

  it('watch: exit 64 naming the flag for a bad flag (2 means cancelled)', async () => {
    const badFlag = await cli(['watch', 'exec_x', '--bogus']);
    expect(badFlag.code).toBe(64);
    expect(badFlag.stderr).toContain('--bogus');
    const badUrl = await cli(['watch', 'exec_x', '--url', 'ftp://x']);
    expect(badUrl.code).toBe(64);
    expect(badUrl.stderr).toContain('--url');
    const missing = await cli(['watch']);
    expect(missing.code).toBe(64);
  });

  it('run: starts a PDF run, prints its output JSON, exit 0', async () => {
    const result = await cli(['run', 'invoice-extractor', join(dir, 'doc.pdf'), '--url', ok.url, '--metadata', '{"customer":"c1"}', '--version', '1.0.0']);
    expect(result.code).toBe(0);
    const output: unknown = JSON.parse(result.stdout);
    expect(output).toEqual(expect.any(Object));
    expect(result.stderr).toMatch(/started exec_\S+ \(flow invoice-extractor, application\/pdf/);
    expect(result.stderr).toContain('success');
    const id = /started (exec_\S+)/.exec(result.stderr)?.[1];
    const run = (await (await fetch(`${ok.url}/api/v1/runs/${id}`)).json()) as { metadata: unknown };
    expect(run.metadata).toEqual({ customer: 'c1' });
  });

  it('run: detects PNG; exit 1 when the run fails', async () => {
    const result = await cli(['run', 'invoice-extractor', join(dir, 'scan.png'), '--url', failing.url]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('image/png');
    expect(result.stdout).toBe('');
  });

  it('run: exit 3 for a file of another type or a missing file; exit 64 for bad --metadata', async () => {
    const text = await cli(['run', 'invoice-extractor', join(dir, 'notes.txt'), '--url', ok.url]);
    expect(text.code).toBe(3);
    expect(text.stderr).toContain('is not a PDF, PNG, JPEG, WebP or TIFF');
    const missing = await cli(['run', 'invoice-extractor', join(dir, 'nope.pdf'), '--url', ok.url]);
    expect(missing.code).toBe(3);
    const badMetadata = await cli(['run', 'invoice-extractor', join(dir, 'doc.pdf'), '--url', ok.url, '--metadata', '[1,2]']);
    expect(badMetadata.code).toBe(64);
    expect(badMetadata.stderr).toContain('--metadata');
  });
});
