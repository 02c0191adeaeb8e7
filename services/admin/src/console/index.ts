import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../errors.ts';

/**
 * Where the console's files are: SB_ADMIN_PUBLIC_DIR (the image sets it), else services/admin/public
 * beside this source file, else under the working directory (a bundle run from the repository).
 */
export function consolePublicDir(): string {
  const candidates = [
    process.env.SB_ADMIN_PUBLIC_DIR,
    resolve(dirname(fileURLToPath(import.meta.url)), '../../public'),
    resolve(process.cwd(), 'services/admin/public'),
  ].filter((d): d is string => !!d);
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0]!;
}

/** The console's pages: each is the same shell, whose script renders the page its path names. */
export const CONSOLE_PAGES = [
  '/admin',
  '/admin/',
  '/admin/conversations',
  '/admin/logs',
  '/admin/parking',
  '/admin/pairing',
  '/admin/config',
  '/admin/workflows',
  '/admin/audit',
] as const;

/**
 * Nothing but this origin: scripts, styles, fetches and the SSE stream are all local, and no
 * inline script or style is needed (charts are SVG elements built by the script).
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

function secureHeaders(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .header('content-type', type)
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

/**
 * The console's front end: public HTML shells and their assets, read once at start (a few small
 * files; no framework, no build step, nothing from the internet). The pages hold nothing secret:
 * every figure comes from /admin/api/* with the session cookie, where the auth hook decides.
 */
export function registerConsole(app: FastifyInstance, o: { dir?: string } = {}): void {
  const dir = o.dir ?? consolePublicDir();
  if (!existsSync(join(dir, 'index.html'))) {
    // A packaging mistake must not take the admin API down with it: the pages say what is missing.
    const missing = `the console's files are not in ${dir}: set SB_ADMIN_PUBLIC_DIR to the folder holding index.html`;
    for (const path of [...CONSOLE_PAGES, '/admin/login', '/admin/assets/*']) {
      app.get(path, async (_req, reply) =>
        secureHeaders(reply, 'text/plain; charset=utf-8').status(503).send(missing),
      );
    }
    return;
  }
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const file of listFiles(join(dir, 'assets'))) {
    const type = TYPES[extname(file)];
    if (!type) continue;
    const name = relative(join(dir, 'assets'), file).split(sep).join('/');
    assets.set(name, { body: readFileSync(file), type });
  }
  const shell = readFileSync(join(dir, 'index.html'));
  const login = selfContainedLogin(readFileSync(join(dir, 'login.html'), 'utf8'), assets);

  const pub = {
    config: { access: { public: 'the console shell and assets: nothing secret, figures come from the API' } },
  };
  for (const path of CONSOLE_PAGES) {
    app.get(path, pub, async (_req, reply) => secureHeaders(reply, TYPES['.html']!).send(shell));
  }
  // GET /admin/login is the form; POST /admin/login (auth/routes.ts) checks the token.
  app.get('/admin/login', pub, async (_req, reply) =>
    secureHeaders(reply, TYPES['.html']!).header('content-security-policy', login.csp).send(login.html),
  );

  app.get<{ Params: { '*': string } }>('/admin/assets/*', pub, async (req, reply) => {
    const asset = assets.get(req.params['*']);
    if (!asset) throw notFound('no such console asset');
    return secureHeaders(reply, asset.type).send(asset.body);
  });
}

/**
 * The login form with its stylesheet and script inlined, and a CSP allowing exactly those two by
 * hash. nginx shows this page in place of any /admin page a browser without a session asks for, and
 * such a browser cannot fetch /admin/assets/* (they are behind the same login).
 */
export function selfContainedLogin(
  html: string,
  assets: Map<string, { body: Buffer; type: string }>,
): { html: string; csp: string } {
  const hashes = { script: [] as string[], style: [] as string[] };
  const inline = (kind: 'script' | 'style', name: string, wrap: (code: string) => string) => {
    const asset = assets.get(name);
    if (!asset) throw new Error(`the login page needs assets/${name}`);
    const code = asset.body.toString('utf8');
    hashes[kind].push(`'sha256-${createHash('sha256').update(code).digest('base64')}'`);
    return wrap(code);
  };
  const out = html
    .replace(/<link rel="stylesheet" href="\/admin\/assets\/([\w./-]+\.css)">/g, (_m, name: string) =>
      inline('style', name, (c) => `<style>${c}</style>`),
    )
    .replace(/<script type="module" src="\/admin\/assets\/([\w./-]+\.js)"><\/script>/g, (_m, name: string) =>
      inline('script', name, (c) => `<script type="module">${c}</script>`),
    );
  const csp =
    `default-src 'self'; script-src ${hashes.script.join(' ') || "'none'"}; style-src ${hashes.style.join(' ') || "'none'"}; ` +
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
  return { html: out, csp };
}
