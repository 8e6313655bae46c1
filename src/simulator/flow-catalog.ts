import { RungateError } from '../errors.js';

/** One flow as `GET /flows/:flowId` shows it (Doclo's API reference shape). */
export interface SimFlow {
  id: string;
  name: string;
  description: string;
  version: string;
  versions: string[];
  createdAt: string;
  updatedAt: string;
  schema: { input: Record<string, unknown>; output: Record<string, unknown> };
  config: { supportedFormats: string[]; maxFileSizeMB: number; maxPages: number; estimatedCreditsPerPage: number };
}

const DOCUMENT_INPUT = {
  type: 'object',
  properties: {
    document: {
      type: 'object',
      properties: { base64: { type: 'string' }, filename: { type: 'string' }, mimeType: { type: 'string' } },
      required: ['base64'],
    },
    variables: { type: 'object' },
  },
  required: ['document'],
};

const FORMATS = ['application/pdf', 'image/png', 'image/jpeg', 'image/webp', 'image/tiff'];

function flow(id: string, name: string, description: string, versions: string[], output: Record<string, unknown>): SimFlow {
  return {
    id,
    name,
    description,
    version: versions[versions.length - 1]!,
    versions,
    createdAt: '2026-01-15T10:30:00Z',
    updatedAt: '2026-02-20T14:45:00Z',
    schema: { input: DOCUMENT_INPUT, output: { type: 'object', properties: output } },
    config: { supportedFormats: FORMATS, maxFileSizeMB: 50, maxPages: 100, estimatedCreditsPerPage: 2 },
  };
}

/** The simulator's fixed flows (any flow id may still be run; these are the ones it lists). */
export const SIM_FLOWS: readonly SimFlow[] = [
  flow('invoice-extractor', 'Invoice Extractor', 'Extract structured data from invoices', ['1.0.0', '1.1.0', '1.2.0'], {
    invoiceNumber: { type: 'string' }, date: { type: 'string' }, vendor: { type: 'object' }, total: { type: 'number' },
  }),
  flow('receipt-scanner', 'Receipt Scanner', 'Parse receipts and extract line items', ['1.0.0'], {
    merchant: { type: 'string' }, lineItems: { type: 'array' }, total: { type: 'number' },
  }),
  flow('contract-analyzer', 'Contract Analyzer', 'Find parties, dates and clauses in contracts', ['0.9.0', '1.0.0'], {
    parties: { type: 'array' }, effectiveDate: { type: 'string' }, clauses: { type: 'array' },
  }),
];

const MAX_LIST_LIMIT = 100;
const DEFAULT_LIST_LIMIT = 50;

function nonNegativeInt(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  if (!/^\d{1,9}$/.test(text)) throw new RungateError('INVALID_INPUT', { message: `${name} must be a non-negative integer`, details: { field: name } });
  return Number(text);
}

/**
 * `GET /flows`: offset pages as Doclo's API reference documents them (`flows`, `total`, `limit`,
 * `offset`; `limit` ≤ 100), and the same page under the SDK's names (`data`, `hasMore`,
 * `nextCursor`, a `cursor` being an offset), since the two sources disagree on the shape.
 */
export function listFlows(query: URLSearchParams): Record<string, unknown> {
  const limit = Math.max(1, Math.min(MAX_LIST_LIMIT, nonNegativeInt(query, 'limit') ?? DEFAULT_LIST_LIMIT));
  const cursor = query.get('cursor');
  if (cursor !== null && !/^\d{1,9}$/.test(cursor)) throw new RungateError('INVALID_INPUT', { message: 'cursor is not one this API handed out', details: { field: 'cursor' } });
  const offset = cursor !== null ? Number(cursor) : (nonNegativeInt(query, 'offset') ?? 0);
  const page = SIM_FLOWS.slice(offset, offset + limit).map(({ id, name, description, version, createdAt, updatedAt }) => ({ id, name, description, version, createdAt, updatedAt }));
  const hasMore = offset + page.length < SIM_FLOWS.length;
  return {
    flows: page,
    total: SIM_FLOWS.length,
    limit,
    offset,
    data: page,
    hasMore,
    ...(hasMore ? { nextCursor: String(offset + page.length) } : {}),
  };
}

/** `GET /flows/:flowId[?version=V]`: the flow, 404 FLOW_NOT_FOUND or VERSION_NOT_FOUND. */
export function getFlow(flowId: string, query: URLSearchParams): SimFlow {
  const found = SIM_FLOWS.find((candidate) => candidate.id === flowId);
  if (!found) throw new RungateError('FLOW_NOT_FOUND', { message: `Flow not found: ${flowId}` });
  const version = query.get('version');
  if (version === null || version === found.version) return found;
  if (!found.versions.includes(version)) throw new RungateError('VERSION_NOT_FOUND', { message: `Flow ${flowId} has no version ${version}` });
  return { ...found, version };
}
