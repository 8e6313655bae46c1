import express from 'express';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Level } from 'pino';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { requestLog } from '../../../src/http/request-log.js';

interface Line {
  level: number;
  msg: string;
  req: { id: number; method: string; url: string; remoteAddress?: string };
  res: { statusCode: number };
  responseTime: number;
}

/** An app behind the request log, writing its lines (at `level`) into an array. */
function logged(level: Level) {
  const lines: Line[] = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
  const app = express();
  app.use(requestLog(logger));
  app.get('/ok', (_req, res) => void res.json({ ok: true }));
  app.get('/missing', (_req, res) => void res.status(404).json({}));
  app.get('/broken', (_req, res) => void res.status(500).json({}));
  app.post('/cut', (_req, res) => {
    res.locals.clientFault = true;
    res.status(400).end();
  });
  const hanging = { count: 0 };
  app.get('/hang', () => void hanging.count++);
  return { app, lines, hanging };
}

const settle = () => new Promise((done) => setImmediate(done));

describe('request log', () => {
  it('writes one line per request at debug for successes, warn for client errors, error for failures', async () => {
    const { app, lines } = logged('debug');
    await request(app).get('/ok').expect(200);
    await request(app).get('/missing').expect(404);
    await request(app).get('/broken').expect(500);
    await request(app).post('/cut').expect(400);
    await settle();
    expect(lines.map((line) => [line.req.method, line.req.url, line.res.statusCode, pino.levels.labels[line.level]])).toEqual([
      ['GET', '/ok', 200, 'debug'],
      ['GET', '/missing', 404, 'warn'],
      ['GET', '/broken', 500, 'error'],
      ['POST', '/cut', 400, 'warn'],
    ]);
    expect(new Set(lines.map((line) => line.req.id)).size).toBe(4);
    for (const line of lines) {
      expect(line.msg).toBe('request completed');
      expect(line.responseTime).toBeGreaterThanOrEqual(0);
      expect(line.req.remoteAddress).toMatch(/127\.0\.0\.1|::1/);
      expect(Object.keys(line.req).sort()).toEqual(['id', 'method', 'remoteAddress', 'url']); // never headers
    }
  });

  it('drops routine lines below its level and keeps the rest', async () => {
    const { app, lines } = logged('info');
    await request(app).get('/ok').expect(200);
    await request(app).get('/missing').expect(404);
    await settle();
    expect(lines.map((line) => line.res.statusCode)).toEqual([404]);
  });

  it('redacts credential parameters from the URL', async () => {
    const { app, lines } = logged('debug');
    await request(app).get('/ok?flowId=f&access_token=secret-token&ACCESS_TOKEN=other').expect(200);
    await settle();
    expect(lines[0]!.req.url).toBe('/ok?flowId=f&access_token=[redacted]&ACCESS_TOKEN=[redacted]');
    expect(JSON.stringify(lines)).not.toContain('secret-token');
  });

  it('logs a request whose caller went away before its answer', async () => {
    const { app, lines, hanging } = logged('debug');
    const server = createServer(app);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    const controller = new AbortController();
    const gone = fetch(`http://127.0.0.1:${port}/hang`, { signal: controller.signal }).catch(() => 'aborted');
    await expect.poll(() => hanging.count).toBe(1);
    controller.abort();
    expect(await gone).toBe('aborted');
    await expect.poll(() => lines.length).toBe(1);
    expect(lines[0]!.msg).toBe('request closed before its answer was sent');
    expect(pino.levels.labels[lines[0]!.level]).toBe('debug');
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
});
