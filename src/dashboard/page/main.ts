// rungate dashboard: the live table of runs, a run's detail, the counters and the last hour's
// charts. The connection (reconnect with backoff, each state once) is @rungate/client's.
import { AuthenticationError, AuthorizationError, createClient, type DocloError, type Run, type RungateClient } from '@rungate/client';
import { drawChart, type MinutePoint } from './charts.js';
import { byId, setText } from './dom.js';
import { RunDetail } from './run-detail.js';
import { RunsTable } from './runs-table.js';
import { currentToken, setToken } from './token.js';
import { readViewState, writeViewState, type ViewState } from './url-state.js';

const LIST_LIMIT = 100;
const STATS_EVERY_MS = 2000;
const AGE_EVERY_MS = 1000;
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,256}$/;

/** The part of `/api/v1/stats` the page shows (src/metrics/gateway-stats.ts has all of it). */
interface Stats {
  at: string;
  webhooks: { received: number; duplicate: number; rejected: number };
  runs: { final: number; recoveredByPoll: number; webhookMissRate: number | null; tracked: { queued: number; running: number } };
  upstream: { requests: number; rateLimited: number; rateBudgetRemaining: number | null };
  ws: { connections: number };
  pushLatency: { p50Ms: number | null; p99Ms: number | null };
  history?: { minutes: MinutePoint[] };
}

let client: RungateClient | undefined;
let stopFeed: (() => void) | undefined;
let needToken = false;
let view: ViewState = readViewState();
const lookedUp = new Set<string>();

const table = new RunsTable(byId<HTMLTableSectionElement>('run-rows'), (id) => openRun(id, true));
const detail = new RunDetail({
  get: (id) => api().runs.get(id),
  timeline: (id) => api().runs.timeline(id),
  deliveries: (id) => api().runs.deliveries(id),
  retryDeliveries: (id) => api().runs.retryDeliveries(id),
  cancel: (id) => api().runs.cancel(id),
  learnt: (run) => {
    if (table.upsert(run, false)) refreshView();
  },
  closed: () => {
    const id = view.run;
    view = { ...view, run: '' };
    writeViewState(view);
    table.select('');
    // Back to where the user was: the run's row.
    if (id) document.querySelector<HTMLButtonElement>(`tr[data-run-id="${CSS.escape(id)}"] button.open`)?.focus();
  },
});

function api(): RungateClient {
  client ??= createClient({ url: location.origin, ...(currentToken() ? { token: currentToken() } : {}) });
  return client;
}

// ---- connection state ----
function setConn(kind: 'connecting' | 'live' | 'offline' | 'auth', text: string): void {
  const conn = byId('conn');
  conn.dataset.state = kind;
  setText(byId('conn-text'), text);
}

function dropClient(): void {
  stopFeed?.();
  stopFeed = undefined;
  client?.close();
  client = undefined;
}

function askForToken(reason: string): void {
  needToken = true;
  dropClient();
  setConn('auth', 'Token needed');
  setText(byId('auth-reason'), reason);
  byId('auth').hidden = false;
  const input = byId<HTMLInputElement>('token');
  input.value = '';
  input.focus();
}

/** A REST or socket error that means the token will not do; true when handled so. */
function tokenTrouble(error: unknown, live: boolean): boolean {
  if (error instanceof AuthenticationError) {
    const hadToken = Boolean(currentToken());
    setToken('');
    askForToken(hadToken ? 'The gateway refused the token (wrong or expired). Enter another one.' : 'This gateway needs a token for its data. The live view of every run needs an admin token.');
    return true;
  }
  if (error instanceof AuthorizationError) {
    askForToken(live ? 'This token may not watch every run. The live view needs an admin token.' : 'This token may not see every run. The live view needs an admin token.');
    return true;
  }
  return false;
}

byId('auth').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = byId<HTMLInputElement>('token').value.trim();
  if (!value) return;
  setToken(value);
  byId('auth').hidden = true;
  needToken = false;
  dropClient();
  void start();
});

