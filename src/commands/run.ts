import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createClient, DocloError, NetworkError, type Run, type RungateClient } from '@rungate/client';
import { describeOptions, parseOptions, type OptionTable } from '../config/option-parser.js';
import { ConfigError } from '../errors.js';
import { isPlainObject } from '@rungate/client/shared';
import { sniffMimeType } from '../util/sniff-mime.js';
import { EXIT, EXIT_HELP } from './exit-codes.js';
import { abortable, interruptOnSigint } from './interruption.js';
import { CLIENT_OPTIONS, describeFailure, exitCodeFor, followRun } from './watch.js';

/** `--metadata` as the object it must be, parsed once: the value checked is the value sent. */
function metadataOf(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // reported below
  }
  if (!isPlainObject(value)) throw new ConfigError('--metadata: must be a JSON object');
  return value;
}

const RUN_OPTIONS = {
  ...CLIENT_OPTIONS,
  metadata: {
    flag: 'metadata', kind: 'string', to: metadataOf,
    help: 'custom data echoed back with the run, as a JSON object',
  },
  version: { flag: 'version', kind: 'string', help: 'flow version (default: the latest)' },
} satisfies OptionTable;

const HELP = `Usage: rungate run <flowId> <file> [flags]

Starts a run of the flow through the gateway with the document in <file> (PDF, PNG, JPEG, WebP or
TIFF, recognised by its bytes), follows it on stderr and prints its output as JSON on stdout.
Ctrl-C stops following (the run goes on).
${EXIT_HELP}

Flags:
${describeOptions(RUN_OPTIONS)}`;

const START_ATTEMPTS = 3;

/** Starts the run; outages are retried, which the idempotency key makes safe (one run, not two). */
async function startRun(client: RungateClient, flowId: string, options: Parameters<RungateClient['flows']['run']>[1]): Promise<Run> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await client.flows.run(flowId, options);
    } catch (error) {
      const transient = error instanceof NetworkError || (error instanceof DocloError && (error.statusCode ?? 0) >= 500);
      if (!transient || attempt >= START_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
    }
  }
}

/** `rungate run <flowId> <file>`: starts a run with the document, follows it, prints its output. */
export async function runCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { values, positionals } = parseOptions(RUN_OPTIONS, argv, process.env, { positionals: 2 });
  const [flowId, file] = positionals;
  if (flowId === undefined || file === undefined) throw new ConfigError('missing arguments: rungate run <flowId> <file> [flags]');

  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    process.stderr.write(`rungate run: cannot read ${file}: ${(error as Error).message}\n`);
    return EXIT.error;
  }
  const mimeType = sniffMimeType(bytes);
  if (!mimeType) {
    process.stderr.write(`rungate run: ${file} is not a PDF, PNG, JPEG, WebP or TIFF document (judged by its first bytes)\n`);
    return EXIT.error;
  }

  const client = createClient({ url: values.url, ...(values.token ? { token: values.token } : {}) });
  const interruption = interruptOnSigint();
  let runId: string | undefined;
  try {
    const started = await abortable(startRun(client, flowId, {
      input: { document: { base64: bytes.toString('base64'), filename: basename(file), mimeType } },
      idempotencyKey: randomUUID(),
      ...(values.metadata === undefined ? {} : { metadata: values.metadata }),
      ...(values.version === undefined ? {} : { version: values.version }),
    }), interruption.signal);
    runId = started.id;
    process.stderr.write(`started ${started.id} (flow ${flowId}, ${mimeType}, ${bytes.length} bytes)\n`);
    const run = await followRun(client, started.id, process.stderr, interruption.signal);
    if (run.status === 'success') process.stdout.write(`${JSON.stringify(run.output ?? null, null, 2)}\n`);
    else process.stderr.write(`rungate run: run ${run.id} ended ${run.status}\n${JSON.stringify(run, null, 2)}\n`);
    return exitCodeFor(run);
  } catch (error) {
    if (interruption.signal.aborted) {
      const what = runId === undefined ? 'the start may have reached the gateway' : `run ${runId} goes on (rungate watch ${runId} follows it again)`;
      process.stderr.write(`rungate run: interrupted; ${what}\n`);
      return EXIT.interrupted;
    }
    process.stderr.write(`rungate run: ${describeFailure(error)}\n`);
    return EXIT.error;
  } finally {
    interruption.dispose();
    client.close();
  }
}
