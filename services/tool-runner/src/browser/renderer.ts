import { errorMessage, type Logger } from '@switchboard/core';
import { type EgressPolicy, findRefusal } from '@switchboard/egress';
import { type Browser, type BrowserContext, chromium, type Request, type Response } from 'playwright-core';
import type { EgressProxy } from '../net/egress-proxy.ts';
import { budgetMs, capText, ToolError } from '../tool.ts';
import { parseToolUrl } from '../tools/http-fetch.ts';
import {
  RENDER_MAX_BLOCKED_LISTED,
  type RenderAnswer,
  type RenderContext,
  type Renderer,
  type RenderRequest,
} from './protocol.ts';

export interface RendererOptions {
  executablePath: string;
  timeoutMs: number;
  maxTextBytes: number;
  maxScreenshotBytes: number;
}

/**
 * Chromium's own ways out, closed: it reaches the network only through the egress proxy (set at
 * launch), resolves no name itself, sends no WebRTC UDP around the proxy, and phones nobody home.
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-features=DnsOverHttps',
  '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
  '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
  '--webrtc-ip-handling-policy=disable_non_proxied_udp',
];

const portOf = (u: URL) => Number(u.port) || (u.protocol === 'https:' ? 443 : 80);

function isMainNavigation(req: Request): boolean {
  try {
    return req.isNavigationRequest() && req.frame().parentFrame() === null;
  } catch {
    // Service-worker requests have no frame.
    return false;
  }
}

/**
 * The browser tool's page work, the only code that drives Chromium: opens a page in headless
 * Chromium and returns its title, text and a screenshot. The target is judged before anything
 * connects; every request the page makes is judged again (and refused ones aborted) by a route on
 * its context, and the egress proxy enforces the same policy on every connection Chromium opens.
 * In compose it runs in tool-browser, which holds no database credential (browser/main.ts).
 */
export class BrowserRenderer implements Renderer {
  private browser: Promise<Browser> | undefined;

  constructor(
    private readonly o: RendererOptions,
    private readonly policy: EgressPolicy,
    private readonly proxy: EgressProxy,
    private readonly log: Logger,
  ) {}

  /** One Chromium for all calls, started on first use; each call gets a fresh context (no shared cookies). */
  private launch(): Promise<Browser> {
    this.browser ??= chromium
      .launch({
        executablePath: this.o.executablePath,
        headless: true,
        chromiumSandbox: false,
        args: CHROMIUM_ARGS,
        proxy: { server: this.proxy.url },
        timeout: 30_000,
      })
      .then((b) => {
        b.on('disconnected', () => {
          this.browser = undefined;
        });
        return b;
      })
      .catch((err) => {
        this.browser = undefined;
        throw new ToolError('TOOL_UNAVAILABLE', `the browser could not start: ${errorMessage(err)}`);
      });
    return this.browser;
  }

  async close(): Promise<void> {
    const b = await this.browser?.catch(() => undefined);
    this.browser = undefined;
    await b?.close().catch(() => {});
  }

  /** The policy's verdict on one URL, or undefined when it may be fetched. */
  private async verdict(u: URL): Promise<string | undefined> {
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return `${u.protocol} URLs are not opened`;
    try {
      await this.policy.resolve(u.hostname, portOf(u));
      return undefined;
    } catch (err) {
      return findRefusal(err)?.message ?? errorMessage(err);
    }
  }

