import type { Run } from '@rungate/client';
import { element, setText } from './dom.js';
import { FINAL, GLYPH, ageText, percentOf, progressText } from './format.js';

const MAX_ROWS = 500;
const COLUMNS = [
  ['id', 'Run'],
  ['flow', 'Flow'],
  ['status', 'Status'],
  ['source', 'Source'],
  ['age', 'Age / duration'],
  ['num', 'Seq'],
] as const;

interface Entry {
  run: Run;
  row: HTMLTableRowElement;
  /** Newest first by creation time (or first sight). */
  key: number;
}

/** The filters of the table (see url-state.ts). */
export interface RunFilter {
  /** Run id prefix. */
  q: string;
  /** Part of the flow id. */
  flow: string;
  /** A status, `unfinished`, `final`, or '' for any. */
  status: string;
}

/**
 * The live table of runs: one row per run, newest first, each updated in place when a newer
 * state comes (a lower or equal seq is ignored), at most MAX_ROWS (the oldest leave).
 */
export class RunsTable {
  private readonly entries = new Map<string, Entry>();
  private selected = '';

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly onOpen: (id: string) => void,
  ) {
    body.addEventListener('click', (event) => {
      const row = (event.target as Element).closest('tr');
      const id = row?.dataset.runId;
      if (id) this.onOpen(id);
    });
  }

  get size(): number {
    return this.entries.size;
  }

  get(id: string): Run | undefined {
    return this.entries.get(id)?.run;
  }

  /** Takes a state if it is newer than the row's; true when the row changed or was added. */
  upsert(run: Run, flash: boolean): boolean {
    const entry = this.entries.get(run.id);
    if (entry) {
      if (run.seq <= entry.run.seq) return false;
      entry.run = run;
      this.fill(entry.row, run);
      if (flash) flashRow(entry.row);
      return true;
    }
    const row = element('tr');
    row.dataset.runId = run.id;
    for (const [name, label] of COLUMNS) row.append(element('td', { className: name, attrs: { 'data-label': label } }));
    const created = Date.parse(run.createdAt ?? '');
    const fresh: Entry = { run, row, key: Number.isFinite(created) ? created : Date.now() };
    this.entries.set(run.id, fresh);
    this.fill(row, run);
    this.insertSorted(fresh);
    if (flash) flashRow(row);
    this.evict();
    return true;
  }

  /** Marks the row of the run open in the detail panel. */
  select(id: string): void {
    this.selected = id;
    for (const entry of this.entries.values()) {
      if (entry.run.id === id) entry.row.setAttribute('aria-selected', 'true');
      else entry.row.removeAttribute('aria-selected');
    }
  }

  /** Shows the rows that pass the filter; returns how many do. */
  filter(filter: RunFilter): number {
    const prefix = filter.q.trim().toLowerCase();
    const flow = filter.flow.trim().toLowerCase();
    let shown = 0;
    for (const entry of this.entries.values()) {
      const visible = matches(entry.run, prefix, flow, filter.status);
      entry.row.hidden = !visible;
      if (visible) shown++;
    }
    return shown;
  }

  /** Refreshes the ages of runs under way. */
  tick(): void {
    for (const entry of this.entries.values()) {
      if (!FINAL.has(entry.run.status)) setText(entry.row.children[4]!, ageText(entry.run));
    }
  }

  private fill(row: HTMLTableRowElement, run: Run): void {
    const [idCell, flowCell, statusCell, sourceCell, ageCell, seqCell] = Array.from(row.children);
    if (!idCell || !flowCell || !statusCell || !sourceCell || !ageCell || !seqCell) return;
    let open = idCell.querySelector('button');
    if (!open) {
      // A button, so the run opens by keyboard too; the row's click opens it by mouse.
      open = element('button', { className: 'open', attrs: { type: 'button', 'aria-label': `Open run ${run.id}` } });
      idCell.append(open);
    }
    setText(open, run.id);
    if (this.selected === run.id) row.setAttribute('aria-selected', 'true');
    setText(flowCell, run.flowId);
    const status = GLYPH[run.status] ? run.status : 'queued';
    let badge = statusCell.querySelector<HTMLElement>('.badge');
    if (!badge) {
      badge = element('span');
      statusCell.append(badge);
    }
    badge.className = `badge badge-${status}`;
    badge.dataset.status = run.status;
    setText(badge, `${GLYPH[status] ?? '?'} ${run.status}${progressText(run)}${run.stale ? ' (stale)' : ''}`);
    updateProgress(statusCell, run);
    row.classList.toggle('stale', Boolean(run.stale));
    row.dataset.status = run.status;
    setText(sourceCell, run.source);
    setText(ageCell, ageText(run));
    setText(seqCell, String(run.seq));
  }

  private insertSorted(entry: Entry): void {
    // Most inserts are the newest run: look from the top.
    let before = this.body.firstElementChild as HTMLTableRowElement | null;
    while (before) {
      const other = this.entries.get(before.dataset.runId ?? '');
      if (!other || other.key <= entry.key) break;
      before = before.nextElementSibling as HTMLTableRowElement | null;
    }
    this.body.insertBefore(entry.row, before);
  }

  private evict(): void {
    while (this.entries.size > MAX_ROWS) {
      const last = this.body.lastElementChild as HTMLTableRowElement | null;
      if (!last) return;
      this.entries.delete(last.dataset.runId ?? '');
      last.remove();
    }
  }
}

/** A <progress> bar next to the badge while a running run reports a percentage. */
export function updateProgress(container: Element, run: Run): void {
  const pct = percentOf(run);
  let bar = container.querySelector('progress');
  if (pct === undefined) {
    bar?.remove();
    return;
  }
  if (!bar) {
    bar = element('progress', { attrs: { max: '100', 'aria-label': `Progress of ${run.id}` } });
    container.append(bar);
  }
  bar.value = pct;
  bar.textContent = `${pct}%`;
}

function matches(run: Run, prefix: string, flow: string, status: string): boolean {
  if (prefix && !run.id.toLowerCase().startsWith(prefix)) return false;
  if (flow && !run.flowId.toLowerCase().includes(flow)) return false;
  if (!status) return true;
  if (status === 'final') return FINAL.has(run.status);
  if (status === 'unfinished') return !FINAL.has(run.status);
  return run.status === status;
}

function flashRow(row: HTMLTableRowElement): void {
  row.classList.remove('flash');
  void row.offsetWidth; // restarts the fade
  row.classList.add('flash');
  setTimeout(() => row.classList.remove('flash'), 1200);
}
