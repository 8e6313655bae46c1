/**
 * The dashboard's browser code, a plain ES module served as `/dashboard.js`. It is kept as a
 * string so it reaches `dist/` with the TypeScript build and needs no bundler; the browser test
 * is what checks it. (No backticks or dollar-brace inside: it lives in a template literal.)
 */
export const PAGE_SCRIPT = String.raw`// rungate dashboard: a live table of runs over the gateway's own /ws, and its counters.
const MAX_ROWS = 500;
const LIST_LIMIT = 100;
const STATS_EVERY_MS = 2000;
const AGE_EVERY_MS = 1000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const TOKEN_KEY = 'rungate.token';
const FINAL = new Set(['success', 'failed', 'cancelled']);
const GLYPH = { queued: '\u25CB', running: '\u25D4', success: '\u2713', failed: '\u2715', cancelled: '\u2298' };

const $ = (id) => document.getElementById(id);
const rowsEl = $('run-rows');
const state = {
  runs: new Map(),        // id -> { run, row, key }
  socket: null,
  attempt: 0,
  reconnectTimer: 0,
  needToken: false,
  stopped: false,
};

// ---- token (only when the gateway runs with auth) ----
let memoryToken = '';
function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}
function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
  memoryToken = value;
}
function currentToken() { return token() || memoryToken; }
function authHeaders() {
  const t = currentToken();
  return t ? { authorization: 'Bearer ' + t } : {};
}

function askForToken(reason) {
  state.needToken = true;
  closeSocket();
  setConn('auth', 'Token needed');
  const form = $('auth');
  $('auth-reason').textContent = reason;
  form.hidden = false;
  const input = $('token');
  input.value = '';
  input.focus();
}

$('auth').addEventListener('submit', (event) => {
  event.preventDefault();
  const value = $('token').value.trim();
  if (!value) return;
  setToken(value);
  $('auth').hidden = true;
  state.needToken = false;
  start();
});

// ---- connection state ----
function setConn(kind, text) {
  const el = $('conn');
  if (el.dataset.state === kind && $('conn-text').textContent === text) return;
  el.dataset.state = kind;
  $('conn-text').textContent = text;
}

// ---- REST ----
async function api(path) {
  const response = await fetch(path, { headers: { accept: 'application/json', ...authHeaders() }, cache: 'no-store' });
  if (response.status === 401) {
    const hadToken = Boolean(currentToken());
    setToken('');
    askForToken(hadToken ? 'The gateway refused the token (wrong or expired). Enter another one.' : 'This gateway needs a token for its data. The live view of every run needs an admin token.');
    return undefined;
  }
  if (response.status === 403) {
    askForToken('This token may not see every run. The live view needs an admin token.');
    return undefined;
  }
  if (!response.ok) throw new Error(path + ' answered ' + response.status);
  return response.json();
}

async function loadRuns() {
  const body = await api('/api/v1/runs?limit=' + LIST_LIMIT);
  if (!body) return false;
  const list = Array.isArray(body.data) ? body.data : [];
  // Oldest first, so each insert lands on top in the end.
  for (let i = list.length - 1; i >= 0; i--) upsert(list[i], false);
  refreshView();
  return true;
}

// ---- WebSocket ----
function connect() {
  if (state.stopped || state.needToken || state.socket) return;
  clearTimeout(state.reconnectTimer);
  const url = (location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + location.host + '/ws';
  setConn('connecting', state.attempt === 0 ? 'Connecting…' : 'Reconnecting…');
  let socket;
  try { socket = new WebSocket(url); } catch { scheduleReconnect(); return; }
  state.socket = socket;
  socket.addEventListener('open', () => {
    const t = currentToken();
    if (t) socket.send(JSON.stringify({ op: 'auth', token: t }));
    socket.send(JSON.stringify({ op: 'subscribe', flowId: '*' }));
  });
  socket.addEventListener('message', (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    onMessage(message);
  });
  socket.addEventListener('close', (event) => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (state.needToken || state.stopped) return;
    // 1008 (policy) and 4401/4403 are how a gateway with auth turns a token away.
    if (event.code === 1008 || event.code === 4401 || event.code === 4403) {
      setToken('');
      askForToken('The gateway closed the live connection: the token was refused. Enter an admin token.');
      return;
    }
    setConn('offline', 'Disconnected — retrying');
    scheduleReconnect();
  });
}

function onMessage(message) {
  switch (message && message.type) {
    case 'run':
      if (message.run && typeof message.run.id === 'string') { upsert(message.run, true); refreshView(); }
      return;
    case 'subscribed':
      state.attempt = 0;
      setConn('live', 'Live');
      // Changes made while the socket was down came on no socket: refill from the list.
      loadRuns().catch(() => { /* the next reconnect tries again */ });
      return;
    case 'error':
      if (message.code === 'unauthorized' || message.code === 'forbidden') {
        setToken('');
        askForToken(message.code === 'forbidden'
          ? 'This token may not watch every run. The live view needs an admin token.'
          : 'The gateway needs a valid token for the live view.');
      }
      return;
    default:
      return;
  }
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  state.attempt++;
  // Jitter spreads the reconnects of many open dashboards after a gateway restart.
  const delay = ceiling / 2 + Math.random() * (ceiling / 2);
  state.reconnectTimer = setTimeout(connect, delay);
}

// A socket can outlive the network silently until the next ping; the browser knows sooner.
window.addEventListener('offline', () => {
  if (state.socket) state.socket.close(4000, 'browser offline');
});
window.addEventListener('online', () => {
  state.attempt = 0;
  if (!state.socket && !state.needToken) connect();
});

function closeSocket() {
  clearTimeout(state.reconnectTimer);
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.close(1000, 'bye');
}

// ---- the table ----
function sortKey(run, fallback) {
  const created = Date.parse(run.createdAt || '');
  return Number.isFinite(created) ? created : fallback;
}

function upsert(run, flash) {
  const entry = state.runs.get(run.id);
  if (entry) {
    if (typeof run.seq === 'number' && typeof entry.run.seq === 'number' && run.seq <= entry.run.seq) return;
    entry.run = run;
    fillRow(entry.row, run);
    if (flash) flashRow(entry.row);
    return;
  }
  const row = document.createElement('tr');
  row.dataset.runId = run.id;
  for (const [name, label] of [['id', 'Run'], ['flow', 'Flow'], ['status', 'Status'], ['source', 'Source'], ['age', 'Age / duration'], ['seq', 'Seq']]) {
    const cell = document.createElement('td');
    cell.className = name === 'id' ? 'id' : name === 'seq' ? 'num' : name;
    cell.dataset.label = label;
    row.appendChild(cell);
  }
  const key = sortKey(run, Date.now());
  const fresh = { run, row, key };
  state.runs.set(run.id, fresh);
  fillRow(row, run);
  insertSorted(fresh);
  if (flash) flashRow(row);
  if (state.runs.size > MAX_ROWS) evictOldest();
}

function insertSorted(entry) {
  // Newest first; most inserts are the newest run, so look from the top.
  let before = rowsEl.firstElementChild;
  while (before) {
    const other = state.runs.get(before.dataset.runId);
    if (!other || other.key <= entry.key) break;
    before = before.nextElementSibling;
  }
  rowsEl.insertBefore(entry.row, before);
}

function evictOldest() {
  while (state.runs.size > MAX_ROWS) {
    const last = rowsEl.lastElementChild;
    if (!last) return;
    state.runs.delete(last.dataset.runId);
    last.remove();
  }
}

function flashRow(row) {
  row.classList.remove('flash');
  void row.offsetWidth; // restart the fade
  row.classList.add('flash');
  setTimeout(() => row.classList.remove('flash'), 1200);
}

function fillRow(row, run) {
  const [idCell, flowCell, statusCell, sourceCell, ageCell, seqCell] = row.children;
  idCell.textContent = run.id;
  flowCell.textContent = run.flowId || '';
  const status = String(run.status || 'queued');
  let badge = statusCell.firstElementChild;
  if (!badge) {
    badge = document.createElement('span');
    statusCell.appendChild(badge);
  }
  badge.className = 'badge badge-' + (GLYPH[status] ? status : 'queued');
  badge.dataset.status = status;
  badge.textContent = (GLYPH[status] || '?') + ' ' + status + progressText(run) + (run.stale ? ' (stale)' : '');
  row.classList.toggle('stale', Boolean(run.stale));
  row.dataset.status = status;
  row.dataset.flow = String(run.flowId || '').toLowerCase();
  sourceCell.textContent = run.source || '';
  seqCell.textContent = run.seq === undefined ? '' : String(run.seq);
  ageCell.textContent = ageText(run);
}

// The live percentage of a running run (Doclo's progress, kept fresh by --progress-poll-ms).
function progressText(run) {
  const progress = run.progress;
  if (FINAL.has(run.status) || !progress || typeof progress.percentage !== 'number' || !Number.isFinite(progress.percentage)) return '';
  const pct = Math.max(0, Math.min(100, Math.round(progress.percentage)));
  return ' ' + pct + '%' + (typeof progress.step === 'string' && progress.step ? ' \u00B7 ' + progress.step : '');
}

function ageText(run) {
  const created = Date.parse(run.createdAt || '');
  if (FINAL.has(run.status)) {
    let ms = typeof run.duration === 'number' ? run.duration : NaN;
    if (!Number.isFinite(ms)) ms = Date.parse(run.completedAt || run.cancelledAt || '') - created;
    return Number.isFinite(ms) ? 'took ' + formatMs(ms) : '';
  }
  return Number.isFinite(created) ? formatMs(Date.now() - created) + ' old' : '';
}

function formatMs(ms) {
  if (ms < 0) ms = 0;
  if (ms < 10000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 120000) return Math.round(ms / 1000) + ' s';
  if (ms < 7200000) return Math.round(ms / 60000) + ' min';
  return Math.round(ms / 3600000) + ' h';
}

// ---- filters ----
const flowFilter = $('filter-flow');
const statusFilter = $('filter-status');
flowFilter.addEventListener('input', refreshView);
statusFilter.addEventListener('change', refreshView);

function matches(entry, flow, status) {
  const s = entry.run.status;
  if (flow && !entry.row.dataset.flow.includes(flow)) return false;
  if (!status) return true;
  if (status === 'final') return FINAL.has(s);
  if (status === 'unfinished') return !FINAL.has(s);
  return s === status;
}

function refreshView() {
  const flow = flowFilter.value.trim().toLowerCase();
  const status = statusFilter.value;
  let shown = 0;
  for (const entry of state.runs.values()) {
    const visible = matches(entry, flow, status);
    entry.row.hidden = !visible;
    if (visible) shown++;
  }
  const total = state.runs.size;
  $('run-count').textContent = total === 0 ? 'No runs yet' : shown === total ? total + (total === 1 ? ' run' : ' runs') : shown + ' of ' + total + ' runs shown';
  $('empty').hidden = total !== 0;
}

function tickAges() {
  for (const entry of state.runs.values()) {
    if (!FINAL.has(entry.run.status)) entry.row.children[4].textContent = ageText(entry.run);
  }
}

// ---- counters ----
function setStat(id, text) {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}
const n = (value) => (typeof value === 'number' ? value.toLocaleString('en') : '–');
const ms = (value) => (typeof value === 'number' ? (value < 10 ? value.toFixed(2) : value.toFixed(0)) + ' ms' : '–');

async function loadStats() {
  if (state.needToken || document.hidden) return;
  const response = await fetch('/api/v1/stats', { headers: { accept: 'application/json', ...authHeaders() }, cache: 'no-store' });
  if (!response.ok) return;
  const s = await response.json();
  setStat('stat-webhooks-received', n(s.webhooks.received));
  setStat('stat-webhooks-duplicate', n(s.webhooks.duplicate));
  setStat('stat-webhooks-rejected', n(s.webhooks.rejected));
  setStat('stat-runs-recovered', n(s.runs.recoveredByPoll));
  setStat('stat-miss-rate', s.runs.webhookMissRate === null ? '–' : (s.runs.webhookMissRate * 100).toFixed(1) + ' %');
  $('stat-miss-rate').title = n(s.runs.recoveredByPoll) + ' of ' + n(s.runs.final) + ' final states came by polling';
  setStat('stat-runs-tracked', n(s.runs.tracked.queued + s.runs.tracked.running));
  setStat('stat-upstream-requests', n(s.upstream.requests));
  setStat('stat-upstream-429', n(s.upstream.rateLimited));
  setStat('stat-rate-budget', s.upstream.rateBudgetRemaining === null ? '–' : n(s.upstream.rateBudgetRemaining));
  setStat('stat-ws-connections', n(s.ws.connections));
  setStat('stat-push-p50', ms(s.pushLatency.p50Ms));
  setStat('stat-push-p99', ms(s.pushLatency.p99Ms));
  setStat('stats-at', 'updated ' + new Date(s.at).toLocaleTimeString());
}

// ---- start ----
async function start() {
  try {
    if (!(await loadRuns())) return; // a token is needed first
  } catch {
    setConn('offline', 'Gateway not reachable — retrying');
    setTimeout(start, 3000);
    return;
  }
  connect();
  loadStats().catch(() => {});
}

setInterval(() => loadStats().catch(() => {}), STATS_EVERY_MS);
setInterval(tickAges, AGE_EVERY_MS);
refreshView();
start();
`;
