/**
 * The dashboard's stylesheet. Colours keep text at 4.5:1 or more against its background in both
 * schemes; status badges pair colour with a glyph and the word, so colour is never the only cue.
 */
export const PAGE_CSS = `:root {
  --bg: #ffffff; --fg: #1f2937; --muted: #4b5563; --line: #d1d5db; --panel: #f3f4f6;
  --accent: #1d4ed8; --focus: #1d4ed8; --flash: #fef9c3;
  --ok: #15803d; --bad: #b91c1c; --warn: #92400e;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  font-size: 16px; line-height: 1.45; color: var(--fg); background: var(--bg);
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #111827; --fg: #e5e7eb; --muted: #a1a1aa; --line: #374151; --panel: #1f2937;
    --accent: #93c5fd; --focus: #93c5fd; --flash: #374151;
    --ok: #86efac; --bad: #fca5a5; --warn: #fcd34d;
  }
}
* { box-sizing: border-box; }
body { margin: 0; }
main { max-width: 78rem; margin: 0 auto; padding: 0 1rem 2rem; }
h1 { font-size: 1.35rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
.sub { font-weight: 400; color: var(--muted); font-size: .9rem; }
code { font-family: ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; font-size: .9em; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.skip { position: absolute; left: -100vw; }
.skip:focus { left: 1rem; top: .5rem; background: var(--bg); padding: .25rem .5rem; z-index: 1; }

.top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem;
  max-width: 78rem; margin: 0 auto; padding: 1rem; }
.conn { margin: 0; display: flex; align-items: center; gap: .4rem; color: var(--muted); }
.dot { width: .7rem; height: .7rem; border-radius: 50%; background: var(--muted); display: inline-block; }
.conn[data-state="live"] .dot { background: var(--ok); }
.conn[data-state="offline"] .dot, .conn[data-state="auth"] .dot { background: var(--bad); }

.auth { border: 2px solid var(--warn); border-radius: .5rem; padding: .75rem 1rem; margin-top: 1rem; background: var(--panel); }
.auth h2 { margin-top: 0; }
.auth-row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.auth-row input { flex: 1 1 16rem; }
.hint { color: var(--muted); font-size: .85rem; margin: .4rem 0 0; }

input, select, button { font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--muted);
  border-radius: .35rem; padding: .4rem .55rem; min-height: 2.5rem; }
button { background: var(--accent); color: var(--bg); border-color: var(--accent); cursor: pointer; font-weight: 600; }

.groups { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: .75rem; }
.group { margin: 0; padding: .6rem .8rem; border: 1px solid var(--line); border-radius: .5rem; background: var(--panel); }
.group div { display: flex; justify-content: space-between; gap: 1rem; padding: .15rem 0; }
.group dt { color: var(--muted); }
.group dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }

.filters { display: flex; flex-wrap: wrap; align-items: flex-end; gap: .75rem; margin-bottom: .6rem; }
.field { display: flex; flex-direction: column; gap: .2rem; }
.field label { font-size: .9rem; color: var(--muted); }
.count { margin: 0 0 .5rem auto; color: var(--muted); }

.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: .5rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--panel); font-size: .9rem; }
tbody tr:last-child td { border-bottom: 0; }
td.id { font-family: ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; font-size: .88rem; }
td.num { text-align: right; }
tr.flash td { background: var(--flash); transition: background 1.2s ease-out; }
tr.stale td { color: var(--muted); }
@media (prefers-reduced-motion: reduce) { tr.flash td { transition: none; } }
.empty { color: var(--muted); }

.badge { display: inline-flex; align-items: center; gap: .3rem; padding: .05rem .5rem; border-radius: 999px;
  font-size: .85rem; font-weight: 600; border: 1px solid transparent; }
.badge-queued { background: #e5e7eb; color: #1f2937; border-color: #9ca3af; }
.badge-running { background: #dbeafe; color: #1e3a8a; border-color: #60a5fa; }
.badge-success { background: #dcfce7; color: #14532d; border-color: #4ade80; }
.badge-failed { background: #fee2e2; color: #7f1d1d; border-color: #f87171; }
.badge-cancelled { background: #fef3c7; color: #78350f; border-color: #fbbf24; }

.foot { max-width: 78rem; margin: 0 auto; padding: 0 1rem 2rem; color: var(--muted); }

/* Runs and the open run side by side on wide screens; on phones the runs come first. */
.work { display: grid; grid-template-columns: minmax(0, 1fr); gap: 1rem; align-items: start; }
.work:has(.detail:not([hidden])) { grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); }
button.quiet { background: var(--bg); color: var(--accent); border-color: var(--accent); min-height: 2.2rem; padding: .2rem .6rem; }
button.danger { background: var(--bad); border-color: var(--bad); color: var(--bg); }
button:disabled { opacity: .6; cursor: progress; }
button.open { background: none; border: 0; color: var(--accent); padding: 0; min-height: 0; font: inherit; font-weight: 600;
  text-decoration: underline; text-underline-offset: 2px; cursor: pointer; text-align: left; }
tbody tr { cursor: pointer; }
tbody tr[aria-selected="true"] td { background: var(--panel); box-shadow: inset 0 -2px 0 var(--accent); }
progress { width: 5rem; height: .6rem; vertical-align: middle; margin-left: .4rem; accent-color: var(--accent); }

.detail { border: 1px solid var(--line); border-radius: .5rem; padding: .6rem .9rem; background: var(--bg); position: sticky; top: .5rem;
  max-height: calc(100vh - 1rem); overflow: auto; }
.detail h2 { margin: .2rem 0; font-family: ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; font-size: 1rem; word-break: break-all; }
.detail h3 { font-size: .95rem; margin: .9rem 0 .3rem; }
.detail-head { display: flex; justify-content: space-between; align-items: center; gap: .5rem; }
.detail-state { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; margin: .3rem 0; }
.detail-state .danger { margin-left: auto; }
.message { min-height: 1.2em; margin: .2rem 0; color: var(--muted); }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .8rem; margin: .3rem 0; font-size: .92rem; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; word-break: break-word; }
.error-box { border-left: 4px solid var(--bad); padding: .1rem .7rem; background: var(--panel); }
.error-box h3 { color: var(--bad); margin-top: .4rem; }
.timeline-summary { font-weight: 600; margin: .2rem 0; }
.timeline { margin: 0; padding-left: 1.2rem; font-size: .9rem; }
.timeline li { margin: .15rem 0; }
.json { font-family: ui-monospace, "Cascadia Mono", Menlo, Consolas, monospace; font-size: .85rem; background: var(--panel);
  border-radius: .35rem; padding: .4rem .6rem; overflow-x: auto; }
.json ul { list-style: none; margin: 0; padding-left: 1.1rem; }
.json summary { cursor: pointer; }
.json-key { color: var(--accent); }
.json-size { color: var(--muted); }
.json-string { color: var(--ok); }
.json-number, .json-boolean { color: var(--warn); }
table.deliveries th, table.deliveries td { font-size: .85rem; padding: .3rem .4rem; white-space: normal; word-break: break-all; }

.chart-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: .75rem; }
.chart-grid figure { margin: 0; padding: .5rem .7rem; border: 1px solid var(--line); border-radius: .5rem; background: var(--panel); }
.chart-grid figcaption { font-size: .9rem; font-weight: 600; margin-bottom: .3rem; }
.chart-grid svg { width: 100%; height: 5.5rem; display: block; }
.chart-axis { stroke: var(--line); stroke-width: 1; }
.series-a { fill: var(--accent); stroke: var(--accent); }
.series-bad { fill: var(--bad); stroke: var(--bad); }
.chart-line { fill: none; stroke-width: 2; }
.legend-bad { color: var(--bad); }

/* Phones: each run becomes a card of label/value lines instead of a wide table. */
@media (max-width: 40rem) {
  .table-wrap { border: 0; overflow: visible; }
  table, tbody, tr, td { display: block; width: 100%; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  tr { border: 1px solid var(--line); border-radius: .5rem; margin-bottom: .6rem; padding: .3rem .6rem; }
  td { display: flex; justify-content: space-between; gap: 1rem; border: 0; padding: .2rem 0; white-space: normal; }
  td::before { content: attr(data-label); color: var(--muted); font-weight: 600; font-family: system-ui, sans-serif; }
  td.id { word-break: break-all; }
  td.num { text-align: left; }
  .count { margin-left: 0; width: 100%; }
  .work:has(.detail:not([hidden])) { grid-template-columns: minmax(0, 1fr); }
  .detail { position: static; max-height: none; }
  /* Compact cards: id and status on one line, flow and age on the next; source and seq stay in the detail. */
  tr { display: flex; flex-wrap: wrap; column-gap: .8rem; }
  td { display: block; width: auto; padding: .1rem 0; }
  td::before { content: none; }
  td.id { flex: 1 1 60%; }
  td.id::before { content: attr(data-label); position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  td.status { flex: 0 0 auto; }
  td.flow { flex: 1 1 50%; color: var(--muted); }
  td.source, td.num { display: none; }
  .filters { gap: .5rem; }
  .filters .field { flex: 1 1 8rem; min-width: 0; }
  .filters .field:first-child { flex-basis: 100%; }
  .filters input, .filters select { width: 100%; min-width: 0; }
  td.age { color: var(--muted); font-size: .9rem; }
}
`;
