import { readFileSync } from 'node:fs';
import type { Request, Response } from 'express';
import { openApiDocument } from './openapi-document.js';

/** The package's version (package.json sits two folders up from both src/http and dist/http). */
function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** `GET /openapi.json`: the OpenAPI 3.1 document, serialised once. It takes no token (section 5). */
export function createOpenApiHandler(): (req: Request, res: Response) => void {
  const body = JSON.stringify(openApiDocument(packageVersion()));
  return (_req, res) => {
    res.set({ 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' }).send(body);
  };
}
