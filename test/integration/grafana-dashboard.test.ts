import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/gateway-harness.js';
import { DEPLOY } from '../unit/deploy/deploy-files.js';
import { promqlMetricNames } from '../unit/deploy/promql-metric-names.js';

const DASHBOARD_PATH = join(DEPLOY, 'grafana', 'rungate-dashboard.json');
/** What a histogram `h` exposes besides its family name. */
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'];

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

/** Every metric family the gateway's /metrics announces, each histogram with its series names. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = match as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram' || type === 'summary') for (const suffix of HISTOGRAM_SERIES) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('deploy/grafana/rungate-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8'));
  const panels: Panel[] = dashboard.panels.filter((panel: Panel) => panel.type !== 'row');
  const expressions = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));
  const variableQueries: Array<{ name: string; query: string }> = dashboard.templating.list
    .filter((variable: { type: string }) => variable.type === 'query')
    .map((variable: { name: string; query: { query: string } }) => ({ name: variable.name, query: variable.query.query }));
  let stack: Stack;
  let exposed: Set<string>;

  beforeAll(async () => {
    // The `listening` line is written whatever the level: send it nowhere.
    stack = await startStack({ logger: pino({ level: 'silent' }, new Writable({ write: (_chunk, _encoding, done) => done() })) });
    const response = await fetch(`${stack.url}/metrics`);
    exposed = exposedNames(await response.text());
  });
  afterAll(() => stack?.close());

  it('names only metrics that /metrics exposes, in every panel and variable', () => {
    expect(exposed.has('rungate_webhooks_total')).toBe(true);
    const unknown = [
      ...expressions.flatMap(({ panel, expr }) => promqlMetricNames(expr).filter((name) => !exposed.has(name)).map((name) => `${panel}: ${name}`)),
      ...variableQueries.flatMap(({ name, query }) => {
        const metric = /^label_values\(([A-Za-z_:][A-Za-z0-9_:]*)/.exec(query)?.[1];
        return metric === undefined || !exposed.has(metric) ? [`$${name}: ${query}`] : [];
      }),
    ];
    expect(unknown).toEqual([]);
  });

  it('charts the webhook, poll, push, upstream, WebSocket, cache and process metrics', () => {
    const used = new Set(expressions.flatMap(({ expr }) => promqlMetricNames(expr)));
    const wanted = [
      'rungate_webhooks_total',
      'rungate_push_latency_seconds_bucket',
      'rungate_upstream_requests_total',
      'rungate_polls_total',
      'rungate_runs_recovered_by_poll_total',
      'rungate_runs_final_total',
      'rungate_ws_connections',
      'rungate_ws_subscriptions',
      'rungate_ws_slow_consumer_closes_total',
      'rungate_cache_lookups_total',
      'rungate_cache_entries',
      'rungate_upstream_rate_budget_remaining',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ];
    expect(wanted.filter((name) => !used.has(name))).toEqual([]);
  });

  it('is an importable dashboard: unique ids, panels on the grid, one data source variable', () => {
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    const ids = dashboard.panels.map((panel: Panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      for (const target of panel.targets!) expect(target.expr.trim().length, panel.title).toBeGreaterThan(0);
    }
    expect(dashboard.templating.list.find((variable: { name: string }) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });
});
