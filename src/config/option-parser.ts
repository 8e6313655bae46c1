import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';

type OptionKind = 'string' | 'boolean' | 'int' | 'number' | 'bytes' | 'list';

/** One flag: its environment variable, its kind, its default and an optional check. */
export interface OptionSpec<K extends OptionKind> {
  flag: string;
  env?: string;
  kind: K;
  /** Without one the value is undefined when unset; a list is then empty. */
  default?: ValueOf<K>;
  /** Returns an error message when the value is not acceptable. */
  check?: (value: ValueOf<K>) => string | undefined;
  /**
   * Turns the checked value into the config's (another unit, a normal form, a parsed document);
   * not called when unset. One that cannot convert throws ConfigError naming the flag.
   */
  to?: (value: ValueOf<K>) => unknown;
  help: string;
}

type ValueOf<K extends OptionKind> = K extends 'boolean'
  ? boolean
  : K extends 'string'
    ? string
    : K extends 'list'
      ? string[]
      : number;

/** Any one option: a union, so that each spec's `check` sees its own kind's value. */
export type AnyOptionSpec = { [K in OptionKind]: OptionSpec<K> }[OptionKind];

/** How messages name an option, by its flag: `--flag`, or `VARIABLE (--flag)` when the environment set it. */
export type OptionNamer = (flag: string) => string;

/**
 * Options that become one config value together, made by `combine` from their own values; a
 * problem it finds throws ConfigError naming the option with `nameOf`.
 */
export interface OptionGroup<T extends OptionTree, R> {
  options: T;
  combine: (values: ConfigOf<T>, nameOf: OptionNamer) => R;
}

/** Any group, whatever it combines (`never`: a tree need not know what each group takes). */
interface AnyOptionGroup {
  options: OptionTree;
  combine: (values: never, nameOf: OptionNamer) => unknown;
}

/**
 * A command's options laid out as its config: each key is the config's field, each leaf a flag;
 * a nested table is a section of the config (`poll.graceMs`), a group one value made of several.
 */
export interface OptionTree {
  readonly [key: string]: AnyOptionSpec | OptionTree | AnyOptionGroup;
}

/** A flat table of options (no sections or groups): what watch, run and simulate take. */
export type OptionTable = Record<string, AnyOptionSpec>;

type LeafValue<S> = S extends { to: (value: never) => infer R }
  ? R
  : S extends OptionSpec<infer K>
    ? ValueOf<K> extends string[]
      ? readonly string[]
      : ValueOf<K>
    : never;

/** The config a tree describes: an option with a default (or a list) is always set, another may be undefined. */
export type ConfigOf<T extends OptionTree> = {
  readonly [P in keyof T]: T[P] extends AnyOptionSpec
    ? T[P] extends { default: unknown } | { kind: 'list' }
      ? LeafValue<T[P]>
      : LeafValue<T[P]> | undefined
    : T[P] extends { combine: (values: never, nameOf: never) => infer R }
      ? R
      : T[P] extends OptionTree
        ? ConfigOf<T[P]>
        : never;
};

/** Declares a group, so that `combine` is typed by the options it combines. */
export function group<T extends OptionTree, R>(options: T, combine: (values: ConfigOf<T>, nameOf: OptionNamer) => R): OptionGroup<T, R> {
  return { options, combine };
}

type OptionNode = OptionTree[string];

function isSpec(node: OptionNode): node is AnyOptionSpec {
  return 'flag' in node && typeof node.flag === 'string';
}

function isGroup(node: OptionNode): node is AnyOptionGroup {
  return 'combine' in node && typeof node.combine === 'function';
}

/** Every flag of a tree, in the order it is written (the order of --help). */
export function flattenOptions(tree: OptionTree): AnyOptionSpec[] {
  return Object.values(tree).flatMap((node) => (isSpec(node) ? [node] : flattenOptions(isGroup(node) ? node.options : node)));
}

const BYTE_UNITS: ReadonlyMap<string, number> = new Map([['', 1], ['b', 1], ['kb', 1024], ['kib', 1024], ['mb', 1024 ** 2], ['mib', 1024 ** 2], ['gb', 1024 ** 3], ['gib', 1024 ** 3]]);

/** Parses "16mb", "512KiB" or "1048576" into bytes. */
export function parseBytes(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = BYTE_UNITS.get((match[2] ?? '').toLowerCase());
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isFinite(bytes) ? bytes : undefined;
}

function convert(spec: AnyOptionSpec, raw: string | boolean, origin: string): unknown {
  const name = `${origin} (${typeof raw === 'boolean' ? raw : JSON.stringify(raw)})`;
  switch (spec.kind) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const text = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(text)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(text)) return false;
      throw new ConfigError(`${name}: expected true or false`);
    }
    case 'string':
      return String(raw);
    case 'list':
      return String(raw)
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
    case 'int': {
      const text = String(raw).trim();
      if (!/^-?\d+$/.test(text)) throw new ConfigError(`${name}: expected an integer`);
      return Number(text);
    }
    case 'number': {
      const text = String(raw).trim();
      const value = Number(text);
      if (text === '' || !Number.isFinite(value)) throw new ConfigError(`${name}: expected a number`);
      return value;
    }
    case 'bytes': {
      const value = parseBytes(String(raw));
      if (value === undefined) throw new ConfigError(`${name}: expected a size such as 16mb or 1048576`);
      return value;
    }
  }
}

