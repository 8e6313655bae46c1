import { describe, expect, it } from 'vitest';
import { histogramQuantile } from '../../src/metrics/histogram-quantile.js';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { eventually, getJson, metricValue, postJson, startBody, useStack } from '../support/gateway-harness.js';

const FINAL = ['success', 'failed', 'cancelled'];

/** One sample of the exposition format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a comment, blank, or a
 * sample; a sample's metric must have been declared by `# TYPE` (or be a histogram's part).
 */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (comment) {
      (comment[1] === 'TYPE' ? types : help).set(comment[2]!, comment[3]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|[Nn]a[Nn]|\+Inf|-Inf)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not a valid exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, '$1');
    const name = sample[1]!;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(name) && !types.has(family)) throw new Error(`sample ${name} has no # TYPE`);
    samples.push({ name, labels, value: Number(sample[3]) });
  }
  return { samples, types, help };
}

describe('GET /metrics', () => {
  const t = useStack();

  async function scrape(): Promise<string> {
    const response = await fetch(`${t.stack.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  }

  async function startRuns(count: number, flowId = 'invoices'): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await postJson(`${t.stack.url}/api/v1/flows/${flowId}/run`, startBody());
      expect(answer.status).toBe(200);
      ids.push(answer.body.id);
    }
    return ids;
  }

  async function postWebhook(body: string, signature: string | undefined): Promise<number> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (signature !== undefined) headers['x-doclo-signature'] = signature;
    return (await fetch(`${t.stack.url}/webhooks/doclo`, { method: 'POST', headers, body })).status;
  }

  it('declares every metric of the list, prefixed rungate_, with help and type, plus the Node defaults', async () => {
    await t.start();
    const { types, help } = parseExposition(await scrape());
    const expected: Record<string, string> = {
      rungate_webhooks_total: 'counter',
      rungate_polls_total: 'counter',
      rungate_upstream_requests_total: 'counter',
      rungate_upstream_rate_budget_remaining: 'gauge',
      rungate_runs_tracked: 'gauge',
      rungate_runs_final_total: 'counter',
      rungate_runs_recovered_by_poll_total: 'counter',
      rungate_runs_stale_total: 'counter',
      rungate_store_resets_total: 'counter',
      rungate_run_changes_total: 'counter',
      rungate_polls_scheduled: 'gauge',
      rungate_ws_connections: 'gauge',
      rungate_ws_subscriptions: 'gauge',
      rungate_ws_messages_sent_total: 'counter',
      rungate_ws_messages_dropped_total: 'counter',
      rungate_ws_slow_consumer_closes_total: 'counter',
      rungate_cache_lookups_total: 'counter',
      rungate_cache_entries: 'gauge',
      rungate_client_lookups_refused_total: 'counter',
      rungate_push_latency_seconds: 'histogram',
    };
    for (const [name, type] of Object.entries(expected)) {
      expect(types.get(name), name).toBe(type);
      expect(help.get(name)?.length, name).toBeGreaterThan(10);
    }
    // Node's default metrics ride along, unprefixed as prom-client names them.
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    for (const name of types.keys()) expect(name).toMatch(/^(rungate_|process_|nodejs_)/);
  });

  it('counts webhooks by result, upstream requests by route, pushes, subscribers and cache lookups as they happened', async () => {
    const stack = await t.start({ sim: { runMs: 200, failRate: 0 } });
    const all = await t.probe();
    all.send({ op: 'subscribe', flowId: '*' });
    await all.waitFor((m) => m.type === 'subscribed');
    const ids = await startRuns(4);
    const one = await t.probe();
    one.send({ op: 'subscribe', runId: ids[0] });
    await one.waitFor((m) => m.type === 'subscribed' && m.runId === ids[0]);
    await eventually(() => all.sawFinal(ids) && one.sawFinal([ids[0]!]), 10_000);

    let text = await scrape();
    // Runs of ~200 ms end long before the first poll is due (grace ≥ 2 s): every final state
    // came by webhook, and no upstream GET was made.
    expect(metricValue(text, 'rungate_webhooks_total', { result: 'accepted' })).toBe(4);
    expect(metricValue(text, 'rungate_runs_final_total', { source: 'webhook' })).toBe(4);
    expect(metricValue(text, 'rungate_runs_final_total')).toBe(4);
    expect(metricValue(text, 'rungate_runs_recovered_by_poll_total')).toBe(0);
    expect(metricValue(text, 'rungate_polls_total')).toBe(0);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'start' })).toBe(4);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'get' })).toBe(0);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'cancel' })).toBe(0);
    expect(metricValue(text, 'rungate_upstream_requests_total', { status: '429' })).toBe(0);
    // X-RateLimit-Remaining is on every simulator answer.
    expect(metricValue(text, 'rungate_upstream_rate_budget_remaining')).toBeGreaterThan(0);
    // Each accepted webhook's change was timed to the frame write.
    expect(metricValue(text, 'rungate_push_latency_seconds_count')).toBe(4);
    expect(metricValue(text, 'rungate_push_latency_seconds_bucket', { le: '+Inf' })).toBe(4);
    expect(metricValue(text, 'rungate_runs_tracked', { status: 'queued' }) + metricValue(text, 'rungate_runs_tracked', { status: 'running' })).toBe(0);
    expect(metricValue(text, 'rungate_ws_connections')).toBe(2);
    expect(metricValue(text, 'rungate_ws_subscriptions')).toBe(2);
    // Every run frame either probe got was counted as sent (snapshots included), none dropped.
    const framesSeen = all.runs().length + one.runs().length;
    expect(metricValue(text, 'rungate_ws_messages_sent_total')).toBe(framesSeen);
    expect(metricValue(text, 'rungate_ws_messages_dropped_total')).toBe(0);
    expect(metricValue(text, 'rungate_ws_slow_consumer_closes_total')).toBe(0);
    const changes = metricValue(text, 'rungate_run_changes_total');
    expect(metricValue(text, 'rungate_run_changes_total', { source: 'webhook' })).toBe(4);
    expect(changes).toBeGreaterThanOrEqual(8);

    // Bad webhooks: 2 duplicates of a run the gateway has, 3 bad signatures, 1 malformed body.
    const final = all.runs(ids[1]).find((run) => FINAL.includes(run.status))!;
    const duplicate = JSON.stringify({ event: 'run.completed', timestamp: new Date().toISOString(), data: { id: final.id, flowId: final.flowId, status: final.status } });
    const secret = stack.sim.webhookSecret;
    expect(await postWebhook(duplicate, signBody(secret, duplicate))).toBe(200);
    expect(await postWebhook(duplicate, signBody(secret, duplicate))).toBe(200);
    expect(await postWebhook(duplicate, signBody('not-the-secret', duplicate))).toBe(401);
    expect(await postWebhook(duplicate, 'sha256=00')).toBe(401);
    expect(await postWebhook(duplicate, undefined)).toBe(401);
    expect(await postWebhook('{"event":', signBody(secret, '{"event":'))).toBe(400);

    // Two reads of a known run: the hot cache answers both.
    const hitsBefore = metricValue(text, 'rungate_cache_lookups_total', { result: 'hit' });
    expect((await getJson(`${stack.url}/api/v1/runs/${ids[2]}`)).status).toBe(200);
    expect((await getJson(`${stack.url}/api/v1/runs/${ids[3]}`)).status).toBe(200);

    await one.close();
    await eventually(async () => metricValue(await scrape(), 'rungate_ws_connections') === 1);
    text = await scrape();
    expect(metricValue(text, 'rungate_webhooks_total', { result: 'accepted' })).toBe(4);
    expect(metricValue(text, 'rungate_webhooks_total', { result: 'duplicate' })).toBe(2);
    expect(metricValue(text, 'rungate_webhooks_total', { result: 'unauthorized' })).toBe(3);
    expect(metricValue(text, 'rungate_webhooks_total', { result: 'malformed' })).toBe(1);
    expect(metricValue(text, 'rungate_webhooks_total')).toBe(10);
    // A duplicate changes nothing: no new change, no push, no latency sample.
    expect(metricValue(text, 'rungate_run_changes_total')).toBe(changes);
    expect(metricValue(text, 'rungate_push_latency_seconds_count')).toBe(4);
    expect(metricValue(text, 'rungate_cache_lookups_total', { result: 'hit' })).toBe(hitsBefore + 2);
    expect(metricValue(text, 'rungate_cache_entries')).toBeGreaterThanOrEqual(4);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'get' })).toBe(0);
    expect(metricValue(text, 'rungate_ws_subscriptions')).toBe(1);

    // The dashboard's JSON summary says the same.
    const stats = (await getJson(`${stack.url}/api/v1/stats`)).body;
    expect(stats.webhooks).toEqual({ received: 10, accepted: 4, duplicate: 2, rejected: 4 });
    expect(stats.runs).toMatchObject({ final: 4, recoveredByPoll: 0, webhookMissRate: 0, stale: 0, tracked: { queued: 0, running: 0, stale: 0 } });
    expect(stats.upstream).toMatchObject({ requests: 4, rateLimited: 0, byRoute: { start: 4 } });
    expect(stats.upstream.rateBudgetRemaining).toBeGreaterThan(0);
    expect(stats.ws).toMatchObject({ connections: 1, subscriptions: 1, messagesDropped: 0 });
    expect(stats.pushLatency.count).toBe(4);
    expect(stats.pushLatency.p50Ms).toBeGreaterThan(0);
    expect(stats.pushLatency.p99Ms).toBeGreaterThanOrEqual(stats.pushLatency.p50Ms);
  });

  it('with every webhook dropped, counts the polls and the runs they recovered: the miss rate is 1', async () => {
    const stack = await t.start({
      sim: { runMs: 300, webhookDropRate: 1, failRate: 0 },
      args: ['--poll-grace-ms', '500', '--poll-min-grace-ms', '200', '--poll-interval-ms', '200'],
    });
    const all = await t.probe();
    all.send({ op: 'subscribe', flowId: '*' });
    await all.waitFor((m) => m.type === 'subscribed');
    const ids = await startRuns(3);
    await eventually(() => all.sawFinal(ids), 15_000);

    const text = await scrape();
    expect(metricValue(text, 'rungate_webhooks_total')).toBe(0);
    expect(metricValue(text, 'rungate_runs_recovered_by_poll_total')).toBe(3);
    expect(metricValue(text, 'rungate_runs_final_total', { source: 'poll' })).toBe(3);
    expect(metricValue(text, 'rungate_polls_total', { result: 'final' })).toBe(3);
    expect(metricValue(text, 'rungate_polls_total', { result: 'error' })).toBe(0);
    // Each poll is one upstream GET (no faults, so no retries), and nothing else asked.
    const polls = metricValue(text, 'rungate_polls_total');
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'get' })).toBe(polls);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'get', status: '200' })).toBe(polls);
    expect(stack.sim.stats().requests.get).toBe(polls);
    expect(metricValue(text, 'rungate_push_latency_seconds_count')).toBe(0);

    const stats = (await getJson(`${stack.url}/api/v1/stats`)).body;
    expect(stats.runs).toMatchObject({ final: 3, recoveredByPoll: 3, webhookMissRate: 1 });
    expect(stats.polls.total).toBe(polls);
    expect(stats.pushLatency).toEqual({ count: 0, p50Ms: null, p99Ms: null });
  });

  it('reports unfinished runs by status on each scrape, and cancels as upstream cancel requests', async () => {
    const stack = await t.start({ sim: { runMs: 20_000 } });
    const ids = await startRuns(2, 'long');
    let text = await scrape();
    expect(metricValue(text, 'rungate_runs_tracked', { status: 'queued' }) + metricValue(text, 'rungate_runs_tracked', { status: 'running' })).toBe(2);
    expect(metricValue(text, 'rungate_runs_tracked', { status: 'stale' })).toBe(0);

    expect((await postJson(`${stack.url}/api/v1/runs/${ids[0]}/cancel`, {})).status).toBe(200);
    // Scrapes within a second share one store read; the gauge catches up after that.
    await eventually(async () => {
      text = await scrape();
      return metricValue(text, 'rungate_runs_tracked', { status: 'queued' }) + metricValue(text, 'rungate_runs_tracked', { status: 'running' }) === 1;
    }, 5000);
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'cancel' })).toBe(1);
    expect(metricValue(text, 'rungate_runs_final_total', { source: 'request', status: 'cancelled' })).toBe(1);
  });

  it('counts upstream 429s by route, and the stats show them', async () => {
    // Two requests a minute, both spent by another client of the same account: the gateway's
    // first start meets a 429 it could not foresee, and (no retries) gives up at once.
    const stack = await t.start({ sim: { runMs: 20_000, rateLimit: 2 }, args: ['--upstream-retries', '0'] });
    for (let i = 0; i < 2; i++) expect((await postJson(`${stack.sim.url}/api/v1/flows/other/run`, startBody())).status).toBe(200);
    const refused = await postJson(`${stack.url}/api/v1/flows/limited/run`, startBody());
    expect(refused.status).toBe(429);
    const text = await scrape();
    expect(metricValue(text, 'rungate_upstream_requests_total', { route: 'start', status: '429' })).toBe(1);
    expect(metricValue(text, 'rungate_upstream_requests_total', { status: '429' })).toBe(1);
    const stats = (await getJson(`${stack.url}/api/v1/stats`)).body;
    expect(stats.upstream).toMatchObject({ requests: 1, rateLimited: 1, byRoute: { start: 1 } });
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket that holds the rank, like PromQL histogram_quantile', () => {
    const buckets = [
      { le: 0.001, count: 50 },
      { le: 0.01, count: 90 },
      { le: 0.1, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.001, 9);
    expect(histogramQuantile(0.25, buckets)).toBeCloseTo(0.0005, 9);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.001 + 0.009 * (20 / 40), 9);
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(0.01 + 0.09 * (9 / 10), 9);
  });

  it('answers the highest finite bound for a rank in +Inf, and undefined without observations', () => {
    expect(histogramQuantile(0.99, [{ le: 0.1, count: 1 }, { le: Infinity, count: 10 }])).toBe(0.1);
    expect(histogramQuantile(0.5, [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }])).toBeUndefined();
    expect(histogramQuantile(0.5, [])).toBeUndefined();
    expect(histogramQuantile(2, [{ le: 1, count: 1 }])).toBeUndefined();
  });
});
