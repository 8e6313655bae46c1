import { DocloError, type Delivery, type Run, type TimelineEntry } from '@rungate/client';
import { byId, element, setText } from './dom.js';
import { FINAL, GLYPH, ageText, formatMs, timelineSummary } from './format.js';
import { jsonTree } from './json-tree.js';
import { updateProgress } from './runs-table.js';

/** What the panel asks the gateway (the client's calls). */
export interface DetailActions {
  get(id: string): Promise<Run>;
  timeline(id: string): Promise<TimelineEntry[]>;
  deliveries(id: string): Promise<Delivery[]>;
  retryDeliveries(id: string): Promise<unknown>;
  cancel(id: string): Promise<Run>;
  /** A state the panel learnt (a cancel's answer): the table takes it too. */
  learnt(run: Run): void;
  /** The panel was closed by the user. */
  closed(): void;
}

/**
 * The run detail panel: status and progress, error, output and metadata as JSON trees with copy,
 * the timeline (where each state came from and when), the relay's deliveries with a retry, and a
 * cancel button while the run can still be cancelled. Live: the page hands it each newer state.
 */
export class RunDetail {
  private run: Run | undefined;
  private timelineTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly panel = byId('detail');

  constructor(private readonly actions: DetailActions) {
    byId('detail-close').addEventListener('click', () => this.close(true));
    byId('cancel').addEventListener('click', () => void this.cancel());
    byId('retry-deliveries').addEventListener('click', () => void this.retry());
    byId('copy-output').addEventListener('click', () => void this.copy('output'));
    this.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close(true);
    });
  }

  get openId(): string {
    return this.run?.id ?? '';
  }

  /** Opens the panel on a run (read from the gateway when the table does not have it). */
  async open(id: string, known: Run | undefined, focus: boolean): Promise<void> {
    this.message('');
    let run = known;
    if (!run) {
      try {
        run = await this.actions.get(id);
      } catch (error) {
        this.panel.hidden = false;
        setText(byId('detail-heading'), id);
        this.message(`This run could not be read: ${messageOf(error)}`);
        return;
      }
      this.actions.learnt(run);
    }
    this.run = run;
    this.panel.hidden = false;
    this.render(run);
    void this.loadTimeline();
    void this.loadDeliveries();
    if (focus) byId('detail-heading').focus();
  }

  /** A newer state of some run: shown if it is the open one. */
  update(run: Run): void {
    if (!this.run || run.id !== this.run.id || run.seq <= this.run.seq) return;
    this.run = run;
    this.render(run);
    // Changes come in bursts (progress): read the timeline once they settle.
    clearTimeout(this.timelineTimer);
    this.timelineTimer = setTimeout(() => void this.loadTimeline(), 150);
    if (FINAL.has(run.status)) setTimeout(() => void this.loadDeliveries(), 500);
  }

  close(byUser: boolean): void {
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.run = undefined;
    clearTimeout(this.timelineTimer);
    if (byUser) this.actions.closed();
  }

  private render(run: Run): void {
    setText(byId('detail-heading'), run.id);
    const status = GLYPH[run.status] ? run.status : 'queued';
    const badge = byId('detail-status');
    badge.className = `badge badge-${status}`;
    badge.dataset.status = run.status;
    setText(badge, `${GLYPH[status] ?? '?'} ${run.status}${run.stale ? ' (stale)' : ''}`);
    updateProgress(byId('detail-progress'), run);
    const facts: Array<[string, string]> = [
      ['Flow', run.flowId],
      ['Source of this state', run.source],
      ['Seq', String(run.seq)],
      ['Created', run.createdAt ?? '–'],
      [FINAL.has(run.status) ? 'Duration' : 'Age', ageText(run) || '–'],
    ];
    if (run.completedAt) facts.push(['Completed', run.completedAt]);
    if (run.progress?.step && !FINAL.has(run.status)) facts.push(['Step', run.progress.step]);
    byId('detail-facts').replaceChildren(...facts.flatMap(([term, value]) => [element('dt', { text: term }), element('dd', { text: value })]));
    byId('cancel').hidden = FINAL.has(run.status);

    const error = byId('detail-error');
    error.hidden = !run.error;
    if (run.error) {
      setText(byId('detail-error-code'), run.error.code);
      setText(byId('detail-error-message'), run.error.message);
    }
    this.tree('output', run.output);
    this.tree('metadata', run.metadata);
  }

  private tree(name: 'output' | 'metadata', value: unknown): void {
    const section = byId(`detail-${name}`);
    section.hidden = value === undefined;
    const holder = byId(`${name}-tree`);
    const text = value === undefined ? '' : JSON.stringify(value);
    // Re-rendering an unchanged tree would fold what the user unfolded.
    if (holder.dataset.json === text) return;
    holder.dataset.json = text;
    holder.replaceChildren(...(value === undefined ? [] : [jsonTree(value)]));
  }

  private async loadTimeline(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    let timeline: TimelineEntry[];
    try {
      timeline = await this.actions.timeline(id);
    } catch (error) {
      if (id === this.openId) setText(byId('timeline-summary'), `The timeline could not be read: ${messageOf(error)}`);
      return;
    }
    if (id !== this.openId) return;
    setText(byId('timeline-summary'), timelineSummary(timeline));
    const start = Date.parse(timeline[0]?.at ?? '');
    byId('timeline').replaceChildren(
      ...timeline.map((entry) => {
        const item = element('li', { attrs: { 'data-status': entry.status, 'data-source': entry.source } });
        item.append(
          element('span', { className: `badge badge-${GLYPH[entry.status] ? entry.status : 'queued'}`, text: entry.status }),
          ` by ${entry.source} at +${formatMs(Date.parse(entry.at) - start)} `,
          element('time', { attrs: { datetime: entry.at }, text: new Date(entry.at).toLocaleTimeString() }),
          element('span', { className: 'sub', text: ` seq ${entry.seq}${entry.progress ? ` \u00B7 ${Math.round(entry.progress.percentage)}% ${entry.progress.step}` : ''}` }),
        );
        return item;
      }),
    );
  }

  private async loadDeliveries(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    const note = byId('deliveries-note');
    const body = byId('delivery-rows');
    let deliveries: Delivery[];
    try {
      deliveries = await this.actions.deliveries(id);
    } catch (error) {
      if (id !== this.openId) return;
      body.replaceChildren();
      byId('retry-deliveries').hidden = true;
      // A gateway without the relay has no such route: nothing to show, not an error.
      const missing = error instanceof DocloError && error.statusCode === 404;
      setText(note, missing ? 'This gateway keeps no deliveries.' : `The deliveries could not be read: ${messageOf(error)}`);
      return;
    }
    if (id !== this.openId) return;
    setText(note, deliveries.length === 0 ? 'No delivery: the run was started without a webhookUrl.' : '');
    body.replaceChildren(
      ...deliveries.map((delivery) => {
        const last = [delivery.lastStatus !== undefined ? `HTTP ${delivery.lastStatus}` : '', delivery.lastError ?? ''].filter(Boolean).join(' · ') || '–';
        const when = delivery.deliveredAt ?? delivery.nextAttemptAt ?? delivery.lastAttemptAt ?? '';
        const row = element('tr', { attrs: { 'data-delivery-id': delivery.id, 'data-status': delivery.status } });
        for (const [label, text] of [
          ['URL', delivery.url],
          ['Event', delivery.event],
          ['Status', delivery.status],
          ['Attempts', String(delivery.attempts)],
          ['Last answer', last],
          [delivery.deliveredAt ? 'Delivered' : delivery.nextAttemptAt ? 'Next attempt' : 'Last attempt', when ? new Date(when).toLocaleTimeString() : '–'],
        ] as const) {
          row.append(element('td', { text, attrs: { 'data-label': label } }));
        }
        return row;
      }),
    );
    byId('retry-deliveries').hidden = !deliveries.some((delivery) => delivery.status === 'failed');
  }

  private async cancel(): Promise<void> {
    const run = this.run;
    if (!run) return;
    const button = byId<HTMLButtonElement>('cancel');
    button.disabled = true;
    this.message(`Cancelling ${run.id}…`);
    try {
      const cancelled = await this.actions.cancel(run.id);
      this.actions.learnt(cancelled);
      this.update(cancelled);
      this.message(`Cancelled: the run is ${cancelled.status}.`);
    } catch (error) {
      this.message(`Not cancelled: ${messageOf(error)}`);
    } finally {
      button.disabled = false;
    }
  }

  private async retry(): Promise<void> {
    const id = this.openId;
    if (!id) return;
    try {
      await this.actions.retryDeliveries(id);
      this.message('The failed deliveries are queued again.');
    } catch (error) {
      this.message(`Not retried: ${messageOf(error)}`);
    }
    await this.loadDeliveries();
  }

  private async copy(name: 'output'): Promise<void> {
    const text = JSON.stringify(this.run?.[name] ?? null, null, 2);
    try {
      await navigator.clipboard.writeText(text);
      this.message('Output copied.');
    } catch {
      this.message('The browser refused the clipboard; select the output instead.');
    }
  }

  private message(text: string): void {
    setText(byId('detail-message'), text);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
