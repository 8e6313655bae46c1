const UNIT_SECONDS: ReadonlyMap<string, number> = new Map([['', 1], ['s', 1], ['m', 60], ['h', 3600], ['d', 86_400]]);

/** Parses `3600`, `90s`, `30m`, `12h` or `7d` (decimals allowed: `1.5h`) into whole seconds. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/i.exec(text.trim());
  if (!match) return undefined;
  const seconds = Math.round(Number(match[1]) * (UNIT_SECONDS.get((match[2] ?? '').toLowerCase()) ?? Number.NaN));
  return Number.isSafeInteger(seconds) ? seconds : undefined;
}
