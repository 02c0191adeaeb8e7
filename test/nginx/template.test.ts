/**
 * The template's own structure, for the rules nginx cannot enforce itself: a location with any
 * proxy_set_header silently drops the server's whole list (Cookie "" included), so each such
 * location must restate it, and only the admin service's locations may forward the cookie jar.
 */
import { describe, expect, it } from 'vitest';
import { renderProductionTemplate } from './render-config.ts';

interface Block {
  head: string;
  parent: Block | undefined;
  /** Directives of the block and of any block nested in it (an `if`), one per entry. */
  directives: string[];
}

/** Splits a config into its `server` and `location` blocks; enough for this template's shape. */
function blocks(conf: string): Block[] {
  const text = conf.replace(/#[^\n]*/g, '');
  const out: Block[] = [];
  const open: Block[] = [];
  let buf = '';
  let quote: string | null = null;
  for (const ch of text) {
    if (quote) {
      buf += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      buf += ch;
    } else if (ch === '{') {
      const block: Block = { head: buf.trim().replace(/\s+/g, ' '), parent: open.at(-1), directives: [] };
      open.push(block);
      out.push(block);
      buf = '';
    } else if (ch === ';') {
      const d = buf.trim().replace(/\s+/g, ' ');
      for (const b of open) b.directives.push(d);
      buf = '';
    } else if (ch === '}') {
      open.pop();
      buf = '';
    } else buf += ch;
  }
  return out;
}

// Rendered first: the ${NGINX_*} placeholders have braces of their own.
const all = blocks(renderProductionTemplate());
const locations = all.filter((b) => b.head.startsWith('location '));
const proxied = locations.filter((b) => b.directives.some((d) => d.startsWith('proxy_pass ')));
const headerOf = (b: Block, name: string) =>
  b.directives
    .filter((d) => d.toLowerCase().startsWith(`proxy_set_header ${name.toLowerCase()} `))
    .map((d) => d.slice(`proxy_set_header ${name} `.length));

/** The only locations whose upstream may read the browser's cookies, and which ones. */
const COOKIE_ALLOWED: Record<string, string> = {
  'location = /_sb_admin_auth': '$http_cookie',
  'location = /admin/login': '$http_cookie',
  'location /admin': '$http_cookie',
  'location @sb_admin_login_form': '$http_cookie',
  'location /admin/api/': '$http_cookie',
  'location /kibana/': '$sb_kibana_cookie',
};
const BASE = [
  'Host',
  'X-Forwarded-Host',
  'X-Forwarded-For',
  'X-Real-IP',
  'X-Forwarded-Proto',
  'X-Request-Id',
  'Connection',
  'Cookie',
];

describe('nginx template structure', () => {
  it('checks the path of every HTTPS request once, in the server, before any location', () => {
    const https = all.find((b) => b.head === 'server' && b.directives.some((d) => d.includes(' ssl ')));
    expect(https).toBeDefined();
    const check = all.filter((b) => b.head === 'if ($sb_bad_uri)');
    expect(check).toHaveLength(1);
    expect(check[0]?.parent).toBe(https);
    expect(check[0]?.directives).toEqual(['return 418']);
    // 418 means this refusal and nothing else.
    expect(
      all.filter((b) => b.directives.includes('return 418') && b.head !== 'server' && b.head !== 'http'),
    ).toEqual(check);
    expect(https?.directives).toContain('error_page 418 = @sb_refused_path');
  });

  it('restates the full header list, Cookie included, in every location that sets its own', () => {
    expect(proxied.length).toBeGreaterThan(10);
    for (const loc of proxied) {
      if (!loc.directives.some((d) => d.startsWith('proxy_set_header '))) continue;
      for (const name of BASE) expect(headerOf(loc, name), `${loc.head}: ${name}`).toHaveLength(1);
    }
  });

  it('forwards cookies only to the admin service, and to Kibana only its own session', () => {
    for (const loc of proxied) {
      const own = headerOf(loc, 'Cookie');
      // No list of its own: the server's `Cookie ""` applies.
      const cookie = own[0] ?? '""';
      expect(cookie, loc.head).toBe(COOKIE_ALLOWED[loc.head] ?? '""');
    }
  });

  it('decides Authorization explicitly for every third-party console', () => {
    const thirdParty = proxied.filter((l) =>
      l.directives.some((d) => /^set \$sb_up "(rabbitmq|kibana|alertmanager):/.test(d)),
    );
    expect(thirdParty.map((l) => l.head).sort()).toEqual([
      'location /alertmanager/',
      'location /kibana/',
      'location /rabbitmq/',
    ]);
    for (const loc of thirdParty) {
      expect(headerOf(loc, 'Authorization'), loc.head).toEqual([
        loc.head === 'location /rabbitmq/' ? '$sb_basic_authorization' : '""',
      ]);
      expect(loc.directives, loc.head).toContain('auth_request /_sb_admin_auth');
    }
  });
});
