import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PairingStore } from '@switchboard/connector';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/infra.ts';
import { ConsoleTestbed, screenshotDir } from './harness.ts';

/**
 * The admin console in real headless Chromium against the real message path: what a user sees
 * when logging in, finding a conversation and its trace, replaying a parked message, changing a
 * route and reading the audit log — and what a viewer may not do.
 */
describe('the admin console in a real browser (Debian Chromium)', () => {
  const bed = new ConsoleTestbed();
  const shots = screenshotDir();
  const shot = async (page: Page, name: string) => {
    // From the top: a page scrolled by a form would repeat its sticky bar mid-picture.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };

  beforeAll(async () => {
    await bed.start();
    // Some traffic, so the overview has figures to draw.
    for (const [conv, text] of [
      ['warm-up-1', 'good morning'],
      ['warm-up-2', 'what is on the rota today?'],
      ['warm-up-1', 'thanks!'],
    ] as const) {
      await bed.ask(conv, text);
    }
  }, 120_000);
  afterAll(async () => {
    await bed.stop();
    // A normal run leaves nothing behind; KEEP_SCREENSHOTS=1 keeps its temporary folder to look at.
    if (process.env.UPDATE_SCREENSHOTS !== '1' && !process.env.KEEP_SCREENSHOTS)
      rmSync(shots, { recursive: true, force: true });
  }, 60_000);

  it('logs in with a valid token and shows the overview with figures and charts that refresh', async () => {
    const { context, page, errors } = await bed.login('viewer');
    expect(new URL(page.url()).pathname).toBe('/admin/');
    await page.waitForSelector('.card[data-card="messages"] .value');
    expect(Number(await page.textContent('.card[data-card="messages"] .value'))).toBeGreaterThanOrEqual(3);
    expect(await page.textContent('.card[data-card="services"] .value')).toBe('2 / 2');
    expect(await page.textContent('.card[data-card="p50"] .value')).toMatch(/\d+ ms/);
    // Messages per platform, model usage and queue depths as SVG bars; the web platform is there.
    expect(await page.locator('svg.bar-chart').count()).toBe(3);
    await page.waitForSelector('svg.bar-chart >> text=web');
    await page.waitForSelector('svg.bar-chart >> text=fake-small');
    expect(await page.locator('svg.bar-chart rect.bar').count()).toBeGreaterThanOrEqual(2);
    // Live: the next refresh (every 5 s) adds a sample, drawn as lines.
    const first = await page.textContent('#updated');
    await page.waitForFunction(
      (before) => document.querySelector('#updated')?.textContent !== before,
      first,
      {
        timeout: 15_000,
      },
    );
    // A line of at least two samples (it may be flat: state attached, not visible).
    await page.waitForSelector('svg.line-chart path.line[d*="L"]', { state: 'attached' });
    // The pages send a strict CSP; the shell loaded nothing that broke it.
    const res = await page.request.get(`${bed.url}/admin/`);
    expect(res.headers()['content-security-policy']).toMatch(/default-src 'self'/);
    expect(errors).toEqual([]);
    await shot(page, 'overview');
    await context.close();
  }, 60_000);

  it('shows the reason on the login page for a wrong token and lets nobody in', async () => {
    const context = await bed.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${bed.url}/admin/login`);
    await page.fill('#token', `sbt_aaaaaaaaaaaa_${'x'.repeat(43)}`);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#login-error:has-text("unknown admin token")');
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await shot(page, 'login');
    // Without a session a page sends the browser to the login form, keeping where it was going.
    await page.goto(`${bed.url}/admin/parking`);
    await page.waitForURL(/\/admin\/login\?next=%2Fadmin%2Fparking/);
    await context.close();
  }, 30_000);

  it('behind nginx: the login form shown in place of a page works without its assets and returns to that page', async () => {
    // What nginx does for a browser without a session: every /admin page and asset answers 401 with
    // the login form (error_page 401 → GET /admin/login); with the cookie, the request goes through.
    const context = await bed.browser.newContext();
    const form = await (await fetch(`${bed.url}/admin/login`)).text();
    const loginCsp = (await fetch(`${bed.url}/admin/login`)).headers.get('content-security-policy') ?? '';
    await context.route(/\/admin(\/|$)(?!api\/|login$)/, async (route) => {
      const cookie = (await route.request().allHeaders()).cookie ?? '';
      if (/sb_session=/.test(cookie)) return route.continue();
      return route.fulfill({
        status: 401,
        contentType: 'text/html; charset=utf-8',
        headers: { 'content-security-policy': loginCsp },
        body: form,
      });
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${bed.url}/admin/conversations?q=invoice`);
    // The form is styled and scripted although /admin/assets/* is out of reach.
    expect(await page.locator('.login-box').evaluate((el) => getComputedStyle(el).borderRadius)).toBe('8px');
    await page.fill('#token', bed.tokens.viewer);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#who:has-text("viewer-user")');
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe('/admin/conversations?q=invoice');
    await page.waitForSelector('#search-q');
    expect(await page.inputValue('#search-q')).toBe('invoice');
    expect(errors).toEqual([]);
    await context.close();
  }, 30_000);

  it('finds a conversation by its text, opens the transcript and the trace of a message', async () => {
    const { id, reply } = await bed.ask('console-conv-1', 'Where is invoice 4711?');
    expect(reply.text).toBe('echo: Where is invoice 4711?');
    const { context, page, errors } = await bed.login('viewer', '/admin/conversations');
    await page.fill('#search-q', 'invoice 4711');
    await page.click('#search button[type=submit]');
    const row = page.locator('tr[data-conversation]', { hasText: 'console-conv-1' });
    await row.waitFor();
    expect(await page.locator('tr[data-conversation]').count()).toBe(1);
    await row.locator('button', { hasText: 'Open' }).click();
    await page.waitForSelector('.msg.user:has-text("Where is invoice 4711?")');
    await page.waitForSelector('.msg.assistant:has-text("echo: Where is invoice 4711?")');
    await page.locator(`.msg[data-message-id="${id}"] .trace-button`).click();
    await page.waitForSelector('#trace tr.hop');
    const hops = await page.$$eval('#trace tr.hop', (rows) => rows.map((r) => r.textContent ?? ''));
    expect(hops.some((h) => /ingress-web.*received/.test(h))).toBe(true);
    expect(hops.some((h) => /agent-worker.*processed/.test(h))).toBe(true);
    expect(hops.some((h) => /agent-worker.*reply stored \(ok\)/.test(h))).toBe(true);
    expect(hops.some((h) => /outbox-relay.*reply published/.test(h))).toBe(true);
    const calls = await page.$$eval('#trace tr.model-call', (rows) => rows.map((r) => r.textContent ?? ''));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/fake-small.*ok.*ms/);
    expect(await page.textContent('#trace')).toMatch(/No tool was called/);
    // The URL keeps the search, the conversation and the trace: a link to share.
    expect(page.url()).toMatch(/q=invoice\+4711.*conversation=\d+.*trace=/);
    expect(errors).toEqual([]);
    await shot(page, 'conversations');
    await context.close();
  }, 60_000);

  it('lists a parked message with its reason; Replay sends it back and it gets answered', async () => {
    const parked = await bed.park('console-parked', 'please replay me', 'model backend down (attempt 3)');
    const { context, page, errors } = await bed.login('operator', '/admin/parking');
    const row = page.locator(`tr.parked[data-message-id="${parked.id}"]`);
    await row.waitFor();
    expect(await row.locator('td.reason').textContent()).toMatch(/model backend down \(attempt 3\)/);
    await row.locator('button.inspect').click();
    await page.waitForSelector('#parked-detail pre.json:has-text("please replay me")');
    await shot(page, 'parking');

    await row.locator('button.replay').click();
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('#confirm-ok');
    await page.waitForSelector(`#parking-note:has-text("Replayed ${parked.id}")`);
    await row.waitFor({ state: 'detached' });
    // The worker (with the fake LLM healthy) answers the replayed message.
    const reply = await bed.replyTo(parked.id);
    expect(reply).toMatchObject({ status: 'ok', text: 'echo: please replay me' });
    await page.goto(`${bed.url}/admin/conversations?q=please+replay+me`);
    await page.locator('tr[data-conversation]', { hasText: 'console-parked' }).locator('button').click();
    await page.waitForSelector('.msg.assistant:has-text("echo: please replay me")');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('as admin, a routing rule made on the Configuration page steers the next message, and is audited', async () => {
    bed.llm.setRules([{ match: { model: 'fake-large' }, reply: 'VIP desk: we are on it.' }]);
    const { context, page, errors } = await bed.login('admin', '/admin/config');
    // A profile with its own prompt and model.
    await page.fill('#profile-name', 'vip');
    await page.fill('#profile-description', 'customers who pay for priority');
    await page.fill('#profile-prompt', 'You are the VIP desk. Be brief.');
    await page.fill('#profile-models', 'ollama/fake-large');
    await page.click('#profile-save');
    await page.waitForSelector('tr.profile[data-profile="vip"]');

    // The API's validation reaches the form.
    await page.fill('#route-name', 'VIP desk');
    await page.fill('#route-match', '{"platform": "myspace"}');
    await page.selectOption('#route-target-kind', 'profile');
    await page.selectOption('#route-profile', 'vip');
    await page.click('#route-save');
    await page.waitForSelector('#route-error .error');
    expect(await page.textContent('#route-error')).toMatch(/platform/);
    expect(await page.locator('tr.rule').count()).toBe(0);

    await page.fill('#route-match', '{"text": "^#vip\\\\b"}');
    await page.click('#route-save');
    await page.waitForSelector('tr.rule[data-name="VIP desk"]');
    expect(await page.textContent('tr.rule[data-name="VIP desk"]')).toMatch(/profile vip/);
    await shot(page, 'configuration');

    // The audit log shows the change with its actor.
    await page.goto(`${bed.url}/admin/audit`);
    const entry = page.locator('tr.entry[data-action="route.create"]');
    await entry.waitFor();
    expect(await entry.locator('td.actor').textContent()).toBe('admin-user');
    expect(await page.locator('tr.entry[data-action="profile.create"] td.actor').textContent()).toBe(
      'admin-user',
    );
    await shot(page, 'audit');

    // The running worker follows the new rule: no restart (its periodic reload is 10 minutes away).
    const vip = await bed.ask('console-vip', '#vip my order is late');
    expect(vip.reply).toMatchObject({ status: 'ok', text: 'VIP desk: we are on it.' });
    const call = bed.llm.calls.find((c) => c.messages.at(-1)?.content === '#vip my order is late');
    expect(call?.model).toMatch(/^fake-large/);
    expect(call?.messages[0]).toMatchObject({
      role: 'system',
      content: expect.stringContaining('You are the VIP desk.'),
    });
    // Other messages still go to the default profile.
    expect((await bed.ask('console-vip', 'a normal question')).reply.text).toBe('echo: a normal question');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);

  it('as viewer, Replay is disabled and the API refuses a forced replay with 403', async () => {
    const parked = await bed.park('console-viewer', 'leave me parked', 'tool-runner unreachable');
    const { context, page } = await bed.login('viewer', '/admin/parking');
    const row = page.locator(`tr.parked[data-message-id="${parked.id}"]`);
    await row.waitFor();
    expect(await row.locator('button.replay').isDisabled()).toBe(true);
    expect(await row.locator('button.discard').isDisabled()).toBe(true);
    expect(await row.locator('button.replay').getAttribute('title')).toMatch(
      /needs the operator role; you are viewer/,
    );
    const id = await row.getAttribute('data-id');
    const forced = await page.evaluate(async (pid) => {
      const res = await fetch(`/admin/api/parking/${pid}/replay`, { method: 'POST' });
      return { status: res.status, body: await res.json() };
    }, id);
    expect(forced.status).toBe(403);
    expect(forced.body.error.code).toBe('SB_ERR_FORBIDDEN');
    // Still parked.
    await page.reload();
    await row.waitFor();
    // The configuration is readable but offers no forms to a viewer.
    await page.goto(`${bed.url}/admin/config`);
    await page.waitForSelector('#routes h2');
    expect(await page.locator('#route-form').count()).toBe(0);
    await page.waitForSelector('p.warn:has-text("Your role (viewer)")');
    await context.close();
  }, 60_000);

  it('shows the logs, pairing and workflows pages', async () => {
    const { context, page, errors } = await bed.login('operator', '/admin/logs');
    await page.waitForSelector('#log-lines');
    await page.waitForFunction(
      () => /live|paused/.test(document.querySelector('#log-status')?.textContent ?? ''),
      null,
      {
        timeout: 15_000,
      },
    );
    await shot(page, 'logs');
    // Two strangers wrote to a Telegram bot: one is approved on the page, one waits.
    const pairing = new PairingStore(bed.db);
    for (const [externalId, userName] of [
      ['4242', 'Ada'],
      ['5151', 'Grace'],
    ] as const) {
      await pairing.open({
        platform: 'telegram',
        botId: 'ops-bot',
        externalId,
        userName,
        conversationId: externalId,
        messageId: `tg:ops-bot:${externalId}`,
        code: '123456',
        ttlSeconds: 3600,
      });
    }
    await page.goto(`${bed.url}/admin/pairing`);
    const ada = page.locator('#pending tr', { hasText: '4242' });
    await ada.waitFor();
    await page.waitForSelector('#blocklist h2');
    await ada.locator('button', { hasText: 'Approve' }).click();
    await page.waitForSelector('#pairing-note:has-text("Approved 4242")');
    await page.waitForSelector('#paired tr:has-text("4242"):has-text("operator-user")');
    expect(await page.locator('#pending tr', { hasText: '5151' }).count()).toBe(1);
    await shot(page, 'pairing');
    // The real scheduler's workflows: the shipped seed and an on-demand one, run from the page.
    await page.goto(`${bed.url}/admin/workflows`);
    await page.waitForSelector('tr[data-workflow="daily-report"]:has-text("0 9 * * *")');
    const health = page.locator('tr[data-workflow="web-health"]');
    await health.locator('button', { hasText: 'Run now' }).click();
    await page.click('#confirm-ok');
    await page.waitForSelector('text=Started web-health');
    // The run finishes on the scheduler; the Runs view shows it succeeded.
    await waitFor(
      'the web-health run to succeed',
      async () => {
        await health.locator('button', { hasText: 'Runs' }).click();
        return (await page.locator('#runs').textContent())?.includes('succeeded');
      },
      30_000,
      500,
    );
    await shot(page, 'workflows');
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});
