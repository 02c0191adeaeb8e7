import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

describe('the web chat page in a real browser (Debian Chromium)', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: llm.url } }).start();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // This machine has no network: without these flags Chromium keeps trying to reach Google.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await llm?.close();
  });

  it('connects with a token, sends a message, shows the answer and answers to the API too', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${stack.web.url}/`);
    await page.fill('#token', stack.token);
    await page.fill('#conversation', 'browser-1');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status.online');

    await page.fill('#text', 'hello from the browser');
    await page.press('#text', 'Enter');
    await page.waitForSelector('.msg.assistant:has-text("echo: hello from the browser")');

    // A message sent over the HTTP API to the same conversation shows up in the page as well.
    await postMessage(stack.web.url, stack.token, { conversationId: 'browser-1', text: 'from the API' });
    await page.waitForSelector('.msg.assistant:has-text("echo: from the API")');

    const texts = await page.$$eval('.msg', (els) => els.map((e) => `${e.className}: ${e.textContent}`));
    expect(texts).toEqual([
      'msg user : hello from the browser',
      'msg assistant : echo: hello from the browser',
      'msg assistant : echo: from the API',
    ]);
    expect(errors).toEqual([]);
    mkdirSync(join(ROOT, '.stack'), { recursive: true });
    await page.screenshot({ path: join(ROOT, '.stack', 'chat-page.png') });
  });

  it('sends the user back to the login form on a wrong token', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.web.url}/`);
    await page.fill('#token', 'this-is-not-the-right-token');
    await page.fill('#conversation', 'browser-2');
    await page.click('button[type=submit]');
    await page.waitForSelector('.msg.error:has-text("invalid API token")');
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.isVisible('#composer')).toBe(false);
  });
});
