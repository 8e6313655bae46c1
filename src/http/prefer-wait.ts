/** The longest hold a reader may ask for (seconds), as the contract sets it. */
const MAX_WAIT_SECONDS = 60;

/**
 * Reads RFC 7240 `Prefer: wait=N` (among other preferences, in any header instance).
 * Returns seconds clamped to [0, 60], or undefined when absent or not a number.
 */
export function parsePreferWait(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  for (const part of text.split(/[,;]/)) {
    const match = /^\s*wait\s*=\s*"?(\d+(?:\.\d+)?)"?\s*$/i.exec(part);
    if (match) return Math.min(MAX_WAIT_SECONDS, Number(match[1]));
  }
  return undefined;
}
