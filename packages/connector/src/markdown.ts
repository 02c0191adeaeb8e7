import { Lexer, type Token, type Tokens } from 'marked';

/**
 * Models answer in CommonMark. Each platform reads a different dialect (Telegram's HTML subset,
 * Slack mrkdwn, Discord's Markdown, the WeCom and DingTalk Markdown subsets), and each misreads
 * something the others accept, so the reply is parsed once and rendered per dialect with that
 * dialect's escaping.
 */
export type Dialect = 'telegram-html' | 'slack' | 'discord' | 'wecom' | 'dingtalk' | 'plain';

const escapeHtml = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const escapeAttr = (s: string) => escapeHtml(s).replaceAll('"', '&quot;');
// Slack: only these three are control characters in mrkdwn text.
const escapeSlack = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
// Discord: a model must not be able to ping a whole server.
const defuseDiscord = (s: string) => s.replace(/@(everyone|here)/g, '@\u200b$1');

interface InlineRenderer {
  text(s: string): string;
  strong(inner: string): string;
  em(inner: string): string;
  del(inner: string): string;
  code(s: string): string;
  link(href: string, inner: string, raw: string): string;
  br: string;
}

// WeCom and DingTalk read the same Markdown subset inline: no strikethrough, no escapes.
const markdownSubset: InlineRenderer = {
  text: (s) => s,
  strong: (i) => `**${i}**`,
  em: (i) => `*${i}*`,
  del: (i) => i,
  code: (s) => `\`${s}\``,
  link: (href, i) => `[${i}](${href})`,
  br: '\n',
};

const inline: Record<Dialect, InlineRenderer> = {
  'telegram-html': {
    text: escapeHtml,
    strong: (i) => `<b>${i}</b>`,
    em: (i) => `<i>${i}</i>`,
    del: (i) => `<s>${i}</s>`,
    code: (s) => `<code>${escapeHtml(s)}</code>`,
    link: (href, i) => `<a href="${escapeAttr(href)}">${i}</a>`,
    br: '\n',
  },
  slack: {
    text: escapeSlack,
    strong: (i) => `*${i}*`,
    em: (i) => `_${i}_`,
    del: (i) => `~${i}~`,
    code: (s) => `\`${escapeSlack(s)}\``,
    link: (href, i) => `<${href.replaceAll('|', '%7C').replaceAll('>', '%3E')}|${i}>`,
    br: '\n',
  },
  // Discord, WeCom and DingTalk read Markdown themselves: keep the model's own markup.
  discord: {
    text: defuseDiscord,
    strong: (i) => `**${i}**`,
    em: (i) => `*${i}*`,
    del: (i) => `~~${i}~~`,
    code: (s) => `\`${s}\``,
    link: (href, i) => `[${i}](${href})`,
    br: '\n',
  },
  wecom: markdownSubset,
  dingtalk: markdownSubset,
  plain: {
    text: (s) => s,
    strong: (i) => i,
    em: (i) => i,
    del: (i) => i,
    code: (s) => s,
    link: (href, i, raw) => (i === href || raw === href ? href : `${i} (${href})`),
    br: '\n',
  },
};

function renderInline(tokens: Token[] | undefined, d: Dialect): string {
  if (!tokens) return '';
  const r = inline[d];
  let out = '';
  for (const t of tokens) {
    switch (t.type) {
      case 'strong':
        out += r.strong(renderInline(t.tokens, d));
        break;
      case 'em':
        out += r.em(renderInline(t.tokens, d));
        break;
      case 'del':
        out += r.del(renderInline(t.tokens, d));
        break;
      case 'codespan':
        // marked keeps entities in codespan text escaped; the renderer escapes for its dialect itself.
        out += r.code(unescapeEntities((t as Tokens.Codespan).text));
        break;
      case 'link': {
        const l = t as Tokens.Link;
        out += r.link(l.href, renderInline(l.tokens, d), l.text);
        break;
      }
      case 'image': {
        const img = t as Tokens.Image;
        out += r.link(img.href, r.text(img.text || img.href), img.text);
        break;
      }
      case 'br':
        out += r.br;
        break;
      case 'escape':
      case 'html':
        out += r.text(unescapeEntities(t.raw.startsWith('\\') ? t.raw.slice(1) : t.raw));
        break;
      case 'text': {
        const tt = t as Tokens.Text;
        out += tt.tokens ? renderInline(tt.tokens, d) : r.text(unescapeEntities(tt.text));
        break;
      }
      default:
        out += r.text(t.raw);
    }
  }
  return out;
}

