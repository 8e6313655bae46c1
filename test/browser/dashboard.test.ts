import { existsSync, statSync } from 'node:fs';
import { SignJWT } from 'jose';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { getJson, postJson, startBody, startStack, type Stack } from '../support/gateway-harness.js';

/** Debian's Chromium; `.ci/run` installs it. A browser is never downloaded. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];
/** Where to write a screenshot of the dashboard (docs/dashboard.png), when set. */
const SCREENSHOT_PATH = process.env.RUNGATE_SCREENSHOT;
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

  async function start(flowId: string, headers: Record<string, string> = {}): Promise<string> {
    const answer = await postJson(`${stack!.url}/api/v1/flows/${flowId}/run`, startBody(), headers);
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
      expect(csp).toContain("connect-src 'self' ws: wss:");
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
    expect(await row(page, id).evaluate((tr) => getComputedStyle(tr).display)).toBe('block');
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
    await page.screenshot({ path: SCREENSHOT_PATH!, fullPage: true });
    expect(statSync(SCREENSHOT_PATH!).size).toBeLessThan(200 * 1024);
  });
});
