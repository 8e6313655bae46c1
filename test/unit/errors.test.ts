import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, RungateError, WS_ERROR_CATALOGUE, type ErrorCode, type ErrorSpec } from '../../src/errors.js';

const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'errors.md'), 'utf8');

/** The rows of the markdown table under `heading`: first cell's code → the other cells. */
function tableRows(heading: string): Map<string, string[]> {
  const section = doc.split(/^## /m).find((part) => part.startsWith(heading));
  if (!section) throw new Error(`docs/errors.md has no section ${heading}`);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const match = /^\| `([^`]+)` \|(.*)\|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.split('|').map((cell) => cell.trim()));
  }
  return rows;
}

describe('the error catalogue and docs/errors.md', () => {
  it('lists every code of the catalogue with its status and class, and no other', () => {
    const rows = tableRows('HTTP and internal codes');
    const catalogue = ERROR_CATALOGUE as Record<string, ErrorSpec>;
    expect([...rows.keys()].sort()).toEqual(Object.keys(catalogue).sort());
    for (const [code, spec] of Object.entries(catalogue)) {
      const [status, origin, className] = rows.get(code)!;
      expect(status, code).toBe(spec.status === undefined ? '—' : String(spec.status));
      expect(origin, code).toBe(spec.origin);
      expect(className, code).toBe(`\`${spec.className ?? 'RungateError'}\``);
    }
  });

  it('lists every WebSocket error code, and no other', () => {
    expect([...tableRows('WebSocket error frames').keys()].sort()).toEqual(Object.keys(WS_ERROR_CATALOGUE).sort());
  });

  it('gives each code its status and the envelope Doclo uses', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
      const error = new RungateError(code, { details: { field: 'x' } });
      const spec: ErrorSpec = ERROR_CATALOGUE[code];
      expect(error.status).toBe(spec.status ?? 500);
      expect(error.answerable).toBe(spec.status !== undefined);
      expect(error.toEnvelope()).toEqual({ error: { code, message: spec.message, details: { field: 'x' } } });
    }
  });

  it('passes an upstream answer on with its own status and code', () => {
    const error = RungateError.passThrough(402, 'INSUFFICIENT_CREDITS', 'No credits left', { balance: 0 });
    expect(error).toMatchObject({ status: 402, code: 'INSUFFICIENT_CREDITS', answerable: true });
    expect(error.toEnvelope()).toEqual({ error: { code: 'INSUFFICIENT_CREDITS', message: 'No credits left', details: { balance: 0 } } });
  });

  it('is where error classes live: elsewhere in src/ only UpstreamError and ProtocolError extend Error', () => {
    // UpstreamError carries Doclo's codes as they came; ProtocolError is a WebSocket frame's
    // bad_request. Every other error is a RungateError with a catalogue code.
    const allowed = new Set(['src/upstream/upstream-error.ts:UpstreamError', 'src/push/client-message.ts:ProtocolError']);
    const found: string[] = [];
    const root = join(import.meta.dirname, '..', '..');
    const walk = (dir: string): void => {
      for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory()) walk(path);
        else if (path.endsWith('.ts') && path !== 'src/errors.ts') {
          for (const match of readFileSync(join(root, path), 'utf8').matchAll(/class (\w+) extends (?:Error|TypeError|RangeError)\b/g)) found.push(`${path}:${match[1]}`);
        }
      }
    };
    walk('src');
    expect(found.filter((entry) => !allowed.has(entry) && !entry.startsWith('src/client/'))).toEqual([]);
  });
});
