import { type BrowserArgs, browserArgs } from '@switchboard/tools';
import type { ToolAttachmentStore } from '../attachments.ts';
import type { Renderer } from '../browser/protocol.ts';
import type { Tool, ToolOutput, ToolRunContext } from '../tool.ts';

/**
 * browser: opens a page in headless Chromium and returns its title, text and a screenshot (stored
 * as an attachment). The page work is the renderer's (browser/renderer.ts) — in compose in
 * tool-browser, over the broker (browser/remote.ts) — while the grant check before it and the
 * attachment stored after it stay here, with the database.
 */
export class BrowserTool implements Tool<typeof browserArgs> {
  readonly name = 'browser' as const;
  readonly args = browserArgs;

  constructor(
    private readonly renderer: Renderer,
    private readonly store: ToolAttachmentStore,
  ) {}

  close(): Promise<void> {
    return this.renderer.close();
  }

  async run(a: BrowserArgs, ctx: ToolRunContext): Promise<ToolOutput> {
    const page = await this.renderer.render(
      { url: a.url, fullPage: a.fullPage },
      { signal: ctx.signal, deadline: ctx.deadline, caller: ctx.request.caller },
    );
    const attachment = await this.store.save(
      Buffer.from(page.screenshot, 'base64'),
      'screenshot.png',
      'image/png',
    );
    const head = [`title: ${page.title}`, `url: ${page.url}`, `status: ${page.status ?? 'unknown'}`];
    if (page.blockedCount > 0) {
      head.push(`blocked ${page.blockedCount} request(s) to refused addresses:`);
      for (const b of page.blocked) head.push(`  ${b}`);
    }
    head.push(`screenshot: ${attachment.url}`);
    return {
      output: `${head.join('\n')}\n\n${page.text}`,
      truncated: page.truncated,
      attachments: [attachment],
    };
  }
}
