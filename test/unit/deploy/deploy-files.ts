import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { flattenOptions } from '../../../src/config/option-parser.js';
import { SERVE_OPTIONS } from '../../../src/config/serve-config.js';

/** The repository's root. */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** `deploy/` and its parts. */
export const DEPLOY = join(ROOT, 'deploy');

/** Every environment variable `rungate serve` reads, from its option table. */
export const SERVE_ENV_NAMES: ReadonlySet<string> = new Set(
  flattenOptions(SERVE_OPTIONS).flatMap((option) => (option.env === undefined ? [] : [option.env])),
);

/** One YAML document; a syntax error or a duplicate key fails the test. */
export function readYaml(path: string): any {
  return parse(readFileSync(path, 'utf8'), { merge: true, uniqueKeys: true, prettyErrors: true });
}

/** Every document of a multi-document YAML file, each checked like readYaml. */
export function readYamlDocuments(path: string): any[] {
  return parseAllDocuments(readFileSync(path, 'utf8'), { merge: true, uniqueKeys: true, prettyErrors: true }).map((document) => {
    const problem = document.errors[0];
    if (problem) throw new Error(`${path}: ${problem.message}`);
    return document.toJS();
  });
}

/** `KEY=value` lines of an env file (comments and blank lines skipped, no quoting rules needed here). */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const at = trimmed.indexOf('=');
    if (at <= 0) throw new Error(`not KEY=value: ${line}`);
    env[trimmed.slice(0, at)] = trimmed.slice(at + 1);
  }
  return env;
}

/** Names a compose value refers to as `${NAME…}` or `$NAME` (not `$$`, which is a literal `$`). */
export function referencedVariables(value: unknown): string[] {
  const names: string[] = [];
  const visit = (item: unknown): void => {
    if (typeof item === 'string') {
      for (const match of item.matchAll(/(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g)) names.push((match[1] ?? match[2])!);
    } else if (Array.isArray(item)) item.forEach(visit);
    else if (item && typeof item === 'object') Object.values(item).forEach(visit);
  };
  visit(value);
  return [...new Set(names)];
}

/**
 * Compose's variable interpolation over a parsed file: `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$VAR` and `$$`. A required variable that
 * is missing throws, as `docker compose` refuses to start.
 */
export function interpolate<T>(value: T, env: Readonly<Record<string, string>>): T {
  const expand = (text: string): string =>
    text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const name = (braced ?? bare)!;
      const current = env[name];
      const unset = current === undefined || (operator?.startsWith(':') === true && current === '');
      if (operator?.endsWith('?') && unset) throw new Error(`${name}: ${argument || 'required'}`);
      if (operator?.endsWith('-') && unset) return argument ?? '';
      return current ?? '';
    });
  const visit = (item: unknown): unknown => {
    if (typeof item === 'string') return expand(item);
    if (Array.isArray(item)) return item.map(visit);
    if (item && typeof item === 'object') return Object.fromEntries(Object.entries(item).map(([key, inner]) => [key, visit(inner)]));
    return item;
  };
  return visit(value) as T;
}

/** `15s`, `1h`, `1m30s`, `75` (seconds) → seconds. */
export function durationSeconds(text: string | number): number {
  if (typeof text === 'number') return text;
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  if (/^\d+$/.test(text)) return Number(text);
  let total = 0;
  const rest = text.replace(/(\d+)(ms|s|m|h)/g, (_whole, amount: string, unit: string) => {
    total += Number(amount) * units[unit]!;
    return '';
  });
  if (rest !== '') throw new Error(`not a duration: ${text}`);
  return total;
}

/** A block of an nginx configuration: its directives (name → each occurrence's arguments) and nested blocks. */
export interface NginxBlock {
  name: string;
  args: string[];
  directives: Array<{ name: string; args: string[] }>;
  blocks: NginxBlock[];
}

/** Parses nginx's configuration syntax (comments, quotes, `;`, `{ }`) into blocks. */
export function parseNginx(text: string): NginxBlock {
  const tokens: string[] = [];
  for (const match of text.matchAll(/#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};#"']+)/g)) {
    if (match[0].startsWith('#')) continue;
    tokens.push(match[1] ?? match[2] ?? match[3] ?? match[4]!);
  }
  const root: NginxBlock = { name: '', args: [], directives: [], blocks: [] };
  const stack = [root];
  let words: string[] = [];
  for (const token of tokens) {
    const current = stack[stack.length - 1]!;
    if (token === ';') {
      if (words.length > 0) current.directives.push({ name: words[0]!, args: words.slice(1) });
      words = [];
    } else if (token === '{') {
      const block: NginxBlock = { name: words[0] ?? '', args: words.slice(1), directives: [], blocks: [] };
      current.blocks.push(block);
      stack.push(block);
      words = [];
    } else if (token === '}') {
      if (words.length > 0 || stack.length === 1) throw new Error('unbalanced nginx block');
      stack.pop();
    } else words.push(token);
  }
  if (stack.length !== 1 || words.length > 0) throw new Error('unterminated nginx configuration');
  return root;
}

/** The arguments of every occurrence of directive `name` in one block (not nested ones). */
export function directive(block: NginxBlock, name: string): string[][] {
  return block.directives.filter((d) => d.name === name).map((d) => d.args);
}
