import { existsSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson, startBody, startStack, type Stack } from '../support/gateway-harness.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/** Debian's Chromium; `.ci/run` installs it. A browser is never downloaded. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
/** Where to write a screenshot of the dashboard (docs/dashboard.png), when set; the phone's goes beside it. */
const SCREENSHOT_PATH = process.env.RUNGATE_SCREENSHOT;
/** Polling soon after a lost webhook, so a final state comes by poll within a test. */
const QUICK_POLLS = ['--poll-grace-ms', '1000', '--poll-min-grace-ms', '300', '--poll-interval-ms', '300'];
const SECRET = 'browser-test-secret-that-is-at-least-32-characters';
const FINAL = ['success', 'failed', 'cancelled'];
// Under CI a missing Chromium fails the suite (beforeAll throws); elsewhere the suite is skipped.
const run = existsSync(CHROMIUM) || process.env.CI === 'true';

async function jwt(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));
}

describe.runIf(run)('dashboard in Chromium', () => {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let stack: Stack | undefined;
  /** Console errors and uncaught exceptions of the page (CSP refusals show up here). */
  let problems: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (CI=true needs the browser test to run)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    await stack?.close();
    stack = undefined;
  });

  afterAll(async () => {
    await browser?.close();
  });

  async function open(viewport = { width: 1200, height: 900 }): Promise<Page> {
    context = await browser!.newContext({ viewport, reducedMotion: 'reduce' });
    const page = await context.newPage();
    problems = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));

    const response = await page.goto(`${stack!.url}/`);
    expect(response?.status()).toBe(200);
    return page;
  }

  async function start(flowId: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<string> {
    const answer = await postJson(`${stack!.url}/api/v1/flows/${flowId}/run`, startBody(extra), headers);
    expect(answer.status).toBe(200);
    return answer.body.id as string;
  }

  const row = (page: Page, id: string) => page.locator(`tr[data-run-id="${id}"]`);
  const badge = (page: Page, id: string) => row(page, id).locator('.badge');

  async function finalStatus(page: Page, id: string): Promise<string> {
    await expect.poll(async () => FINAL.includes((await badge(page, id).getAttribute('data-status')) ?? ''), { timeout: 10_000 }).toBe(true);
    return (await badge(page, id).getAttribute('data-status'))!;
  }

  it('serves the page and its assets from the gateway under a strict CSP', async () => {
    stack = await startStack();
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/dashboard.js', 'text/javascript'],
      ['/dashboard.css', 'text/css'],
    ] as const) {
      const response = await fetch(`${stack.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(`${type}; charset=utf-8`);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      // Same-origin only (CSP 3's 'self' covers the page's own ws:/wss:); no other host.
      expect(csp).toMatch(/connect-src 'self'(;|$)/);
      expect(csp).not.toMatch(/ws:|wss:/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      const etag = response.headers.get('etag')!;
      expect((await fetch(`${stack.url}${path}`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    }
    const html = await (await fetch(`${stack.url}/`)).text();
    // Nothing from elsewhere: no CDN, no web fonts.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('shows runs live: rows appear and change status without a reload, counters move', async () => {
    stack = await startStack({ sim: { runMs: 800, failRate: 0.3 } });
    const before = await start('invoices');
    const ended = (await getJson(`${stack.url}/api/v1/runs/${before}`, { prefer: 'wait=10' })).body.status as string;
    expect(FINAL).toContain(ended);

    const page = await open();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    // The run that ended before the page opened comes from the runs list.
    await expect.poll(() => badge(page, before).getAttribute('data-status'), { timeout: 10_000 }).toBe(ended);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#stat-ws-connections').textContent(), { timeout: 10_000 }).toBe('1');

    const ids = [await start('invoices'), await start('receipts'), await start('receipts')];
    const firstSeen: string[] = [];
    for (const id of ids) {
      // Seen early (queued or running) ...
      await row(page, id).waitFor({ timeout: 5000 });
      firstSeen.push((await badge(page, id).getAttribute('data-status'))!);
    }
    // Runs last 0.4 to 1.2 s: at least the first was caught before it ended.
    expect(firstSeen.some((status) => status === 'queued' || status === 'running')).toBe(true);
    for (const id of ids) {
      // ... and then at its final state, with the state's source and seq, in the same row.
      const status = await finalStatus(page, id);
      await expect.poll(() => badge(page, id).textContent()).toContain(status);
      const cells = await row(page, id).locator('td').allTextContents();
      expect(cells[0]).toBe(id);
      expect(cells[3]).toBe('webhook');
      expect(cells[4]).toMatch(/^took \d/);
      expect(Number(cells[5])).toBeGreaterThanOrEqual(2);
      expect(await row(page, id).count()).toBe(1);
    }
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);

    // Counters: 4 webhooks, 4 starts upstream, pushes timed.
    await expect.poll(() => page.locator('#stat-webhooks-received').textContent(), { timeout: 10_000 }).toBe('4');
    await expect.poll(() => page.locator('#stat-upstream-requests').textContent(), { timeout: 10_000 }).toBe('4');
    expect(await page.locator('#stat-webhooks-rejected').textContent()).toBe('0');
    expect(await page.locator('#stat-miss-rate').textContent()).toBe('0.0 %');
    expect(await page.locator('#stat-push-p50').textContent()).toMatch(/ ms$/);

    // Filters: by flow text, then by status.
    await page.fill('#filter-flow', 'receipt');
    await expect.poll(() => page.locator('tbody tr:visible').count()).toBe(2);
    expect(await page.locator('#run-count').textContent()).toBe('2 of 4 runs shown');
    await page.fill('#filter-flow', '');
    await page.selectOption('#filter-status', 'unfinished');
    await expect.poll(() => page.locator('tbody tr:visible').count()).toBe(0);
    await page.selectOption('#filter-status', '');
    await expect.poll(() => page.locator('tbody tr:visible').count()).toBe(4);

    expect(problems).toEqual([]);
  });

  it('reconnects after the network drops, resubscribes, and catches up on what changed meanwhile', async () => {
    stack = await startStack({ sim: { runMs: 800 } });
    const page = await open();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await context!.setOffline(true);
    await page.locator('#conn[data-state="offline"]').waitFor({ timeout: 10_000 });
    // This run starts and ends while the page has no socket: only the list refill can show it.
    const missed = await start('offline');
    const ended = (await getJson(`${stack.url}/api/v1/runs/${missed}`, { prefer: 'wait=10' })).body.status as string;
    expect(await page.locator('#conn').getAttribute('data-state')).not.toBe('live');
    expect(await row(page, missed).count()).toBe(0);
    await context!.setOffline(false);
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 20_000 });
    await expect.poll(() => badge(page, missed).getAttribute('data-status'), { timeout: 10_000 }).toBe(ended);
    const live = await start('online');
    await finalStatus(page, live);
    // The refused reconnects while offline are the only console errors.
    expect(problems.filter((text) => !/WebSocket|ERR_INTERNET_DISCONNECTED|Failed to fetch/i.test(text))).toEqual([]);
  });

  it('shows the live percentage of running runs when progress polling is on', async () => {
    stack = await startStack({ sim: { runMs: 3000, failRate: 0 }, args: ['--progress-poll-ms', '200'] });
    const page = await open();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    const id = await start('progress');
    // The dashboard follows every flow, so the run is watched and polled for its progress.
    await expect.poll(() => badge(page, id).textContent(), { timeout: 10_000 }).toMatch(/running \d+%/);
    await finalStatus(page, id);
    expect(await badge(page, id).textContent()).not.toMatch(/%/);
    expect(problems).toEqual([]);
  });

  it('is usable by keyboard and on a phone: labelled controls, visible focus, cards instead of a wide table', async () => {
    stack = await startStack({ sim: { runMs: 800 } });
    const id = await start('a-flow-with-a-rather-long-name');
    const page = await open({ width: 375, height: 740 });
    await row(page, id).waitFor({ timeout: 10_000 });

    for (const control of await page.locator('input, select').all()) {
      const controlId = await control.getAttribute('id');
      expect(await page.locator(`label[for="${controlId}"]`).count(), `label for #${controlId}`).toBe(1);
    }
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to runs');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return { id: document.activeElement?.id, outline: style.outlineStyle, width: style.outlineWidth };
    });
    expect(focus.id).toMatch(/^filter-/);
    expect(focus.outline).toBe('solid');
    expect(focus.width).toBe('3px');

    // Each run is a card; nothing is wider than the screen.
    expect(await row(page, id).evaluate((tr) => getComputedStyle(tr).display)).toBe('flex');
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(await row(page, id).locator('td').first().evaluate((td) => getComputedStyle(td, '::before').content)).toBe('"Run"');
    expect(problems).toEqual([]);
  });

  it('with auth on, asks for a token, wants an admin for the live view, and then works', async () => {
    stack = await startStack({ sim: { runMs: 800 }, args: ['--jwt-secret', SECRET] });
    const admin = await jwt({ sub: 'ops', admin: true });
    const user = await jwt({ sub: 'alice' });
    const page = await open();

    // The list answered 401: the page asks for a token.
    await page.locator('#auth').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.locator('#conn').getAttribute('data-state')).toBe('auth');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');

    // A wrong token: 401 again.
    await page.fill('#token', 'not-a-token');
    await page.press('#token', 'Enter');
    await expect.poll(() => page.locator('#auth-reason').textContent(), { timeout: 10_000 }).toContain('refused');
    expect(await page.locator('#auth').isVisible()).toBe(true);

    // A user's token reads the list, but every run's live feed is for admins: forbidden.
    await page.fill('#token', user);
    await page.click('#auth button[type="submit"]');
    await expect.poll(() => page.locator('#auth-reason').textContent(), { timeout: 10_000 }).toContain('admin');
    await page.locator('#auth').waitFor({ state: 'visible' });

    await page.fill('#token', admin);
    await page.press('#token', 'Enter');
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#auth').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.getItem('rungate.token'))).toBe(admin);

    const id = await start('secured', { authorization: `Bearer ${admin}` });
    await row(page, id).waitFor({ timeout: 5000 });
    await finalStatus(page, id);
    await expect.poll(() => page.locator('#stat-webhooks-received').textContent(), { timeout: 10_000 }).toBe('1');

    // A reload keeps the token for this tab: straight to live, no form.
    await page.reload();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#auth').isVisible()).toBe(false);
    await expect.poll(() => badge(page, id).getAttribute('data-status'), { timeout: 10_000 }).not.toBeNull();
    // The 401s the page met on purpose are the only console errors.
    expect(problems.filter((text) => !/401|403/.test(text))).toEqual([]);
  });


  const visibleRows = (page: Page) => page.locator('tbody#run-rows tr:visible');

  it('opens a run: output as a tree, the timeline with where each state came from, linkable by URL', async () => {
    stack = await startStack({ sim: { runMs: 500, failRate: 0, webhookDropRate: 1, seed: 11 }, args: QUICK_POLLS });
    const id = await start('invoices');
    const done = (await getJson(`${stack.url}/api/v1/runs/${id}`, { prefer: 'wait=15' })).body;
    expect(done.status).toBe('success');
    const page = await open();
    await row(page, id).waitFor({ timeout: 10_000 });

    await row(page, id).locator('button.open').click();
    await page.locator('#detail').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('detail-heading');
    expect(await page.locator('#detail-heading').textContent()).toBe(id);
    expect(await page.locator('#detail-status').getAttribute('data-status')).toBe('success');
    // The output's keys in the tree, nested objects unfolded to two levels.
    const tree = page.locator('#output-tree');
    await expect.poll(() => tree.textContent()).toContain('invoiceNumber');
    expect(await tree.textContent()).toContain(JSON.stringify(done.output.invoiceNumber));
    expect(await tree.locator('details').first().getAttribute('open')).not.toBeNull();
    // Where each state came from and when: the webhook never came, the final state was polled.
    const summary = page.locator('#timeline-summary');
    await expect.poll(() => summary.textContent(), { timeout: 5000 }).toMatch(/^queued \(request\) 0 ms → .*success \(poll\) [\d.]+ (ms|s) — no webhook$/);
    expect(await page.locator('#timeline li').last().getAttribute('data-source')).toBe('poll');
    // Started without a webhookUrl: the panel says there is no delivery.
    await expect.poll(() => page.locator('#deliveries-note').textContent()).toContain('without a webhookUrl');
    expect(new URL(page.url()).hash).toBe(`#run=${id}`);

    // Escape closes it and gives focus back to the run's row.
    await page.keyboard.press('Escape');
    await page.locator('#detail').waitFor({ state: 'hidden' });
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe(id);
    expect(new URL(page.url()).hash).toBe('');

    // A link to the run opens it straight away.
    await page.goto(`${stack.url}/#run=${id}`);
    await page.locator('#detail').waitFor({ state: 'visible', timeout: 10_000 });
    await expect.poll(() => page.locator('#timeline-summary').textContent()).toContain('no webhook');
    expect(problems).toEqual([]);
  });

  it('searches by run id prefix (one row), filters by flow and status, keeps them in the URL', async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 12 } });
    const ids = [await start('invoices'), await start('receipts'), await start('receipts')];
    for (const id of ids) await getJson(`${stack.url}/api/v1/runs/${id}`, { prefer: 'wait=10' });
    const page = await open();
    await expect.poll(() => visibleRows(page).count(), { timeout: 10_000 }).toBe(3);

    const target = ids[1]!;
    await page.fill('#filter-id', target.slice(0, target.length - 2));
    await expect.poll(() => visibleRows(page).count()).toBeLessThanOrEqual(3);
    await page.fill('#filter-id', target);
    await expect.poll(() => visibleRows(page).count()).toBe(1);
    expect(await visibleRows(page).first().getAttribute('data-run-id')).toBe(target);
    expect(await page.locator('#run-count').textContent()).toBe('1 of 3 runs shown');
    expect(new URL(page.url()).hash).toBe(`#q=${target}`);

    await page.fill('#filter-id', '');
    await page.fill('#filter-flow', 'receipt');
    await page.selectOption('#filter-status', 'success');
    await expect.poll(() => visibleRows(page).count()).toBe(2);
    expect(new URL(page.url()).hash).toBe('#flow=receipt&status=success');
    // The filters come back with the link.
    await page.reload();
    await expect.poll(() => visibleRows(page).count(), { timeout: 10_000 }).toBe(2);
    expect(await page.inputValue('#filter-flow')).toBe('receipt');
    expect(await page.inputValue('#filter-status')).toBe('success');
    expect(problems).toEqual([]);
  });

  it('with auth on, cancels a running run from its panel: the row turns cancelled without a reload', async () => {
    stack = await startStack({ sim: { runMs: 20_000, failRate: 0, seed: 13 }, args: ['--jwt-secret', SECRET] });
    const admin = await jwt({ sub: 'ops', admin: true });
    const id = await start('long-flow', { authorization: `Bearer ${admin}` });
    const page = await open();
    await page.locator('#auth').waitFor({ state: 'visible', timeout: 10_000 });
    await page.fill('#token', admin);
    await page.press('#token', 'Enter');
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    await row(page, id).locator('button.open').click();
    await page.locator('#cancel').waitFor({ state: 'visible' });
    const before = await page.evaluate(() => performance.timeOrigin);
    await page.click('#cancel');
    await expect.poll(() => badge(page, id).getAttribute('data-status'), { timeout: 10_000 }).toBe('cancelled');
    expect(await page.locator('#detail-status').getAttribute('data-status')).toBe('cancelled');
    expect(await page.locator('#cancel').isVisible()).toBe(false);
    await expect.poll(() => page.locator('#timeline-summary').textContent(), { timeout: 5000 }).toMatch(/cancelled \(request\)/);
    // Same page, no reload.
    expect(await page.evaluate(() => performance.timeOrigin)).toBe(before);
    expect((await getJson(`${stack.url}/api/v1/runs/${id}`, { authorization: `Bearer ${admin}` })).body.status).toBe('cancelled');
    expect(problems.filter((text) => !/401/.test(text))).toEqual([]);
  });


  it('retries a failed delivery from the page: attempts and answers shown, then delivered', async () => {
    const secret = 'relay-browser-secret-0123456789abcdef';
    const hooks = await WebhookReceiver.start(secret);
    try {
      stack = await startStack({
        sim: { runMs: 300, failRate: 0, seed: 15 },
        args: ['--relay-allow-private', '--relay-secret', secret, '--relay-retry-ms', '200', '--relay-scan-ms', '100'],
      });
      // The receiver is gone for good at first (410), so the delivery fails at once.
      hooks.answer({ status: 410 });
      const id = await start('relayed', {}, { webhookUrl: hooks.url() });
      await expect.poll(async () => (await getJson(`${stack!.url}/api/v1/runs/${id}/deliveries`)).body.data[0]?.status, { timeout: 10_000 }).toBe('failed');

      const page = await open();
      await row(page, id).locator('button.open').click();
      const delivery = page.locator('#delivery-rows tr');
      await expect.poll(() => delivery.getAttribute('data-status'), { timeout: 10_000 }).toBe('failed');
      expect(await delivery.locator('td[data-label="URL"]').textContent()).toBe(hooks.url());
      expect(await delivery.locator('td[data-label="Attempts"]').textContent()).toBe('1');
      expect(await delivery.locator('td[data-label="Last answer"]').textContent()).toBe('HTTP 410');

      await page.click('#retry-deliveries');
      await expect.poll(() => page.locator('#detail-message').textContent()).toContain('queued again');
      // The panel shows the delivery as it is after the retry; reopening shows the outcome.
      await expect
        .poll(async () => {
          await page.locator('#detail-close').click();
          await row(page, id).locator('button.open').click();
          return delivery.getAttribute('data-status');
        }, { timeout: 10_000 })
        .toBe('delivered');
      expect(await delivery.locator('td[data-label="Attempts"]').textContent()).toBe('2');
      expect(await page.locator('#retry-deliveries').isVisible()).toBe(false);
      expect(hooks.forRun(id).map((hook) => hook.verified)).toEqual([true, true]);
      expect(problems).toEqual([]);
    } finally {
      await hooks.close();
    }
  });

  it('draws the last hour from /api/v1/stats: webhooks and upstream calls as bars', async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 14 } });
    const page = await open();
    await page.locator('#conn[data-state="live"]').waitFor({ timeout: 10_000 });
    // The charts' minutes are the wall clock's: "this minute" is only 3 if the webhooks and the
    // checks below fall in one minute, so a start in a minute's last 25 s waits for the next
    // (and a second more, for the gateway's snapshot at the minute's turn).
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 35_000) await sleep(60_000 - intoMinute + 1000);
    for (let i = 0; i < 3; i++) await start('charted');
    await expect.poll(() => page.locator('#stat-webhooks-received').textContent(), { timeout: 10_000 }).toBe('3');
    await expect.poll(async () => Number(await page.locator('#chart-webhooks').getAttribute('data-drawn')), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.locator('#chart-webhooks rect').count()).toBeGreaterThan(0);
    const height = await page.locator('#chart-webhooks rect').last().evaluate((rect) => rect.getBoundingClientRect().height);
    expect(height).toBeGreaterThan(10);
    expect(await page.locator('#chart-upstream rect').count()).toBeGreaterThan(0);
    expect(await page.locator('#chart-webhooks').getAttribute('aria-label')).toMatch(/3 in all/);
    expect(await page.locator('#chart-webhooks-now').textContent()).toBe('3 this minute');
    expect(problems).toEqual([]);
  }, 60_000);

  it.runIf(SCREENSHOT_PATH !== undefined)('takes the README screenshot', async () => {
    stack = await startStack({ sim: { runMs: 3000, failRate: 0.25, webhookDropRate: 0.3, seed: 7 }, args: ['--poll-grace-ms', '1500', '--poll-min-grace-ms', '500', '--poll-interval-ms', '500'] });
    const flows = ['invoice-extractor', 'receipt-parser', 'contract-review', 'invoice-extractor', 'id-check', 'receipt-parser'];
    const ids: string[] = [];
    for (const flow of flows) ids.push(await start(flow));
    // Staging a picture, not waiting for an event: most of the first runs have ended by then.
    await new Promise((resolve) => setTimeout(resolve, 5500));
    const page = await open({ width: 1100, height: 760 });
    for (const flow of ['invoice-extractor', 'receipt-parser', 'id-check', 'contract-review']) ids.push(await start(flow));
    await row(page, ids.at(-1)!).waitFor({ timeout: 5000 });
    // The new runs are under way, some with progress, when the picture is taken.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await row(page, ids[1]!).locator('button.open').click();
    await expect.poll(() => page.locator('#timeline-summary').textContent(), { timeout: 10_000 }).not.toBe('');
    await page.screenshot({ path: SCREENSHOT_PATH!, fullPage: false });
    expect(statSync(SCREENSHOT_PATH!).size).toBeLessThan(300 * 1024);
    await context!.close();
    const phone = await open({ width: 390, height: 844 });
    await row(phone, ids.at(-1)!).waitFor({ timeout: 5000 });
    const phonePath = SCREENSHOT_PATH!.replace(/\.png$/, '-phone.png');
    await phone.screenshot({ path: phonePath, fullPage: false });
    expect(statSync(phonePath).size).toBeLessThan(300 * 1024);
  });
});
