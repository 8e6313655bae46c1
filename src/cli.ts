#!/usr/bin/env node
import { EXIT } from './commands/exit-codes.js';
import { ConfigError, StoreUnreachableError } from './errors.js';
import { packageVersion } from './version.js';

const USAGE = `Usage: rungate <command> [flags]

Commands:
  serve                     the gateway (npm start)
  simulate                  a standalone simulator of Doclo's runs API
  watch <runId>             follow one run until it ends
  run <flowId> <file>       start a run through the gateway, watch it, print its output
  token --sub OWNER         print a JWT for a gateway started with --jwt-secret

watch and run exit 0 success, 1 failed, 2 cancelled, 3 error, 64 usage error, 130 Ctrl-C.
rungate --version (-v) prints the version. Run 'rungate <command> --help' for a command's flags.`;

type Command = (argv: string[]) => Promise<number | void>;

/** A command, loaded when named, and the exit code of its usage errors. */
interface CommandEntry {
  load: () => Promise<Command>;
  /** Servers keep 2 for a bad flag (contract section 1); the client commands exit 64, since 2 means "cancelled". */
  usageExit: number;
}

const SERVER_USAGE_EXIT = 2;

const COMMANDS: Record<string, CommandEntry> = {
  serve: { load: async () => (await import('./commands/serve.js')).serveCommand, usageExit: SERVER_USAGE_EXIT },
  simulate: { load: async () => (await import('./commands/simulate.js')).simulateCommand, usageExit: SERVER_USAGE_EXIT },
  watch: { load: async () => (await import('./commands/watch.js')).watchCommand, usageExit: EXIT.usage },
  run: { load: async () => (await import('./commands/run.js')).runCommand, usageExit: EXIT.usage },
  token: { load: async () => (await import('./commands/token.js')).tokenCommand, usageExit: EXIT.usage },
};

async function main(argv: string[], command: CommandEntry | undefined): Promise<number | void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`rungate ${packageVersion()}\n`);
    return 0;
  }
  if (!command) {
    process.stderr.write(`rungate: unknown command '${name}'\n\n${USAGE}\n`);
    return 2;
  }
  return (await command.load())(rest);
}

const argv = process.argv.slice(2);
// Own entries only: `rungate constructor` is an unknown command, not Object's constructor.
const command = argv[0] === undefined || !Object.hasOwn(COMMANDS, argv[0]) ? undefined : COMMANDS[argv[0]];
main(argv, command).then(
  (code) => {
    // Servers return nothing and keep the process alive with their sockets; others return a code.
    if (typeof code !== 'number') return;
    process.exitCode = code;
    // Interrupted: nothing left is worth waiting for (a start may still be in flight).
    if (code === EXIT.interrupted) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`rungate: ${error.message}\n`);
      process.exit(command?.usageExit ?? SERVER_USAGE_EXIT);
    }
    // Not a bug of ours but of the surroundings: one line says which store and why.
    if (error instanceof StoreUnreachableError) {
      process.stderr.write(`rungate: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`rungate: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
