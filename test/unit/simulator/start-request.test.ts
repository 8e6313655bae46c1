import { describe, expect, it } from 'vitest';
import { RungateError } from '../../../src/errors.js';
import { SUPPORTED_MIME_TYPES } from '../../../src/simulator/document.js';
import { parseStartRequest } from '../../../src/simulator/start-request.js';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const parse = (body: unknown): ReturnType<typeof parseStartRequest> =>
  parseStartRequest('flow_1', Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));

function errorOf(body: unknown): RungateError {
  try {
    parse(body);
  } catch (error) {
    if (error instanceof RungateError) return error;
    throw error;
  }
  throw new Error('expected a RungateError');
}

describe('parseStartRequest', () => {
  it('accepts a minimal body with defaults', () => {
    const request = parse({ input: { document: { base64: b64('%PDF-1.4 hello') } } });
    expect(request.version).toBe('1.0.0');
    expect(request.document).toMatchObject({ mimeType: 'application/pdf', bytes: 14, pageCount: 1 });
    expect(request.document.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(request.waitMs).toBeUndefined();
  });

  it('accepts a data: URL prefix and takes the type from it', () => {
    const request = parse({ input: { document: { base64: `data:image/png;base64,${b64('png-ish')}` } } });
    expect(request.document).toMatchObject({ mimeType: 'image/png', bytes: 7 });
  });

  it('sniffs the type from magic bytes when none is given', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]).toString('base64');
    expect(parse({ input: { document: { base64: png } } }).document.mimeType).toBe('image/png');
  });

  it('counts PDF pages', () => {
    const pdf = '%PDF-1.4 /Type /Pages /Type /Page /Type /Page /Type/Page';
    expect(parse({ input: { document: { base64: b64(pdf) } } }).document.pageCount).toBe(3);
  });

  it('rejects a body that is not JSON with 400 INVALID_INPUT', () => {
    expect(errorOf('{nope')).toMatchObject({ status: 400, code: 'INVALID_INPUT' });
    expect(errorOf('[1]')).toMatchObject({ status: 400, code: 'INVALID_INPUT' });
  });

  it.each([
    [{}, 'input'],
    [{ input: {} }, 'input.document'],
    [{ input: { document: {} } }, 'input.document.base64'],
  ])('rejects %j with 422 MISSING_REQUIRED_FIELD naming %s', (body, field) => {
    const error = errorOf(body);
    expect(error).toMatchObject({ status: 422, code: 'MISSING_REQUIRED_FIELD' });
    expect(error.details).toEqual({ field, reason: 'Required' });
  });

  it('rejects a wrongly typed field with 422 VALIDATION_ERROR', () => {
    expect(errorOf({ input: { document: { base64: 5 } } })).toMatchObject({
      status: 422,
      code: 'VALIDATION_ERROR',
      details: { field: 'input.document.base64', reason: 'Must be a string' },
    });
    expect(errorOf({ input: { document: { base64: b64('x') } }, webhookUrl: 'ftp://x' }).details).toMatchObject({ field: 'webhookUrl' });
    expect(errorOf({ input: { document: { base64: b64('x') } }, wait: 'yes' }).details).toMatchObject({ field: 'wait' });
    expect(errorOf({ input: { document: { base64: b64('x') } }, timeout: -1 }).details).toMatchObject({ field: 'timeout' });
    expect(errorOf({ input: { document: { base64: b64('x') } }, metadata: [] }).details).toMatchObject({ field: 'metadata' });
  });

  it.each(['not base64!', 'abcde', 'ab=c'])('rejects invalid base64 %j', (base64) => {
    expect(errorOf({ input: { document: { base64 } } })).toMatchObject({
      status: 422,
      code: 'VALIDATION_ERROR',
      details: { field: 'input.document.base64', reason: 'Invalid base64 encoding' },
    });
  });

  it('rejects an unsupported type with INVALID_DOCUMENT and the supported list', () => {
    const error = errorOf({ input: { document: { base64: b64('<svg/>'), mimeType: 'image/svg+xml' } } });
    expect(error).toMatchObject({ status: 422, code: 'INVALID_DOCUMENT' });
    expect(error.details).toMatchObject({ field: 'input.document.mimeType', supported: SUPPORTED_MIME_TYPES });
  });

  it('caps wait timeouts at 60 s and defaults them to 30 s', () => {
    const doc = { input: { document: { base64: b64('x') } } };
    expect(parse({ ...doc, wait: true }).waitMs).toBe(30_000);
    expect(parse({ ...doc, wait: true, timeout: 120_000 }).waitMs).toBe(60_000);
    expect(parse({ ...doc, wait: true, timeout: 250 }).waitMs).toBe(250);
    expect(parse({ ...doc, wait: false, timeout: 250 }).waitMs).toBeUndefined();
  });

  it('fingerprints the content: key order, wait and timeout do not matter; flow and body do', () => {
    const a = parseStartRequest('f', Buffer.from(JSON.stringify({ input: { document: { base64: b64('x') } }, metadata: { a: 1, b: 2 } })));
    const b = parseStartRequest('f', Buffer.from(JSON.stringify({ metadata: { b: 2, a: 1 }, wait: true, input: { document: { base64: b64('x') } } })));
    const otherFlow = parseStartRequest('g', Buffer.from(JSON.stringify({ input: { document: { base64: b64('x') } }, metadata: { a: 1, b: 2 } })));
    const otherDoc = parseStartRequest('f', Buffer.from(JSON.stringify({ input: { document: { base64: b64('y') } }, metadata: { a: 1, b: 2 } })));
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(otherFlow.fingerprint);
    expect(a.fingerprint).not.toBe(otherDoc.fingerprint);
  });
});
