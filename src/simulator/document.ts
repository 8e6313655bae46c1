import { createHash } from 'node:crypto';
import { RungateError } from '../errors.js';
import { sniffMimeType } from '../util/sniff-mime.js';

/** Doclo's supported document types (doclo-api.md §4.1). */
export const SUPPORTED_MIME_TYPES: readonly string[] = ['application/pdf', 'image/jpeg', 'image/png', 'image/webp', 'image/tiff'];

/** What the simulator keeps of a document: facts, never the bytes themselves. */
export interface DocumentFacts {
  bytes: number;
  sha256: string;
  mimeType: string;
  pageCount: number;
  filename?: string;
}

/** A document that cannot be processed: Doclo's 422, with `field` and `reason` as details. */
function documentError(code: 'VALIDATION_ERROR' | 'INVALID_DOCUMENT', field: string, reason: string, extra: Record<string, unknown> = {}): RungateError {
  const message = code === 'INVALID_DOCUMENT' ? reason : `Invalid value for ${field}: ${reason}`;
  return new RungateError(code, { message, details: { field, reason, ...extra } });
}

const DATA_URL = /^data:([^;,]*)(?:;[^,]*)?;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function countPdfPages(bytes: Buffer): number {
  // `/Type /Page` but not `/Type /Pages`: a good-enough page count for a simulator.
  const matches = bytes.toString('latin1').match(/\/Type\s*\/Page(?![a-zA-Z])/g);
  return Math.max(1, matches?.length ?? 0);
}

/**
 * Decodes `input.document.base64` (with or without a `data:<mime>;base64,` prefix), checks the
 * encoding and the type, and returns the document's facts. The mime type is the explicit
 * `mimeType`, else the data-URL's, else sniffed from the bytes, else PDF (Doclo "auto-detects";
 * assuming PDF keeps arbitrary test bytes usable). Throws Doclo's 422 (RungateError) otherwise.
 */
export function readDocument(base64Field: string, mimeTypeField: string | undefined, filename: string | undefined): DocumentFacts {
  let text = base64Field;
  let dataUrlMime: string | undefined;
  const prefix = DATA_URL.exec(text);
  if (prefix) {
    dataUrlMime = prefix[1] === '' ? undefined : prefix[1]?.toLowerCase();
    text = text.slice(prefix[0].length);
  }
  text = text.replace(/\s+/g, '');
  // Unpadded base64 is tolerated (length % 4 of 2 or 3); a remainder of 1 is never valid.
  if (!BASE64.test(text) || text.length % 4 === 1 || (text.includes('=') && text.length % 4 !== 0)) {
    throw documentError('VALIDATION_ERROR', 'input.document.base64', 'Invalid base64 encoding');
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length === 0) throw documentError('INVALID_DOCUMENT', 'input.document.base64', 'Document is empty');
  const mimeType = (mimeTypeField?.toLowerCase() ?? dataUrlMime ?? sniffMimeType(bytes) ?? 'application/pdf').trim();
  if (!SUPPORTED_MIME_TYPES.includes(mimeType)) {
    throw documentError('INVALID_DOCUMENT', 'input.document.mimeType', `Unsupported document type: ${mimeType}`, {
      supported: [...SUPPORTED_MIME_TYPES],
    });
  }
  return {
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    mimeType,
    pageCount: mimeType === 'application/pdf' ? countPdfPages(bytes) : 1,
    ...(filename === undefined ? {} : { filename }),
  };
}

const VENDORS = ['Acme Supplies GmbH', 'Globex Corporation', 'Initech LLC', 'Umbrella Logistics', 'Stark Industrial', 'Wayne Paper Co.'];
const ITEMS = ['Consulting hours', 'Printer paper A4', 'Cloud hosting', 'Office chairs', 'Support plan', 'Shipping'];
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF'];

/**
 * An invoice-like extraction result derived only from the document's hash, so the same bytes
 * always give the same output (whatever the seed), which lets tests and benchmarks compare
 * outputs across runs.
 */
export function deriveOutput(facts: DocumentFacts): Record<string, unknown> {
  const h = facts.sha256;
  const word = (i: number): number => parseInt(h.slice(i * 8, i * 8 + 8), 16);
  const lineCount = 1 + (word(0) % 4);
  const lineItems = Array.from({ length: lineCount }, (_, i) => {
    const quantity = 1 + (word(i + 1) % 9);
    const unitPrice = ((word(i + 2) % 50_000) + 100) / 100;
    return {
      description: ITEMS[word(i + 3) % ITEMS.length],
      quantity,
      unitPrice,
      amount: Math.round(quantity * unitPrice * 100) / 100,
    };
  });
  const subtotal = Math.round(lineItems.reduce((sum, item) => sum + item.amount, 0) * 100) / 100;
  const tax = Math.round(subtotal * 0.19 * 100) / 100;
  const day = new Date(Date.UTC(2024, 0, 1) + (word(5) % 730) * 86_400_000);
  return {
    invoiceNumber: `INV-${h.slice(0, 8).toUpperCase()}`,
    invoiceDate: day.toISOString().slice(0, 10),
    vendor: { name: VENDORS[word(6) % VENDORS.length] },
    currency: CURRENCIES[word(7) % CURRENCIES.length],
    lineItems,
    subtotal,
    tax,
    total: Math.round((subtotal + tax) * 100) / 100,
    document: {
      sha256: facts.sha256,
      bytes: facts.bytes,
      mimeType: facts.mimeType,
      pageCount: facts.pageCount,
      ...(facts.filename === undefined ? {} : { filename: facts.filename }),
    },
  };
}
