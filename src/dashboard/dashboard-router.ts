import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { PAGE_CSS } from './page-css.js';
import { PAGE_HTML } from './page-html.js';
import { pageScript } from './page-bundle.js';

/**
 * The page may load only its own files and talk only to this gateway (REST and /ws: `'self'`
 * covers ws: and wss: of its own host) and to the origins the operator allowed. No inline script
 * or style is allowed, so injected markup could not run even if some got through.
 */
export function dashboardCsp(allowedOrigins: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...allowedOrigins].join(' '),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

interface Asset {
  contentType: string;
  body: Buffer;
  etag: string;
}

function asset(contentType: string, text: string): Asset {
  const body = Buffer.from(text, 'utf8');
  return { contentType, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/**
 * `GET /` (the live dashboard) and its two assets, served from memory with a strict CSP. The
 * page takes no token itself (contract section 5); it asks for one when the API answers 401.
 */
export function createDashboardRouter(allowedOrigins: readonly string[] = []): Router {
  const csp = dashboardCsp(allowedOrigins);
  const assets = new Map<string, Asset>([
    ['/', asset('text/html; charset=utf-8', PAGE_HTML)],
    ['/dashboard.js', asset('text/javascript; charset=utf-8', pageScript())],
    ['/dashboard.css', asset('text/css; charset=utf-8', PAGE_CSS)],
  ]);
  const router = Router();
  for (const [path, file] of assets) {
    router.get(path, (req: Request, res: Response) => {
      res.set({
        'Content-Type': file.contentType,
        'Content-Security-Policy': csp,
        // Revalidate every time: an upgraded gateway must not run with a stale script.
        'Cache-Control': 'no-cache',
        ETag: file.etag,
      });
      if (req.get('if-none-match') === file.etag) {
        res.status(304).end();
        return;
      }
      res.status(200).send(file.body);
    });
  }
  return router;
}
