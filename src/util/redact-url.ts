/**
 * A connection URL fit for a log line or an error message: its password replaced by `***`
 * (`redis://:***@host:6379/0`, `postgres://app:***@db/rungate`); a URL without one as given.
 * Text that does not parse as a URL loses everything between `//` and `@`, in case it held one.
 */
export function redactUrlPassword(url: string): string {
  if (!URL.canParse(url)) return url.replace(/\/\/[^@/]*@/, '//***@');
  const parsed = new URL(url);
  if (parsed.password === '') return url;
  parsed.password = '***';
  return parsed.href;
}
