import { normalizeStatus, type Execution } from '../runs/run.js';
import { UPSTREAM_ERROR_CODES, UpstreamError } from './upstream-error.js';

function badResponse(status: number, message: string, cause?: unknown): UpstreamError {
  return new UpstreamError({ status, code: UPSTREAM_ERROR_CODES.badResponse, message, kind: 'bad_response', cause });
}

/**
 * Turns a 2xx body into an Execution: the status normalised (`pending`→`queued`,
 * `completed`→`success`), every other field passed through. A body that is not JSON, or lacks a
 * string `id`, a known `status` or a `flowId` (unless `fallbackFlowId` fills it) is a
 * `bad_response` error carrying the HTTP status.
 */
export function parseExecution(bodyText: string, httpStatus: number, fallbackFlowId?: string): Execution {
  let body: unknown;
  try {
    body = JSON.parse(bodyText) as unknown;
  } catch (err) {
    throw badResponse(httpStatus, 'Upstream answered with a body that is not JSON', err);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badResponse(httpStatus, 'Upstream answered with something other than an execution object');
  }
  // seq and source are rungate's own fields; an upstream that is itself a rungate must not set them.
  const { id, status, flowId, seq: _seq, source: _source, ...rest } = body as Record<string, unknown>;
  if (typeof id !== 'string' || id === '') throw badResponse(httpStatus, 'Upstream execution has no id');
  const normalized = normalizeStatus(status);
  if (normalized === undefined) {
    throw badResponse(httpStatus, `Upstream execution ${id} has an unknown status ${JSON.stringify(status) ?? 'undefined'}`);
  }
  const resolvedFlowId = typeof flowId === 'string' && flowId !== '' ? flowId : fallbackFlowId;
  if (resolvedFlowId === undefined) throw badResponse(httpStatus, `Upstream execution ${id} has no flowId`);
  return { ...rest, id, flowId: resolvedFlowId, status: normalized };
}
