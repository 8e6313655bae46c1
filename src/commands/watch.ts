import { createClient, DocloError, isFinalStatus, type Run, type RungateClient } from '@rungate/client';
import { describeOptions, isHttpUrl, parseOptions, type OptionTable } from '../config/option-parser.js';
import { ConfigError } from '../errors.js';
import { EXIT, EXIT_HELP } from './exit-codes.js';
import { abortable, interruptOnSigint } from './interruption.js';

/** The flags `rungate watch` and `rungate run` share: where the gateway is and how to get in. */
export const CLIENT_OPTIONS = {
  url: { flag: 'url', env: 'RUNGATE_URL', kind: 'string', default: 'http://127.0.0.1:8080', check: isHttpUrl, help: "the gateway's base URL" },
  token: { flag: 'token', env: 'RUNGATE_TOKEN', kind: 'string', help: 'a JWT, for gateways started with --jwt-secret' },
} satisfies OptionTable;

const HELP = `Usage: rungate watch <runId> [flags]

Follows one run until it ends: a live line on a terminal (plain lines otherwise) on stderr, the
final run as JSON on stdout. Ctrl-C stops following (the run goes on).
${EXIT_HELP}

Flags:
${describeOptions(CLIENT_OPTIONS)}`;

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

/**
 * How long a finished run took: Doclo's `duration` (ms), else from `createdAt` to `completedAt`
 * (`cancelledAt` for a cancelled run, which Doclo gives instead); undefined when neither is
 * known. The time since creation would keep growing after the end.
 */
export function durationSeconds(run: Run): number | undefined {
  if (typeof run.duration === 'number' && Number.isFinite(run.duration) && run.duration >= 0) return run.duration / 1000;
  const created = run.createdAt ? Date.parse(run.createdAt) : Number.NaN;
  const endedAt = run.completedAt ?? run.cancelledAt;
  const ended = endedAt ? Date.parse(endedAt) : Number.NaN;
  return ended >= created ? (ended - created) / 1000 : undefined;
}

function progressText(run: Run): string {
  const progress = run.progress;
  if (!progress || typeof progress.percentage !== 'number' || !Number.isFinite(progress.percentage)) return '';
  const pct = Math.max(0, Math.min(100, progress.percentage));
  const filled = Math.round((pct / 100) * BAR_WIDTH);
  const step = typeof progress.step === 'string' && progress.step ? ` ${progress.step}` : '';
  return ` [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${pct.toFixed(0)}%${step}`;
}

/**
 * One status line: id, status, time and, when Doclo reports it, a progress bar. The time is the
 * elapsed time while the run goes on, and its duration once it is final (when known).
 */
export function statusLine(run: Run, watchStartedAt: number): string {
  const seconds = (isFinalStatus(run.status) ? durationSeconds(run) : undefined) ?? elapsedSeconds(run, watchStartedAt);
  return `${run.id} ${run.status.padEnd(9)} ${seconds.toFixed(1)}s${progressText(run)}`;
}

/**
 * Follows a run until it is final, showing each change on `out`: on a terminal one line redrawn
 * in place (the elapsed time ticks), otherwise a plain line per change. The first read is REST, so
 * an unknown run, a bad token or an unreachable gateway fail at once; after that the client's
 * socket (with its reconnects and long-poll fallback) carries the changes. When `signal` aborts
 * (Ctrl-C) it rejects with the signal's reason, the line redrawn clean: the terminal echoed `^C`
 * onto it.
 */
export async function followRun(client: RungateClient, runId: string, out: ProgressStream, signal?: AbortSignal): Promise<Run> {
  const startedAt = Date.now();
  const first = await abortable(client.runs.get(runId), signal);
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
  let unsubscribe: (() => void) | undefined;
  try {
    const followed = new Promise<Run>((resolve, reject) => {
      const stop = client.runs.subscribe(
        runId,
        (run) => {
          if (run.seq <= latest.seq && run.status === latest.status) return;
          show(run);
          if (isFinalStatus(run.status)) {
            queueMicrotask(() => stop());
            resolve(run);
          }
        },
        { onError: reject },
      );
      unsubscribe = stop;
    });
    return await abortable(followed, signal);
  } finally {
    if (ticker) clearInterval(ticker);
    if (signal?.aborted) unsubscribe?.();
    // Drawn once more before the newline: whatever the terminal echoed onto the line goes.
    if (tty) {
      draw();
      out.write('\n');
    }
  }
}

/** A one-line reason for exit 3 (a NetworkError's message names the gateway's URL and why). */
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
  const interruption = interruptOnSigint();
  try {
    const run = await followRun(client, runId, process.stderr, interruption.signal);
    process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    return exitCodeFor(run);
  } catch (error) {
    if (interruption.signal.aborted) {
      process.stderr.write(`rungate watch: interrupted; run ${runId} goes on (rungate watch ${runId} follows it again)\n`);
      return EXIT.interrupted;
    }
    process.stderr.write(`rungate watch: ${describeFailure(error)}\n`);
    return EXIT.error;
  } finally {
    interruption.dispose();
    client.close();
  }
}
