#!/usr/bin/env node
import { ConfigError, StoreUnreachableError } from './errors.js';

const USAGE = `Usage: rungate <command> [flags]

Commands:
  serve                     the gateway (npm start)
  simulate                  a standalone simulator of Doclo's runs API
  watch <runId>             follow one run until it ends (exit 0 success, 1 failed, 2 cancelled, 3 error)
  run <flowId> <file>       start a run through the gateway, watch it, print its output

Run 'rungate <command> --help' for the flags of a command.`;

type Command = (argv: string[]) => Promise<number | void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./commands/serve.js')).serveCommand,
  simulate: async () => (await import('./commands/simulate.js')).simulateCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
};

async function main(argv: string[]): Promise<number | void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`rungate: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  const command = await load();
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Servers return nothing and keep the process alive with their sockets; others return a code.
    if (typeof code === 'number') process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`rungate: ${error.message}\n`);
      process.exit(2);
    }
    if (error instanceof StoreUnreachableError) {
      process.stderr.write(`rungate: --store: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`rungate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
