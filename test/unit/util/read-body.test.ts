import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ByteBudget } from '../../../src/util/byte-budget.js';
import { readHeldBody } from '../../../src/util/read-body.js';
import { nestsDeeperThan } from '../../../src/util/json-depth.js';
import { runIdCandidates } from '../../../src/webhooks/webhook-route.js';
import { RungateError } from '../../../src/errors.js';

/** A server that reads each body with readHeldBody and answers what came of it. */
describe('readHeldBody (property-based over content encodings)', () => {
  const budget = new ByteBudget(1024 * 1024);
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      readHeldBody(req, { limitBytes: 4096, decode: true, budget }).then(
        (held) => {
          res.end(JSON.stringify({ status: 200, length: held.body.length, sha: held.body.toString('base64') }));
          held.release();
        },
        (error: unknown) => res.end(JSON.stringify({ status: error instanceof RungateError ? error.status : 500 })),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const encoders: Record<string, (data: Buffer) => Buffer> = { gzip: gzipSync, 'x-gzip': gzipSync, deflate: deflateSync, br: brotliCompressSync, identity: (d) => d, '': (d) => d };

  it('gives back exactly what was encoded, refuses past the decoded limit, and never fails with 500; the budget is all given back', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 9000 }),
        fc.constantFrom(...Object.keys(encoders), 'compress', 'gzip, br', 'zstd'),
        fc.constantFrom('valid', 'truncated', 'garbage'),
        async (bytes, encoding, shape) => {
          const data = Buffer.from(bytes);
          const encode = encoders[encoding];
          let body = encode ? encode(data) : data;
          if (shape === 'truncated' && body.length > 4) body = body.subarray(0, Math.floor(body.length / 2));
          if (shape === 'garbage') body = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0xff, 0x00]), body]);
          const answer = (await (await fetch(url, { method: 'POST', headers: encoding === '' ? {} : { 'content-encoding': encoding }, body: new Uint8Array(body) })).json()) as { status: number; length?: number; sha?: string };
          expect([200, 400, 413, 415]).toContain(answer.status);
          if (!encode) expect(answer.status).toBe(415);
          else if (shape === 'valid') {
            if (data.length > 4096) expect(answer.status).toBe(413);
            else expect(answer).toEqual({ status: 200, length: data.length, sha: data.toString('base64') });
          }
          expect(budget.inUse).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('unverified webhook bodies and deep JSON', () => {
  it('looks for run ids only in the first 4 KiB, and tries at most three', () => {
    expect(runIdCandidates(Buffer.from('{"event":"x","data":{"id":"exec_1","flowId":"f"}}'))).toEqual(['exec_1']);
    const decoys = `{"a":{"id":"d1"},"b":{"id":"d2"},"c":{"id":"d3"},"data":{"id":"exec_1"}}`;
    expect(runIdCandidates(Buffer.from(decoys))).toEqual(['d1', 'd2', 'd3']);
    expect(runIdCandidates(Buffer.from(`{"pad":"${' '.repeat(5000)}","data":{"id":"exec_1"}}`))).toEqual([]);
    expect(runIdCandidates(Buffer.from('{"data":{"id":"../../etc"}}'))).toEqual([]);
  });

  it('measures nesting without recursion, however deep', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    expect(nestsDeeperThan(deep, 64)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true);
  });
});
