import { describe, expect, it } from 'vitest';
import { sniffMimeType } from '../../../src/util/sniff-mime.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const latin1 = (text: string) => Buffer.from(text, 'latin1');

describe('sniffMimeType (rungate run, simulator)', () => {
  it('recognises PDF, PNG, JPEG, WebP and both TIFF byte orders, and nothing else', () => {
    expect(sniffMimeType(Buffer.from('%PDF-1.7'))).toBe('application/pdf');
    expect(sniffMimeType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a))).toBe('image/png');
    expect(sniffMimeType(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('image/jpeg');
    expect(sniffMimeType(latin1('RIFF\x10\x00\x00\x00WEBPVP8 '))).toBe('image/webp');
    expect(sniffMimeType(latin1('RIFF\x10\x00\x00\x00WAVEfmt '))).toBeUndefined();
    expect(sniffMimeType(bytes(0x49, 0x49, 0x2a, 0x00))).toBe('image/tiff');
    expect(sniffMimeType(bytes(0x4d, 0x4d, 0x00, 0x2a))).toBe('image/tiff');
    expect(sniffMimeType(Buffer.from('<svg/>'))).toBeUndefined();
    expect(sniffMimeType(bytes())).toBeUndefined();
  });

  it('decides the edge cases where the two former copies differed', () => {
    // `%PDF` without the dash is not a PDF header (WHATWG's pattern is `%PDF-`).
    expect(sniffMimeType(Buffer.from('%PDF'))).toBeUndefined();
    expect(sniffMimeType(Buffer.from('%PDFx'))).toBeUndefined();
    // A PNG whose signature was cut short or mangled by newline conversion is still a PNG.
    expect(sniffMimeType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a))).toBe('image/png');
    expect(sniffMimeType(bytes(0x89, 0x50, 0x4e, 0x47, 0x0a, 0x1a, 0x0a))).toBe('image/png');
    // RIFF....WEBP needs its first chunk (VP8, VP8L or VP8X) to be a WebP image.
    expect(sniffMimeType(latin1('RIFF\x10\x00\x00\x00WEBPVP8L'))).toBe('image/webp');
    expect(sniffMimeType(latin1('RIFF\x10\x00\x00\x00WEBP'))).toBeUndefined();
  });

  it('never reads past the bytes it has', () => {
    expect(sniffMimeType(bytes(0x89))).toBeUndefined();
    expect(sniffMimeType(latin1('RIFF'))).toBeUndefined();
    expect(sniffMimeType(bytes(0xff, 0xd8))).toBeUndefined();
  });
});
