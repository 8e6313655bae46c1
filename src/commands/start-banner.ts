import { pino, type Logger } from 'pino';
import type { ServeConfig } from '../config/serve-config.js';
import type { Gateway } from '../gateway.js';
import { packageVersion } from '../version.js';
import { WEBHOOK_PATH } from '../webhooks/webhook-route.js';

/** The `--url` the client commands assume when none is given. */
const DEFAULT_CLIENT_URL = 'http://127.0.0.1:8080';

/** A flow of the embedded simulator, and the smallest document it takes (`%PDF-1.4`). */
const SIMULATED_FLOW = 'invoice-extractor';
const TINY_PDF_BASE64 = 'JVBERi0xLjQK';


/**
 * The start-up banner for people at a terminal (`rungate serve` writes it only when stdout is
 * one): the dashboard, a start line and a watch line, as text to copy — JSON log lines would
 * escape every quote. Processes that read stdout get the JSON lines alone, `listening` included.
 */
export function startBanner(
  gateway: Pick<Gateway, 'url' | 'publicUrl' | 'simulator'>,
  config: Pick<ServeConfig, 'simRunMs' | 'jwtSecret' | 'store'>,
): string {
  const { url } = gateway;
  const simulating = gateway.simulator !== undefined;
  const auth = config.jwtSecret !== undefined;
  const urlFlag = url === DEFAULT_CLIENT_URL ? '' : ` --url ${url}`;
  const upstream = simulating ? `the embedded Doclo simulator, runs of about ${formatSeconds(config.simRunMs)} (--sim-run-ms)` : 'Doclo';
  const rows: Array<[string, string]> = [['Dashboard', `${url}/`]];
  if (auth) rows.push(['Token', 'export RUNGATE_TOKEN=$(npx rungate token --sub you)   # with RUNGATE_JWT_SECRET set as for the gateway']);
  if (simulating) {
    const authHeader = auth ? ` -H "authorization: Bearer $RUNGATE_TOKEN"` : '';
    const body = JSON.stringify({ input: { document: { base64: TINY_PDF_BASE64, mimeType: 'application/pdf' } } });
    rows.push(['Start a run', `curl -s -X POST ${url}/api/v1/flows/${SIMULATED_FLOW}/run -H 'content-type: application/json'${authHeader} -d '${body}'`]);
  } else {
    rows.push(['Start a run', `npx rungate run <flowId> <file.pdf>${urlFlag}`]);
    rows.push(['Webhooks', `${gateway.publicUrl}${WEBHOOK_PATH} (where Doclo must reach this gateway)`]);
  }
  rows.push(['Watch it', `npx rungate watch <the run's id>${urlFlag}`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return [
    '',
    `rungate ${packageVersion()} listening on ${url} (store: ${config.store.kind}; upstream: ${upstream}${auth ? '; tokens required' : ''})`,
    '',
    ...rows.map(([label, text]) => `  ${label.padEnd(width)}  ${text}`),
    '',
    'Logs follow as JSON lines. Ctrl-C stops the gateway.',
    '',
    '',
  ].join('\n');
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Writes text to the logger's own stream, so that it comes after the lines logged before it:
 * pino buffers its writes, and text written to process.stdout directly would overtake them.
 */
export function writeAfterLogs(logger: Logger, text: string): void {
  const stream = (logger as unknown as Record<symbol, { write?: (chunk: string) => unknown } | undefined>)[pino.symbols.streamSym];
  if (typeof stream?.write === 'function') stream.write(text);
  else process.stdout.write(text);
}