  async render(a: RenderRequest, ctx: RenderContext): Promise<RenderAnswer> {
    const url = parseToolUrl(a.url);
    const limitMs = budgetMs(ctx, this.o.timeoutMs);
    try {
      await this.policy.resolve(url.hostname, portOf(url));
    } catch (err) {
      const refusal = findRefusal(err);
      if (refusal?.addressClass === 'unresolvable') throw new ToolError('TOOL_FAILED', refusal.message);
      throw new ToolError('TOOL_REFUSED', refusal?.message ?? errorMessage(err));
    }
    const browser = await this.launch();
    const context = await browser.newContext({
      serviceWorkers: 'block',
      acceptDownloads: false,
      viewport: { width: 1280, height: 800 },
    });
    const onAbort = () => void context.close().catch(() => {});
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const blocked: string[] = [];
    let mainRefusal: string | undefined;
    const pending: Array<Promise<void>> = [];
    const verdicts = new Map<string, Promise<string | undefined>>();
    /** Judges a request once per origin; records a refusal (and whether it was the page itself). */
    const judge = async (req: Request, u: URL): Promise<string | undefined> => {
      const key = `${u.protocol}//${u.hostname}:${portOf(u)}`;
      let v = verdicts.get(key);
      if (!v) {
        v = this.verdict(u);
        verdicts.set(key, v);
      }
      const why = await v;
      if (!why) return undefined;
      blocked.push(`${u.href.slice(0, 200)} — ${why}`);
      if (isMainNavigation(req)) mainRefusal ??= why;
      this.log.warn('browser request refused', {
        trace: { id: ctx.caller.traceId },
        url: { full: u.href.slice(0, 300) },
        error: { code: 'TOOL_REFUSED', message: why },
      });
      return why;
    };
    try {
      await context.route('**/*', async (route) => {
        const req = route.request();
        let u: URL;
        try {
          u = new URL(req.url());
        } catch {
          return route.abort('blockedbyclient');
        }
        if (u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
        return (await judge(req, u)) ? route.abort('blockedbyclient') : route.continue();
      });
      // Chromium follows redirects without asking the route again; those hops are judged here
      // (the egress proxy has already refused to connect them) so the model learns why.
      context.on('request', (req) => {
        if (!req.redirectedFrom()) return;
        try {
          pending.push(judge(req, new URL(req.url())).then(() => undefined));
        } catch {
          // not a URL: nothing to judge, and the proxy would not connect it anyway
        }
      });
      const refusal = async () => {
        await Promise.all(pending);
        return mainRefusal;
      };
      return await this.visit(context, url, a, limitMs, blocked, refusal, ctx);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      await context.close().catch(() => {});
    }
  }

  private async visit(
    context: BrowserContext,
    url: URL,
    a: RenderRequest,
    limitMs: number,
    blocked: string[],
    mainRefusal: () => Promise<string | undefined>,
    ctx: RenderContext,
  ): Promise<RenderAnswer> {
    const started = Date.now();
    const page = await context.newPage();
    let response: Response | null;
    try {
      response = await page.goto(url.href, { waitUntil: 'load', timeout: limitMs });
    } catch (err) {
      const why = await mainRefusal();
      if (why) throw new ToolError('TOOL_REFUSED', `the page led to a refused address: ${why}`);
      if (ctx.signal.aborted || /Timeout .*exceeded/.test(errorMessage(err))) {
        throw new ToolError('TOOL_TIMEOUT', `${url.href} did not load within ${limitMs} ms`);
      }
      throw new ToolError(
        'TOOL_FAILED',
        `${url.href} could not be opened: ${errorMessage(err).split('\n')[0]}`,
      );
    }
    const why = await mainRefusal();
    if (why) throw new ToolError('TOOL_REFUSED', `the page led to a refused address: ${why}`);
    const title = await page.title();
    // biome-ignore lint/performance/useDomNodeTextContent: innerText is the rendered text a reader sees; textContent would include scripts and hidden nodes.
    const text = await page.evaluate(() => document.body?.innerText ?? '');
    const left = Math.max(1_000, limitMs - (Date.now() - started));
    const shot = await page.screenshot({ type: 'png', fullPage: a.fullPage, timeout: left });
    if (shot.length > this.o.maxScreenshotBytes) {
      throw new ToolError(
        'TOOL_FAILED',
        `the screenshot is ${shot.length} bytes, over BROWSER_MAX_SCREENSHOT_BYTES (${this.o.maxScreenshotBytes}); try without fullPage`,
      );
    }
    const capped = capText(text.trim(), this.o.maxTextBytes);
    return {
      title: title.slice(0, 1024),
      url: page.url().slice(0, 8192),
      status: response?.status() ?? null,
      text: capped.text,
      truncated: capped.truncated,
      blocked: blocked.slice(0, RENDER_MAX_BLOCKED_LISTED).map((b) => b.slice(0, 1024)),
      blockedCount: blocked.length,
      screenshot: shot.toString('base64'),
    };
  }
}