// ---- runs ----
async function loadRuns(): Promise<boolean> {
  const page = await api().runs.list({ limit: LIST_LIMIT });
  // Oldest first, so each insert lands on top.
  for (const run of [...page.data].reverse()) table.upsert(run, false);
  refreshView();
  return true;
}

function onRun(run: Run): void {
  if (table.upsert(run, true)) refreshView();
  detail.update(run);
}

function follow(): void {
  stopFeed?.();
  setConn('connecting', 'Connecting…');
  stopFeed = api().flows.subscribe('*', onRun, {
    onLive: () => {
      setConn('live', 'Live');
      // Changes made while the socket was down came on no socket: refill from the list.
      loadRuns().catch(() => undefined);
    },
    onLost: () => setConn('offline', 'Disconnected — retrying'),
    onError: (error: DocloError) => {
      if (!tokenTrouble(error, true)) setConn('offline', `Live view stopped: ${error.message}`);
    },
  });
}

// A socket can outlive the network silently until the next ping; the browser knows sooner.
window.addEventListener('offline', () => {
  if (needToken) return;
  dropClient();
  setConn('offline', 'Disconnected — retrying');
});
window.addEventListener('online', () => {
  if (!needToken && !stopFeed) void start();
});

// ---- filters and the URL ----
const idFilter = byId<HTMLInputElement>('filter-id');
const flowFilter = byId<HTMLInputElement>('filter-flow');
const statusFilter = byId<HTMLSelectElement>('filter-status');

function applyViewToControls(): void {
  idFilter.value = view.q;
  flowFilter.value = view.flow;
  statusFilter.value = view.status;
}

function onFilterInput(): void {
  view = { ...view, q: idFilter.value.trim(), flow: flowFilter.value.trim(), status: statusFilter.value };
  writeViewState(view);
  refreshView();
  void lookUpById(view.q);
}
idFilter.addEventListener('input', onFilterInput);
flowFilter.addEventListener('input', onFilterInput);
statusFilter.addEventListener('change', onFilterInput);
byId('filters').addEventListener('submit', (event) => event.preventDefault());

/** A whole run id typed into the search that the table does not have: asked of the gateway once. */
async function lookUpById(q: string): Promise<void> {
  if (!ID_PATTERN.test(q) || q.length < 8 || table.get(q) || lookedUp.has(q) || table.filter(view) > 0) return;
  lookedUp.add(q);
  try {
    const run = await api().runs.get(q);
    if (table.upsert(run, false)) refreshView();
  } catch {
    // Not a run (or not this caller's): the filter simply shows none.
  }
}

function refreshView(): void {
  const shown = table.filter(view);
  const total = table.size;
  setText(byId('run-count'), total === 0 ? 'No runs yet' : shown === total ? `${total} ${total === 1 ? 'run' : 'runs'}` : `${shown} of ${total} runs shown`);
  byId('empty').hidden = total !== 0;
}

function openRun(id: string, focus: boolean): void {
  view = { ...view, run: id };
  writeViewState(view);
  table.select(id);
  void detail.open(id, table.get(id), focus);
}

window.addEventListener('hashchange', () => {
  const next = readViewState();
  const runChanged = next.run !== view.run;
  view = next;
  applyViewToControls();
  refreshView();
  if (runChanged) {
    if (next.run) openRun(next.run, false);
    else detail.close(false);
  }
});

// ---- counters and charts ----
const n = (value: number | null | undefined) => (typeof value === 'number' ? value.toLocaleString('en') : '–');
const ms = (value: number | null | undefined) => (typeof value === 'number' ? `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms` : '–');
const pct = (value: number | null | undefined) => (typeof value === 'number' ? `${(value * 100).toFixed(1)} %` : '–');