/**
 * Flags over environment over defaults, laid out as the tree says. Unknown flags, stray
 * positionals (unless allowed) and values that fail a check throw ConfigError naming the flag,
 * and the variable when the value came from the environment (`RUNGATE_PORT (--port): …`);
 * `nameOf` names an option the same way for checks made later.
 */
export function parseOptions<T extends OptionTree>(
  tree: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  options: { positionals?: number } = {},
): { values: ConfigOf<T>; positionals: string[]; nameOf: OptionNamer } {
  const parseSpec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  const specs = flattenOptions(tree);
  for (const spec of specs) {
    if (parseSpec[spec.flag]) throw new Error(`--${spec.flag} is declared twice`);
    // A list flag may be given several times; its values join the comma-separated ones.
    parseSpec[spec.flag] = spec.kind === 'list' ? { type: 'string', multiple: true } : { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: withNegativeValues(argv, parseSpec), options: parseSpec, strict: true, allowPositionals: true });
  } catch (error) {
    throw new ConfigError(plainParseError((error as Error).message));
  }
  const allowed = options.positionals ?? 0;
  if (parsed.positionals.length > allowed) {
    throw new ConfigError(`unexpected argument '${parsed.positionals[allowed]}'`);
  }
  /** How a message names the option: the variable too when the value came from the environment. */
  const nameOfSpec = (spec: AnyOptionSpec): string =>
    parsed.values[spec.flag] === undefined && spec.env !== undefined && (env[spec.env] ?? '') !== '' ? `${spec.env} (--${spec.flag})` : `--${spec.flag}`;
  const nameOf: OptionNamer = (flag) => {
    const spec = specs.find((each) => each.flag === flag);
    if (!spec) throw new Error(`--${flag} is not an option of this command`);
    return nameOfSpec(spec);
  };
  const read = (spec: AnyOptionSpec): unknown => {
    const given = parsed.values[spec.flag] as string | boolean | string[] | undefined;
    const fromFlag = Array.isArray(given) ? given.join(',') : given;
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    // A copy, so that freezing a config never freezes the table's default.
    let value: unknown = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    if (fromFlag !== undefined) value = convert(spec, fromFlag, nameOfSpec(spec));
    else if (fromEnv !== undefined && fromEnv !== '') value = convert(spec, fromEnv, nameOfSpec(spec));
    else if (value === undefined && spec.kind === 'list') value = [];
    checkValue(spec, value, nameOfSpec(spec));
    return value === undefined || !spec.to ? value : (spec.to as (v: unknown) => unknown)(value);
  };
  const build = (node: OptionTree): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(node).map(([key, child]) => [
        key,
        isSpec(child) ? read(child) : isGroup(child) ? child.combine(build(child.options) as never, nameOf) : build(child),
      ]),
    );
  return { values: build(tree) as ConfigOf<T>, positionals: parsed.positionals, nameOf };
}

/** A value that reads as a negative number (`-1`, `-0.5`), not as a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--flag -1` as `--flag=-1`: parseArgs takes any argument that starts with a dash for another
 * flag and calls the pair ambiguous, yet a negative number after a flag that takes a value can
 * only be that value, which the option's check then judges with a plain message.
 */
function withNegativeValues(argv: readonly string[], parseSpec: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--') && !arg.includes('=') && parseSpec[arg.slice(2)]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      args.push(`${arg}=${next}`);
      i++;
    } else {
      args.push(arg);
    }
  }
  return args;
}

/** parseArgs' explanations, which speak of its own syntax, as one plain line naming the flag. */
function plainParseError(message: string): string {
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]} (see --help)`;
  const missing = /Option '(--[^' ]+)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1]}: needs a value`;
  const ambiguous = /Option '(--[^' ]+)' argument is ambiguous/.exec(message);
  if (ambiguous) return `${ambiguous[1]}: needs a value (to give one that starts with '-', write ${ambiguous[1]}=VALUE)`;
  const switchValue = /Option '(--[^' ]+)' does not take an argument/.exec(message);
  if (switchValue) return `${switchValue[1]}: is a switch and takes no value (give it or leave it out)`;
  return message.split('\n')[0] ?? message;
}

/** Runs a spec's check on a value (skipped when undefined); a problem throws ConfigError naming `name`. */
export function checkValue(spec: AnyOptionSpec, value: unknown, name: string): void {
  if (value === undefined || !spec.check) return;
  const problem = (spec.check as (v: unknown) => string | undefined)(value);
  if (problem) throw new ConfigError(`${name}: ${problem}`);
}

/** Renders the tree's flags as help text. */
export function describeOptions(tree: OptionTree): string {
  return flattenOptions(tree)
    .map((spec) => {
      const env = spec.env ? ` [${spec.env}]` : '';
      const def = spec.default === undefined ? '' : ` (default ${JSON.stringify(spec.default)})`;
      return `  --${spec.flag}${env}\n      ${spec.help}${def}`;
    })
    .join('\n');
}

// Reusable checks.
export const atLeast = (min: number) => (value: number) => (value < min ? `must be at least ${min}` : undefined);
export const between = (min: number, max: number) => (value: number) =>
  value < min || value > max ? `must be between ${min} and ${max}` : undefined;
/** 0 (off, or "let the runtime choose"), or a value in range. */
export const zeroOrBetween = (min: number, max: number) => (value: number) =>
  value !== 0 && (value < min || value > max) ? `must be 0 or between ${min} and ${max}` : undefined;
export const isPort = between(0, 65535);
export const isRate = between(0, 1);
export function isHttpUrl(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
}
