import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { inject } from 'vitest';
import { captureProcess } from './test-logs.js';

/** How a spawned CLI ended. */
export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A `node <build>/cli.js …` on its way: its outcome, and its output so far. */
export interface RunningCli {
  child: ChildProcess;
  done: Promise<Outcome>;
  stdout(): string;
  stderr(): string;
}

/** The built CLI (test/global-setup.ts builds src/ once per run). */
export function cliPath(): string {
  return join(inject('rungateBuildDir'), 'cli.js');
}

/** Environment for a spawned CLI: the client variables cleared, so the host's own never leak in. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, RUNGATE_URL: '', RUNGATE_TOKEN: '', RUNGATE_JWT_SECRET: '', RUNGATE_STORE: '', ...env };
}

/** Starts `node <build>/cli.js …`; its output is kept for the report of a failing test only. */
export function startCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv(env) });
  return follow(child, `rungate ${args[0] ?? ''}`);
}

/** Runs `node <build>/cli.js …` to its end. */
export function cli(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return startCli(args, env).done;
}

/** A shell word that stays one word, whatever it holds. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts the CLI on a pseudo-terminal, as a person at a terminal runs it: util-linux `script`
 * gives it one for stdin, stdout and stderr (all three land in `stdout()` here, with the
 * terminal's own echo, `^C` included). Writing `\x03` to `child.stdin` is pressing Ctrl-C: the
 * terminal sends SIGINT to the CLI. `done` resolves with the CLI's own exit status (`script -e`).
 */
export function startInTerminal(args: string[], env: Record<string, string> = {}): RunningCli {
  // A wide terminal (the status line is cut at its width), and exec: Ctrl-C goes to the whole
  // foreground group, and a shell left in between would die of it and make the status 130.
  const command = `stty cols 200 rows 50; exec ${[process.execPath, cliPath(), ...args].map(shellQuote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: cliEnv({ SHELL: '/bin/sh', ...env }) });
  return follow(child, `rungate ${args[0] ?? ''} (terminal)`);
}

function follow(child: ChildProcess, label: string): RunningCli {
  captureProcess(child, label);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    child,
    done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))),
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

const ESC = '\u001b';
/** A control sequence: ESC [ digits letter. */
const CSI = new RegExp(`^${ESC}\\[(\\d*)([A-Za-z])`);

/**
 * What a terminal shows for `text`, line by line: `\r` returns to the line's start, `ESC[2K`
 * clears it, `\n` ends it (enough for the CLI's status line; other escapes are dropped).
 */
export function screenLines(text: string): string[] {
  const lines: string[] = [];
  let line = '';
  let column = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === ESC) {
      const match = CSI.exec(text.slice(i));
      if (match?.[2] === 'K' && match[1] === '2') line = '';
      i += (match?.[0].length ?? 1) - 1;
    } else if (char === '\r') {
      column = 0;
    } else if (char === '\n') {
      lines.push(line);
      line = '';
      column = 0;
    } else {
      line = line.slice(0, column) + char + line.slice(column + 1);
      column++;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
