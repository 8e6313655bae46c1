import type { RequestHandler, Response } from 'express';
import type { Level, Logger } from 'pino';
import { redactUrl } from '../util/redact-url.js';

/**
 * Routine requests log at debug, client errors at warn, failures at error. A body the client
 * broke off (`res.locals.clientFault`) is the client's fault whatever the status says.
 */
function levelOf(res: Response, finished: boolean): Level {
  if ((res.locals as { clientFault?: boolean }).clientFault) return 'warn';
  if (!finished) return 'debug'; // the caller went away before its answer: routine
  return res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'debug';
}

/**
 * One log line per request, written when its answer is done. Nothing is built for a request whose
 * line the logger's level drops: at the gateway's rates a per-request child logger (what pino-http
 * makes, twice) was a tenth of everything that outlived the young generation. The line carries
 * method, URL (credential parameters redacted), address, status and duration — never headers.
 */
export function requestLog(logger: Logger): RequestHandler {
  let nextId = 0;
  return (req, res, next) => {
    const id = ++nextId;
    const startedMs = Date.now();
    // 'close' follows every answer, finished or not.
    res.once('close', () => {
      const finished = res.writableFinished;
      const level = levelOf(res, finished);
      if (!logger.isLevelEnabled(level)) return;
      logger[level](
        {
          req: { id, method: req.method, url: redactUrl(req.originalUrl), remoteAddress: req.socket.remoteAddress },
          res: { statusCode: res.statusCode },
          responseTime: Date.now() - startedMs,
        },
        finished ? 'request completed' : 'request closed before its answer was sent',
      );
    });
    next();
  };
}
