/** What the URL's fragment keeps, so a view can be linked: `#run=exec_…&q=exec_&flow=inv&status=running`. */
export interface ViewState {
  run: string;
  q: string;
  flow: string;
  status: string;
}

const KEYS = ['run', 'q', 'flow', 'status'] as const;

export function readViewState(hash = location.hash): ViewState {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  return { run: params.get('run') ?? '', q: params.get('q') ?? '', flow: params.get('flow') ?? '', status: params.get('status') ?? '' };
}

export function viewHash(state: ViewState): string {
  const params = new URLSearchParams();
  for (const key of KEYS) if (state[key]) params.set(key, state[key]);
  const text = params.toString();
  return text ? `#${text}` : '';
}

/** Writes the state into the URL without a new history entry (filters are typed letter by letter). */
export function writeViewState(state: ViewState): void {
  const hash = viewHash(state);
  if (hash === location.hash || (hash === '' && location.hash === '')) return;
  history.replaceState(null, '', `${location.pathname}${location.search}${hash}`);
}
