/**
 * The dashboard's HTML. Everything it needs comes from this gateway (no CDN, no web fonts): the
 * page must work on machines that are offline, and its CSP allows nothing else.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>rungate — live runs</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script type="module" src="/dashboard.js"></script>
</head>
<body>
<a class="skip" href="#runs-heading">Skip to runs</a>
<header class="top">
  <h1>rungate <span class="sub">live runs</span></h1>
  <p class="conn" id="conn" data-state="connecting" role="status" aria-live="polite"><span class="dot" aria-hidden="true"></span><span id="conn-text">Connecting…</span></p>
</header>

<main>
  <form id="auth" class="auth" hidden>
    <h2 id="auth-heading">Token needed</h2>
    <p id="auth-reason">This gateway needs a token for its data. With <code>--jwt-secret</code> on, the live view of every run needs an admin token.</p>
    <div class="auth-row">
      <label for="token">Access token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
      <button type="submit">Connect</button>
    </div>
    <p class="hint">Kept in this tab only (sessionStorage).</p>
  </form>

  <div class="work">
  <section aria-labelledby="runs-heading" class="runs">
    <h2 id="runs-heading" tabindex="-1">Recent runs</h2>
    <form class="filters" id="filters" role="search">
      <div class="field">
        <label for="filter-id">Run id starts with</label>
        <input id="filter-id" type="search" autocomplete="off" spellcheck="false" placeholder="exec_…">
      </div>
      <div class="field">
        <label for="filter-flow">Flow contains</label>
        <input id="filter-flow" type="search" autocomplete="off" spellcheck="false">
      </div>
      <div class="field">
        <label for="filter-status">Status</label>
        <select id="filter-status">
          <option value="">any</option>
          <option value="queued">queued</option>
          <option value="running">running</option>
          <option value="success">success</option>
          <option value="failed">failed</option>
          <option value="cancelled">cancelled</option>
          <option value="unfinished">unfinished</option>
          <option value="final">finished</option>
        </select>
      </div>
      <p class="count" id="run-count">No runs yet</p>
    </form>
    <div class="table-wrap">
      <table id="runs">
        <caption class="visually-hidden">Recent runs, newest first; rows update as runs change</caption>
        <thead>
          <tr><th scope="col">Run <span class="visually-hidden">(opens its detail)</span></th><th scope="col">Flow</th><th scope="col">Status</th><th scope="col">Source</th><th scope="col">Age / duration</th><th scope="col">Seq</th></tr>
        </thead>
        <tbody id="run-rows"></tbody>
      </table>
    </div>
    <p class="empty" id="empty">No runs yet. Start one with <code>POST /api/v1/flows/&lt;flowId&gt;/run</code>.</p>
  </section>
  <aside id="detail" class="detail" aria-labelledby="detail-heading" hidden>
    <div class="detail-head">
      <h2 id="detail-heading" tabindex="-1">Run</h2>
      <button type="button" id="detail-close" class="quiet" aria-label="Close the run detail">Close</button>
    </div>
    <p class="detail-state"><span id="detail-status" class="badge"></span> <span id="detail-progress" class="progress-holder"></span>
      <button type="button" id="cancel" class="danger">Cancel run</button></p>
    <p id="detail-message" class="message" role="status" aria-live="polite"></p>
    <dl id="detail-facts" class="facts"></dl>
    <section id="detail-error" class="error-box" aria-labelledby="error-heading" hidden>
      <h3 id="error-heading">Error <code id="detail-error-code"></code></h3>
      <p id="detail-error-message"></p>
    </section>
    <section aria-labelledby="timeline-heading">
      <h3 id="timeline-heading">Timeline</h3>
      <p id="timeline-summary" class="timeline-summary"></p>
      <ol id="timeline" class="timeline"></ol>
    </section>
    <section id="detail-output" aria-labelledby="output-heading" hidden>
      <div class="detail-head"><h3 id="output-heading">Output</h3><button type="button" id="copy-output" class="quiet">Copy JSON</button></div>
      <div id="output-tree" class="json"></div>
    </section>
    <section id="detail-metadata" aria-labelledby="metadata-heading" hidden>
      <h3 id="metadata-heading">Metadata</h3>
      <div id="metadata-tree" class="json"></div>
    </section>
    <section aria-labelledby="deliveries-heading">
      <div class="detail-head"><h3 id="deliveries-heading">Deliveries to the webhook URL</h3><button type="button" id="retry-deliveries" class="quiet" hidden>Retry failed</button></div>
      <p id="deliveries-note" class="sub"></p>
      <table class="deliveries"><caption class="visually-hidden">Deliveries of the final state</caption>
        <thead><tr><th scope="col">URL</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">When</th></tr></thead>
        <tbody id="delivery-rows"></tbody>
      </table>
    </section>
  </aside>

  </div>
  <section aria-labelledby="charts-heading" class="charts">
    <h2 id="charts-heading">The last hour <span class="sub">per minute, this instance</span></h2>
    <div class="chart-grid">
      <figure><figcaption>Webhooks per minute <span class="sub" id="chart-webhooks-now"></span></figcaption><svg id="chart-webhooks" role="img" aria-label="Webhooks per minute"></svg></figure>
      <figure><figcaption>Webhook miss rate <span class="sub" id="chart-miss-now"></span></figcaption><svg id="chart-miss" role="img" aria-label="Webhook miss rate"></svg></figure>
      <figure><figcaption>Push latency p99 <span class="sub" id="chart-p99-now"></span></figcaption><svg id="chart-p99" role="img" aria-label="Push latency p99"></svg></figure>
      <figure><figcaption>Upstream calls <span class="legend-bad">and 429s</span> <span class="sub" id="chart-upstream-now"></span></figcaption><svg id="chart-upstream" role="img" aria-label="Upstream calls and 429s"></svg></figure>
    </div>
  </section>

  <section aria-labelledby="stats-heading" class="stats">
    <h2 id="stats-heading">Counters <span class="sub" id="stats-at"></span></h2>
    <div class="groups">
      <dl class="group" aria-label="Webhooks">
        <div><dt>Webhooks received</dt><dd id="stat-webhooks-received">–</dd></div>
        <div><dt>Duplicates</dt><dd id="stat-webhooks-duplicate">–</dd></div>
        <div><dt>Rejected</dt><dd id="stat-webhooks-rejected">–</dd></div>
      </dl>
      <dl class="group" aria-label="Polling">
        <div><dt>Recovered by polling</dt><dd id="stat-runs-recovered">–</dd></div>
        <div><dt>Webhook miss rate</dt><dd id="stat-miss-rate">–</dd></div>
        <div><dt>Runs in flight</dt><dd id="stat-runs-tracked">–</dd></div>
      </dl>
      <dl class="group" aria-label="Upstream">
        <div><dt>Upstream calls</dt><dd id="stat-upstream-requests">–</dd></div>
        <div><dt>Upstream 429s</dt><dd id="stat-upstream-429">–</dd></div>
        <div><dt>Rate budget left</dt><dd id="stat-rate-budget">–</dd></div>
      </dl>
      <dl class="group" aria-label="Push">
        <div><dt>Connected subscribers</dt><dd id="stat-ws-connections">–</dd></div>
        <div><dt>Push latency p50</dt><dd id="stat-push-p50">–</dd></div>
        <div><dt>Push latency p99</dt><dd id="stat-push-p99">–</dd></div>
      </dl>
    </div>
  </section>

</main>
<footer class="foot"><a href="/metrics">Prometheus metrics</a> · <a href="/readyz">readiness</a></footer>
</body>
</html>
`;
