import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { readGatewayStats } from '../metrics/gateway-stats.js';
import type { StatsHistory } from '../metrics/stats-history.js';

/**
 * `GET /api/v1/stats`: the dashboard's counters as JSON, with the last hour per minute (see
 * GatewayStats). It shows no more
 * than `/metrics` does, so like `/metrics` it takes no token.
 */
export function createStatsHandler(metrics: GatewayMetrics, history?: Pick<StatsHistory, 'minutes'>): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    readGatewayStats(metrics, history).then(
      (stats) => {
        res.set('Cache-Control', 'no-store').status(200).json(stats);
      },
      (error: unknown) => next(error),
    );
  };
}
