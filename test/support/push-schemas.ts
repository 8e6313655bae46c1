import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The JSON Schemas of the push protocol, as README links them. */
export const SCHEMA_DIR = join(import.meta.dirname, '..', '..', 'docs', 'schema');

// ajv-formats is CommonJS; its plugin is both the module and its `default`.
const addFormats = addFormatsModule.default;

/** Compiles docs/schema once: strict (a typo in the schema is an error), formats checked. */
function compile(): { run: ValidateFunction; client: ValidateFunction; server: ValidateFunction; ajv: Ajv2020 } {
  // strictRequired would refuse `oneOf: [{required: [runId]}, …]`, the schemas' way of saying
  // "exactly one of runId, runIds, flowId" (the properties are defined beside it, not inside).
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
  addFormats(ajv);
  for (const file of ['run.schema.json', 'ws-client-message.schema.json', 'ws-server-message.schema.json']) {
    ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')));
  }
  const get = (id: string) => {
    const validate = ajv.getSchema(id);
    if (!validate) throw new Error(`schema ${id} did not compile`);
    return validate;
  };
  return { run: get('run.schema.json'), client: get('ws-client-message.schema.json'), server: get('ws-server-message.schema.json'), ajv };
}

const compiled = compile();

/** Validators of a run object, a client → gateway frame and a gateway → client frame. */
export const pushSchemas = { run: compiled.run, client: compiled.client, server: compiled.server };

/** Why `value` fails `validate`, or undefined when it conforms. */
export function schemaProblem(validate: ValidateFunction, value: unknown): string | undefined {
  return validate(value) ? undefined : compiled.ajv.errorsText(validate.errors);
}

/**
 * Why a frame fails its schema, or undefined when it conforms. The whole `oneOf` decides; when
 * it fails, the branch the frame's own `type` or `op` names explains why, which reads far better
 * than every branch's complaints at once.
 */
function frameProblem(whole: ValidateFunction, schemaId: string, discriminator: 'type' | 'op', frame: unknown): string | undefined {
  const problem = schemaProblem(whole, frame);
  if (problem === undefined) return undefined;
  const kind = frame && typeof frame === 'object' ? (frame as Record<string, unknown>)[discriminator] : undefined;
  const branch = typeof kind === 'string' && /^[a-z]+$/.test(kind) ? compiled.ajv.getSchema(`${schemaId}#/$defs/${kind}`) : undefined;
  return (branch && schemaProblem(branch, frame)) ?? problem;
}

/** Why a gateway → client frame fails ws-server-message.schema.json, or undefined. */
export function serverFrameProblem(frame: unknown): string | undefined {
  return frameProblem(compiled.server, 'ws-server-message.schema.json', 'type', frame);
}

/** Why a client → gateway frame fails ws-client-message.schema.json, or undefined. */
export function clientFrameProblem(frame: unknown): string | undefined {
  return frameProblem(compiled.client, 'ws-client-message.schema.json', 'op', frame);
}
