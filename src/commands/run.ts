import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createClient, DocloError, NetworkError, type Run, type RungateClient } from '@rungate/client';
import { ConfigError, describeOptions, parseOptions, type OptionTable } from '../config/option-parser.js';
import { CLIENT_OPTIONS, EXIT, describeFailure, exitCodeFor, followRun } from './watch.js';

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

const RUN_OPTIONS = {
  ...CLIENT_OPTIONS,
  metadata: {
    flag: 'metadata', kind: 'string', check: (v: string) => (isJsonObject(v) ? undefined : 'must be a JSON object'),
    help: 'custom data echoed back with the run, as a JSON object',
  },
  version: { flag: 'version', kind: 'string', help: 'flow version (default: the latest)' },
} satisfies OptionTable;

const HELP = `Usage: rungate run <flowId> <file> [flags]

Starts a run of the flow through the gateway with the document in <file> (PDF, PNG, JPEG, WebP or
TIFF, recognised by its bytes), follows it on stderr and prints its output as JSON on stdout.
Exit 0 success, 1 failed, 2 cancelled, 3 error.

Flags:
${describeOptions(RUN_OPTIONS)}`;

/** The document types Doclo takes, by their leading bytes; undefined for anything else. */
export function detectMimeType(bytes: Uint8Array): string | undefined {
  const at = (offset: number, ...expected: number[]) => expected.every((byte, i) => bytes[offset + i] === byte);
  if (at(0, 0x25, 0x50, 0x44, 0x46)) return 'application/pdf'; // %PDF
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp'; // RIFF....WEBP
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'image/tiff'; // II*\0, MM\0*
  return undefined;
}

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
  const mimeType = detectMimeType(bytes);
  if (!mimeType) {
    process.stderr.write(`rungate run: ${file} is not a PDF, PNG, JPEG, WebP or TIFF document (judged by its first bytes)\n`);
    return EXIT.error;
  }

  const client = createClient({ url: values.url, ...(values.token ? { token: values.token } : {}) });
  try {
    const started = await startRun(client, flowId, {
      input: { document: { base64: bytes.toString('base64'), filename: basename(file), mimeType } },
      idempotencyKey: randomUUID(),
      ...(values.metadata === undefined ? {} : { metadata: JSON.parse(values.metadata) as Record<string, unknown> }),
      ...(values.version === undefined ? {} : { version: values.version }),
    });
    process.stderr.write(`started ${started.id} (flow ${flowId}, ${mimeType}, ${bytes.length} bytes)\n`);
    const run = await followRun(client, started.id, process.stderr);
    if (run.status === 'success') process.stdout.write(`${JSON.stringify(run.output ?? null, null, 2)}\n`);
    else process.stderr.write(`rungate run: run ${run.id} ended ${run.status}\n${JSON.stringify(run, null, 2)}\n`);
    return exitCodeFor(run);
  } catch (error) {
    process.stderr.write(`rungate run: ${describeFailure(error)}\n`);
    return EXIT.error;
  } finally {
    client.close();
  }
}
