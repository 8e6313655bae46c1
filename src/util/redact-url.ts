/** Query parameters whose values are credentials: never written to a log. */
const SECRET_PARAMS = new Set(['access_token']);

/**
 * A request URL fit for a log line: the values of credential parameters (`access_token`, which
 * EventSource clients must put in the URL) replaced, everything else as it came.
 */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const query = url.slice(at + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      name = rawName;
    }
    return SECRET_PARAMS.has(name.toLowerCase()) ? `${rawName}=[redacted]` : pair;
  });
  return `${url.slice(0, at)}?${query.join('&')}`;
}

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
