import { describe, expect, it } from 'vitest';
import { startBanner } from '../../../src/commands/start-banner.js';
import { loadServeConfig } from '../../../src/config/serve-config.js';
import type { Simulator } from '../../../src/simulator/index.js';

const simulator = {} as Simulator;

describe('the start-up banner', () => {
  it('shows the dashboard, a copyable curl start and a watch line, without JSON escapes', () => {
    const config = loadServeConfig(['--store', 'memory', '--sim-run-ms', '20000'], {});
    const banner = startBanner({ url: 'http://127.0.0.1:8080', publicUrl: 'http://127.0.0.1:8080', simulator }, config);
    expect(banner).toContain('Dashboard    http://127.0.0.1:8080/');
    expect(banner).toContain(
      `curl -s -X POST http://127.0.0.1:8080/api/v1/flows/invoice-extractor/run -H 'content-type: application/json' -d '{"input":{"document":{"base64":"JVBERi0xLjQK","mimeType":"application/pdf"}}}'`,
    );
    // The default URL needs no --url.
    expect(banner).toMatch(/Watch it +npx rungate watch <the run's id>\n/);
    expect(banner).toContain('runs of about 20 s');
    expect(banner).not.toContain('\\"');
    expect(banner).not.toContain('{"level"');
  });

  it('carries the URL, a token step with auth on, and the webhook URL without the simulator', () => {
    const config = loadServeConfig(['--store', 'memory', '--jwt-secret', 'x'.repeat(32)], {});
    const banner = startBanner({ url: 'http://127.0.0.1:9999', publicUrl: 'https://gw.example.com', simulator: undefined }, config);
    expect(banner).toContain('export RUNGATE_TOKEN=$(npx rungate token --sub you)');
    expect(banner).toContain('npx rungate run <flowId> <file.pdf> --url http://127.0.0.1:9999');
    expect(banner).toContain('npx rungate watch <the run\'s id> --url http://127.0.0.1:9999');
    expect(banner).toContain('https://gw.example.com/webhooks/doclo');
    expect(banner).not.toContain('x'.repeat(32));
  });
});
