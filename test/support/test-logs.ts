import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pino, type Logger } from 'pino';

/**
 * Logs of what the tests start (in-process gateways, spawned gateways, simulators, CLIs, Redis
 * servers) are kept here instead of being printed, so a passing run shows only the runner's
 * summary. test/setup-quiet.ts prints, for a test that fails, what its sources wrote while it ran.
 * `RUNGATE_TEST_LOGS=1` writes every line to stderr as it comes instead (and vitest.config.ts
 * then shows the tests' own console output too).
 */
export const SHOW_TEST_LOGS = process.env.RUNGATE_TEST_LOGS === '1';

/** Lines kept per source: enough for a failing test's story, bounded for a long suite. */
const KEPT_LINES = 2000;
/** Lines printed per source for a failing test (the latest ones). */
const PRINTED_LINES = 300;

/** One source's lines (a process or a logger), kept for failure reports. */
export class LogCapture {
  private readonly lines: string[] = [];
  /** Lines dropped from the front to stay within KEPT_LINES. */
  private dropped = 0;

  constructor(readonly label: string) {}

  /** How many lines this source has written so far (a mark for `since`). */
  get written(): number {
    return this.dropped + this.lines.length;
  }

  add(line: string): void {
    if (SHOW_TEST_LOGS) process.stderr.write(`[${this.label}] ${line}\n`);
    this.lines.push(line);
    if (this.lines.length > KEPT_LINES) {
      this.lines.shift();
      this.dropped++;
    }
  }

  /** The report of what was written from mark `from` on, or undefined when nothing was. */
  since(from: number): string | undefined {
    const start = Math.max(0, from - this.dropped);
    const lines = this.lines.slice(start);
    if (lines.length === 0) return undefined;
    const shown = lines.slice(-PRINTED_LINES);
    const left = lines.length - shown.length + Math.max(0, this.dropped - from);
    const header = `--- ${this.label}: ${shown.length} line(s)${left > 0 ? `, ${left} earlier one(s) not shown` : ''} ---`;
    return [header, ...shown].join('\n');
  }
}

/** Every capture of the current test file (each file runs in its own module context). */
const captures = new Set<LogCapture>();

/** A new capture, reported with the tests that run while it exists. */
export function captureLogs(label: string): LogCapture {
  const capture = new LogCapture(label);
  captures.add(capture);
  return capture;
}

/** Where each capture stands now: taken when a test starts. */
export function markCaptures(): Map<LogCapture, number> {
  return new Map([...captures].map((capture) => [capture, capture.written]));
}

/** What every capture wrote since `marks` (sources created later: everything), one block each. */
export function reportSince(marks: Map<LogCapture, number>): string[] {
  const blocks: string[] = [];
  for (const capture of captures) {
    const block = capture.since(marks.get(capture) ?? 0);
    if (block !== undefined) blocks.push(block);
  }
  return blocks;
}

/**
 * Keeps the stdout and stderr lines of a spawned process under `label`. Other listeners on
 * those streams (tests that parse the output) see the same data.
 */
export function captureProcess(child: ChildProcess, label: string): LogCapture {
  const capture = captureLogs(`${label} (pid ${child.pid ?? '?'})`);
  for (const [stream, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ] as const) {
    if (stream) createInterface({ input: stream }).on('line', (line) => capture.add(name === 'stderr' ? `stderr: ${line}` : line));
  }
  return capture;
}

/** Numbers the in-process loggers of a file, to tell two gateways of one test apart. */
let loggers = 0;

/**
 * A logger for a gateway or simulator started in-process: its lines go to a capture, never to
 * stdout (the `listening` line is written whatever the level). Warnings and errors are kept by
 * default; with RUNGATE_TEST_LOGS=1, `RUNGATE_TEST_LOG_LEVEL` (default info) and up.
 */
export function testLogger(label: string): Logger {
  const capture = captureLogs(`${label} #${++loggers}`);
  const level = SHOW_TEST_LOGS ? (process.env.RUNGATE_TEST_LOG_LEVEL ?? 'info') : 'warn';
  return pino({ level }, { write: (text: string) => capture.add(text.trimEnd()) });
}