async function loadStats(): Promise<void> {
  if (needToken || document.hidden || !client) return;
  const s = await client.stats<Stats>();
  setText(byId('stat-webhooks-received'), n(s.webhooks.received));
  setText(byId('stat-webhooks-duplicate'), n(s.webhooks.duplicate));
  setText(byId('stat-webhooks-rejected'), n(s.webhooks.rejected));
  setText(byId('stat-runs-recovered'), n(s.runs.recoveredByPoll));
  setText(byId('stat-miss-rate'), pct(s.runs.webhookMissRate));
  byId('stat-miss-rate').title = `${n(s.runs.recoveredByPoll)} of ${n(s.runs.final)} final states came by polling`;
  setText(byId('stat-runs-tracked'), n(s.runs.tracked.queued + s.runs.tracked.running));
  setText(byId('stat-upstream-requests'), n(s.upstream.requests));
  setText(byId('stat-upstream-429'), n(s.upstream.rateLimited));
  setText(byId('stat-rate-budget'), n(s.upstream.rateBudgetRemaining));
  setText(byId('stat-ws-connections'), n(s.ws.connections));
  setText(byId('stat-push-p50'), ms(s.pushLatency.p50Ms));
  setText(byId('stat-push-p99'), ms(s.pushLatency.p99Ms));
  setText(byId('stats-at'), `updated ${new Date(s.at).toLocaleTimeString()}`);
  drawCharts(s.history?.minutes ?? []);
}

function drawCharts(minutes: MinutePoint[]): void {
  const last = minutes[minutes.length - 1];
  const sum = (pick: (m: MinutePoint) => number) => minutes.reduce((acc, m) => acc + pick(m), 0);
  const webhooks = sum((m) => m.webhooks);
  drawChart(byId('chart-webhooks') as unknown as SVGSVGElement, 'bars', [{ values: minutes.map((m) => m.webhooks), className: 'series-a' }], `Webhooks per minute over the last hour: ${webhooks} in all, ${last?.webhooks ?? 0} this minute`);
  setText(byId('chart-webhooks-now'), `${n(last?.webhooks ?? 0)} this minute`);
  const misses = minutes.map((m) => m.webhookMissRate);
  drawChart(byId('chart-miss') as unknown as SVGSVGElement, 'line', [{ values: misses, className: 'series-bad' }], `Webhook miss rate per minute; latest ${pct(misses.filter((v) => v !== null).at(-1))}`);
  setText(byId('chart-miss-now'), `latest ${pct(misses.filter((v) => v !== null).at(-1))}`);
  const p99 = minutes.map((m) => m.pushLatencyP99Ms);
  drawChart(byId('chart-p99') as unknown as SVGSVGElement, 'line', [{ values: p99, className: 'series-a' }], `Push latency p99 per minute; latest ${ms(p99.filter((v) => v !== null).at(-1))}`);
  setText(byId('chart-p99-now'), `latest ${ms(p99.filter((v) => v !== null).at(-1))}`);
  drawChart(
    byId('chart-upstream') as unknown as SVGSVGElement,
    'bars',
    [
      { values: minutes.map((m) => m.upstreamCalls), className: 'series-a' },
      { values: minutes.map((m) => m.upstream429), className: 'series-bad' },
    ],
    `Upstream calls per minute: ${sum((m) => m.upstreamCalls)} in the last hour, of which ${sum((m) => m.upstream429)} answered 429`,
  );
  setText(byId('chart-upstream-now'), `${n(last?.upstreamCalls ?? 0)} calls, ${n(last?.upstream429 ?? 0)} × 429 this minute`);
}

// ---- start ----
async function start(): Promise<void> {
  try {
    await loadRuns();
  } catch (error) {
    if (tokenTrouble(error, false)) return;
    setConn('offline', 'Gateway not reachable — retrying');
    dropClient();
    setTimeout(() => void start(), 3000);
    return;
  }
  follow();
  loadStats().catch(() => undefined);
  if (view.run && detail.openId !== view.run) openRun(view.run, false);
  void lookUpById(view.q);
}

applyViewToControls();
setInterval(() => loadStats().catch(() => undefined), STATS_EVERY_MS);
setInterval(() => table.tick(), AGE_EVERY_MS);
refreshView();
void start();
