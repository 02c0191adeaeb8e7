import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CONSOLE_PAGES, registerConsole } from '../../services/admin/src/console/index.ts';

describe('the console plugin', () => {
  it('serves every page as the shell, the login form and the assets, each with a strict CSP', async () => {
    const app = Fastify();
    registerConsole(app);
    for (const path of CONSOLE_PAGES) {
      const res = await app.inject({ url: path });
      expect(res.statusCode, path).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).toMatch(
        /^default-src 'self'; script-src 'self'; style-src 'self'/,
      );
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    // The login form is shown by nginx where /admin/assets/* is out of reach: it carries its own.
    const login = await app.inject({ url: '/admin/login' });
    expect(login.body).toMatch(/<form id="login" method="post" action="\/admin\/login">/);
    expect(login.body).not.toMatch(/\/admin\/assets\//);
    expect(login.body).toMatch(/<style>[^<]*\.login-box/);
    expect(login.body).toMatch(/<script type="module">/);
    expect(login.headers['content-security-policy']).toMatch(/^default-src 'self'; /);
    expect(login.headers['content-security-policy']).toMatch(
      /script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/,
    );
    const js = await app.inject({ url: '/admin/assets/pages/overview.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await app.inject({ url: '/admin/assets/style.css' })).headers['content-type']).toBe(
      'text/css; charset=utf-8',
    );
    // Only the files read at start: nothing else of the disk, however the path is spelled.
    for (const url of [
      '/admin/assets/nope.js',
      '/admin/assets/../index.html',
      '/admin/assets/..%2F..%2Fsrc%2Fapp.ts',
    ]) {
      expect((await app.inject({ url })).statusCode, url).toBe(404);
    }
    await app.close();
  });

  it('no asset of the console comes from another origin', async () => {
    const app = Fastify();
    registerConsole(app);
    const files = [
      '/admin/',
      '/admin/login',
      '/admin/assets/app.js',
      '/admin/assets/style.css',
      '/admin/assets/charts.js',
    ];
    for (const url of files) {
      const body = (await app.inject({ url })).body;
      expect(body, url).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
      expect(body, url).not.toMatch(/@import|url\(\s*["']?https?:/);
    }
    await app.close();
  });

  it('answers 503 with the reason when its files are missing, instead of stopping the admin', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sb-console-'));
    const app = Fastify();
    registerConsole(app, { dir: empty });
    const res = await app.inject({ url: '/admin/conversations' });
    expect(res.statusCode).toBe(503);
    expect(res.body).toMatch(/SB_ADMIN_PUBLIC_DIR/);
    await app.close();
    rmSync(empty, { recursive: true, force: true });
  });
});
