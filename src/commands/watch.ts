import { createClient, DocloError, isFinalStatus, type Run, type RungateClient } from '@rungate/client';
import { describeOptions, isHttpUrl, parseOptions, type OptionTable } from '../config/option-parser.js';
import { ConfigError } from '../errors.js';

/** The flags `rungate watch` and `rungate run` share: where the gateway is and how to get in. */
export const CLIENT_OPTIONS = {
  url: { flag: 'url', env: 'RUNGATE_URL', kind: 'string', default: 'http://127.0.0.1:8080', check: isHttpUrl, help: "the gateway's base URL" },
  token: { flag: 'token', env: 'RUNGATE_TOKEN', kind: 'string', help: 'a JWT, for gateways started with --jwt-secret' },
} satisfies OptionTable;

const HELP = `Usage: rungate watch <runId> [flags]

Follows one run until it ends: a live line on a terminal (plain lines otherwise) on stderr, the
final run as JSON on stdout. Exit 0 success, 1 failed, 2 cancelled, 3 error.

Flags:
${describeOptions(CLIENT_OPTIONS)}`;

/** Exit codes of `watch` and `run`: by final status, and 3 when the run could not be followed. */
export const EXIT = { success: 0, failed: 1, cancelled: 2, error: 3 } as const;

/** The exit code for a final run. */
export function exitCodeFor(run: Run): number {
  return run.status === 'success' ? EXIT.success : run.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

/** Where progress goes: a stream that may be a terminal (process.stderr in the CLI). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 20;
const REDRAW_MS = 250;

function elapsedSeconds(run: Run | undefined, watchStartedAt: number): number {
  const created = run?.createdAt ? Date.parse(run.createdAt) : Number.NaN;
  // Doclo's clock, when it is sane; else the time this watch has been running.
  const from = Number.isFinite(created) && created <= Date.now() ? created : watchStartedAt;
  return (Date.now() - from) / 1000;
}

function progressText(run: Run): string {
  const progress = run.progress;
  if (!progress || typeof progress.percentage !== 'number' || !Number.isFinite(progress.percentage)) return '';
  const pct = Math.max(0, Math.min(100, progress.percentage));
  const filled = Math.round((pct / 100) * BAR_WIDTH);
  const step = typeof progress.step === 'string' && progress.step ? ` ${progress.step}` : '';
  return ` [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${pct.toFixed(0)}%${step}`;
}

/** One status line: id, status, elapsed time and, when Doclo reports it, a progress bar. */
export function statusLine(run: Run, watchStartedAt: number): string {
  return `${run.id} ${run.status.padEnd(9)} ${elapsedSeconds(run, watchStartedAt).toFixed(1)}s${progressText(run)}`;
}

/**
 * Follows a run until it is final, showing each change on `out`: on a terminal one line redrawn
 * in place (the elapsed time ticks), otherwise a plain line per change. The first read is REST, so
 * an unknown run, a bad token or an unreachable gateway fail at once; after that the client's
 * socket (with its reconnects and long-poll fallback) carries the changes.
 */
export async function followRun(client: RungateClient, runId: string, out: ProgressStream): Promise<Run> {
  const startedAt = Date.now();
  const first = await client.runs.get(runId);
  const tty = out.isTTY === true;
  let latest: Run = first;
  const draw = () => {
    const line = statusLine(latest, startedAt);
    const width = (out.columns ?? 80) - 1;
    out.write(`\r\x1b[2K${line.length > width ? line.slice(0, width) : line}`);
  };
  const show = (run: Run) => {
    latest = run;
    if (tty) draw();
    else out.write(`${new Date().toISOString()} ${statusLine(run, startedAt)}\n`);
  };
  show(first);
  if (isFinalStatus(first.status)) {
    if (tty) out.write('\n');
    return first;
  }
  const ticker = tty ? setInterval(draw, REDRAW_MS) : undefined;
  try {
    return await new Promise<Run>((resolve, reject) => {
      const unsubscribe = client.runs.subscribe(
        runId,
        (run) => {
          if (run.seq <= latest.seq && run.status === latest.status) return;
          show(run);
          if (isFinalStatus(run.status)) {
            queueMicrotask(() => unsubscribe());
            resolve(run);
          }
        },
        { onError: reject },
      );
    });
  } finally {
    if (ticker) clearInterval(ticker);
    if (tty) out.write('\n');
  }
}

/** A one-line reason for exit 3. */
export function describeFailure(error: unknown): string {
  if (error instanceof DocloError) return `${error.message} (${error.code}${error.statusCode === undefined ? '' : `, HTTP ${error.statusCode}`})`;
  return error instanceof Error ? error.message : String(error);
}

/** `rungate watch <runId>`: follows one run; the exit code tells how it ended. */
export async function watchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { values, positionals } = parseOptions(CLIENT_OPTIONS, argv, process.env, { positionals: 1 });
  const runId = positionals[0];
  if (runId === undefined || runId === '') throw new ConfigError('missing <runId>: rungate watch <runId> [--url URL] [--token T]');
  const client = createClient({ url: values.url, ...(values.token ? { token: values.token } : {}) });
  try {
    const run = await followRun(client, runId, process.stderr);
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return exitCodeFor(run);
  } catch (error) {
    process.stderr.write(`rungate watch: ${describeFailure(error)}\n`);
    return EXIT.error;
  } finally {
    client.close();
  }
}