function unescapeEntities(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

function renderCode(code: string, lang: string | undefined, d: Dialect): string {
  switch (d) {
    case 'telegram-html':
      return lang
        ? `<pre><code class="language-${escapeAttr(lang)}">${escapeHtml(code)}</code></pre>`
        : `<pre>${escapeHtml(code)}</pre>`;
    case 'slack':
      return `\`\`\`\n${escapeSlack(code)}\n\`\`\``;
    case 'plain':
      return code;
    case 'wecom':
      // WeCom's Markdown has inline code only (no fences, no multi-line spans): one span per line
      // keeps the code monospaced; a line holding a backtick stays plain rather than break.
      return code
        .split('\n')
        .map((line) => (line.trim() === '' || line.includes('`') ? line : `\`${line}\``))
        .join('\n');
    default:
      return `\`\`\`${lang ?? ''}\n${code}\n\`\`\``;
  }
}

function renderHeading(inner: string, depth: number, d: Dialect): string {
  switch (d) {
    case 'telegram-html':
      return `<b>${inner}</b>`;
    case 'slack':
      return `*${inner}*`;
    case 'plain':
      return inner;
    default:
      return `${'#'.repeat(Math.min(depth, 6))} ${inner}`;
  }
}

function renderQuote(inner: string, d: Dialect): string {
  switch (d) {
    case 'telegram-html':
      return `<blockquote>${inner}</blockquote>`;
    case 'plain':
      return inner;
    default:
      return inner
        .split('\n')
        .map((l) => `> ${l}`)
        .join('\n');
  }
}

function renderList(list: Tokens.List, d: Dialect, depth: number): string {
  const start = typeof list.start === 'number' ? list.start : 1;
  return list.items
    .map((item, i) => {
      const bullet = list.ordered
        ? `${start + i}.`
        : d === 'discord' || d === 'wecom' || d === 'dingtalk'
          ? '-'
          : '•';
      const body = renderBlocks(item.tokens, d, depth + 1).replace(/\n/g, `\n${'  '.repeat(depth + 1)}`);
      const check = item.task ? (item.checked ? '[x] ' : '[ ] ') : '';
      return `${'  '.repeat(depth)}${bullet} ${check}${body}`;
    })
    .join('\n');
}

function renderTable(t: Tokens.Table, d: Dialect): string {
  // No dialect here has tables that survive every client: a fixed-width block always reads right.
  const rows = [t.header.map((c) => c.text), ...t.rows.map((r) => r.map((c) => c.text))];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  const text = [
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('-|-'),
    ...rows.slice(1).map(line),
  ].join('\n');
  return renderCode(text, undefined, d);
}

function renderBlocks(tokens: Token[], d: Dialect, depth = 0): string {
  const parts: string[] = [];
  for (const t of tokens) {
    switch (t.type) {
      case 'space':
        break;
      case 'paragraph':
      case 'text': {
        const p = t as Tokens.Paragraph;
        parts.push(p.tokens ? renderInline(p.tokens, d) : inline[d].text(p.text));
        break;
      }
      case 'heading': {
        const h = t as Tokens.Heading;
        parts.push(renderHeading(renderInline(h.tokens, d), h.depth, d));
        break;
      }
      case 'code': {
        const c = t as Tokens.Code;
        parts.push(renderCode(c.text, c.lang || undefined, d));
        break;
      }
      case 'blockquote':
        parts.push(renderQuote(renderBlocks((t as Tokens.Blockquote).tokens, d, depth), d));
        break;
      case 'list':
        parts.push(renderList(t as Tokens.List, d, depth));
        break;
      case 'table':
        parts.push(renderTable(t as Tokens.Table, d));
        break;
      case 'hr':
        parts.push(d === 'telegram-html' || d === 'slack' || d === 'plain' ? '———' : '---');
        break;
      default:
        parts.push(inline[d].text(t.raw.trim()));
    }
  }
  return parts.join(depth === 0 ? '\n\n' : '\n');
}

/** Renders the model's Markdown in a platform's dialect. */
export function renderMarkdown(markdown: string, dialect: Dialect): string {
  return renderBlocks(new Lexer({ gfm: true }).lex(markdown), dialect).trim();
}

const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/;

/**
 * Splits Markdown into pieces that each render within `limit` characters. It cuts between blocks
 * first, then between lines, then between words; a code block that must be cut is closed at the
 * cut and reopened (same language) in the next piece, so every piece renders as valid code.
 */
export function splitMarkdown(markdown: string, limit: number, render: (md: string) => string): string[] {
  const fits = (md: string) => render(md).length <= limit;
  const text = markdown.trim();
  if (text.length === 0) return [];
  if (fits(text)) return [text];

  const blocks = new Lexer({ gfm: true })
    .lex(text)
    .filter((t) => t.type !== 'space')
    .map((t) => t.raw.replace(/\n+$/, ''));
  const out: string[] = [];
  let current = '';
  const flush = () => {
    if (current.trim()) out.push(current.trim());
    current = '';
  };
  for (const block of blocks) {
    const joined = current ? `${current}\n\n${block}` : block;
    if (fits(joined)) {
      current = joined;
      continue;
    }
    flush();
    if (fits(block)) {
      current = block;
      continue;
    }
    for (const piece of splitBlock(block, fits)) out.push(piece);
  }
  flush();
  return out;
}

function splitBlock(block: string, fits: (md: string) => boolean): string[] {
  const lines = block.split('\n');
  const open = FENCE.exec(lines[0] ?? '');
  if (open && lines.length >= 2) {
    const fence = open[2]!;
    const header = `${open[1]}${fence}${open[3]}`;
    const closing = FENCE.exec(lines.at(-1) ?? '') ? lines.at(-1)! : `${open[1]}${fence}`;
    const body = lines.slice(1, FENCE.exec(lines.at(-1) ?? '') ? -1 : undefined);
    return greedy(body, '\n', (chunk) => fits(`${header}\n${chunk}\n${closing}`)).map(
      (chunk) => `${header}\n${chunk}\n${closing}`,
    );
  }
  if (lines.length > 1) return greedy(lines, '\n', fits, (line) => splitBlock(line, fits));
  const words = block.split(' ');
  if (words.length > 1) return greedy(words, ' ', fits, (w) => hardCut(w, fits));
  return hardCut(block, fits);
}

/** Joins units with sep while the result fits; a unit too big on its own goes through `tooBig`. */
function greedy(
  units: string[],
  sep: string,
  fits: (s: string) => boolean,
  tooBig: (unit: string) => string[] = (u) => hardCut(u, fits),
): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const unit of units) {
    const joined = current === undefined ? unit : `${current}${sep}${unit}`;
    if (fits(joined)) {
      current = joined;
      continue;
    }
    if (current?.trim()) out.push(current);
    current = undefined;
    if (fits(unit)) current = unit;
    else out.push(...tooBig(unit));
  }
  if (current?.trim()) out.push(current);
  return out;
}

/** Last resort: the longest prefixes that fit, never cutting a surrogate pair. */
function hardCut(s: string, fits: (s: string) => boolean): string[] {
  const chars = Array.from(s);
  const out: string[] = [];
  let start = 0;
  while (start < chars.length) {
    let lo = 1;
    let hi = chars.length - start;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(chars.slice(start, start + mid).join(''))) lo = mid;
      else hi = mid - 1;
    }
    out.push(chars.slice(start, start + lo).join(''));
    start += lo;
  }
  return out;
}
