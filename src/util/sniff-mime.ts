/**
 * The document types Doclo takes (doclo-api.md §4.1), told by their leading bytes; undefined for
 * anything else. The patterns are those of the WHATWG MIME Sniffing standard (`%PDF-`, FF D8 FF,
 * `RIFF....WEBPVP`) plus TIFF's two byte orders, with one leniency: PNG is known by `\x89PNG`
 * alone. The rest of its 8-byte signature (CR LF SUB LF) only detects a file mangled by newline
 * conversion, and such a file is still a PNG (a broken one, for Doclo to report) rather than no
 * document at all.
 */
export function sniffMimeType(bytes: Uint8Array): string | undefined {
  const at = (offset: number, text: string) => [...text].every((char, i) => bytes[offset + i] === char.charCodeAt(0));
  if (at(0, '%PDF-')) return 'application/pdf';
  if (at(0, '\x89PNG')) return 'image/png';
  if (at(0, '\xff\xd8\xff')) return 'image/jpeg';
  if (at(0, 'RIFF') && at(8, 'WEBPVP')) return 'image/webp';
  if (at(0, 'II*\0') || at(0, 'MM\0*')) return 'image/tiff';
  return undefined;
}
