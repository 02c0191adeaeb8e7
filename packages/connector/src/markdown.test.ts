import { describe, expect, it } from 'vitest';
import { renderMarkdown, splitMarkdown } from './markdown.ts';

const sample =
  '# Disk report\n\n**sda1** is at *91%* — see [the runbook](https://wiki.example/disk?a=1&b=2).\n\n- clean `/var/log`\n- rotate <logs> & archives\n\n```bash\nrm -rf /tmp/*.log && echo "done"\n```';

describe('renderMarkdown', () => {
  it('renders Telegram HTML with everything Telegram would misread escaped', () => {
    expect(renderMarkdown(sample, 'telegram-html')).toBe(
      '<b>Disk report</b>\n\n<b>sda1</b> is at <i>91%</i> — see <a href="https://wiki.example/disk?a=1&amp;b=2">the runbook</a>.\n\n• clean <code>/var/log</code>\n• rotate &lt;logs&gt; &amp; archives\n\n<pre><code class="language-bash">rm -rf /tmp/*.log &amp;&amp; echo "done"</code></pre>',
    );
  });

  it('renders Slack mrkdwn: single-star bold, <url|text> links, escaped control characters', () => {
    const out = renderMarkdown(sample, 'slack');
    expect(out).toContain('*sda1* is at _91%_');
    expect(out).toContain('<https://wiki.example/disk?a=1&b=2|the runbook>');
    expect(out).toContain('rotate &lt;logs&gt; &amp; archives');
    expect(out).toContain('```\nrm -rf /tmp/*.log &amp;&amp; echo "done"\n```');
  });

  it('keeps Markdown for Discord but defuses @everyone and @here', () => {
    const out = renderMarkdown('**Heads up** @everyone and @here', 'discord');
    expect(out).toBe('**Heads up** @\u200beveryone and @\u200bhere');
  });

  it('keeps the Markdown subset WeCom and DingTalk read', () => {
    for (const d of ['wecom', 'dingtalk'] as const) {
      const out = renderMarkdown(sample, d);
      expect(out).toContain('# Disk report');
      expect(out).toContain('**sda1**');
      expect(out).toContain('[the runbook](https://wiki.example/disk?a=1&b=2)');
    }
  });

  it('renders a code block for WeCom as inline code line by line, since WeCom has no fences', () => {
    expect(renderMarkdown('```sh\ndf -h\n\necho `date`\n```', 'wecom')).toBe('`df -h`\n\necho `date`');
  });

  it('renders tables as a fixed-width block every client shows the same', () => {
    const out = renderMarkdown('| host | disk |\n|---|---|\n| web-1 | 91% |', 'slack');
    expect(out).toBe('```\nhost  | disk\n------|-----\nweb-1 | 91% \n```');
  });
});

describe('splitMarkdown', () => {
  const render = (md: string) => renderMarkdown(md, 'telegram-html');

  it('leaves a short reply whole', () => {
    expect(splitMarkdown('just this', 100, render)).toEqual(['just this']);
  });

  it('cuts between paragraphs first', () => {
    const paras = Array.from({ length: 6 }, (_, i) => `Paragraph ${i} ${'x'.repeat(30)}`);
    const parts = splitMarkdown(paras.join('\n\n'), 100, render);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(render(p).length).toBeLessThanOrEqual(100);
    expect(parts.join('\n\n')).toBe(paras.join('\n\n'));
  });

  it('closes and reopens a code block cut in two, keeping its language', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    const parts = splitMarkdown(`\`\`\`sh\n${lines.join('\n')}\n\`\`\``, 120, render);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.startsWith('```sh\n')).toBe(true);
      expect(p.endsWith('\n```')).toBe(true);
      expect(render(p).length).toBeLessThanOrEqual(120);
    }
    const body = parts.map((p) => p.slice('```sh\n'.length, -'\n```'.length)).join('\n');
    expect(body).toBe(lines.join('\n'));
  });

  it('cuts a long word without splitting a surrogate pair', () => {
    const word = '😀'.repeat(50);
    const parts = splitMarkdown(word, 21, (md) => md);
    expect(parts.join('')).toBe(word);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(21);
    for (const p of parts) expect(p).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
  });

  it('measures the rendered text, so escaping that grows a piece is accounted for', () => {
    const text = '&'.repeat(300);
    const parts = splitMarkdown(text, 100, render);
    for (const p of parts) expect(render(p).length).toBeLessThanOrEqual(100);
    expect(parts.join('')).toBe(text);
  });
});
