import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** The bundled service finds the page through SB_WEB_PUBLIC_DIR; from source it sits beside this file. */
export function publicDir(): string {
  return process.env.SB_WEB_PUBLIC_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../public');
}

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/chat.js': { file: 'chat.js', type: 'text/javascript; charset=utf-8' },
  '/chat.css': { file: 'chat.css', type: 'text/css; charset=utf-8' },
};

/** The chat page: three small files read once at start; no asset comes from the internet. */
export function chatPageRoutes(app: FastifyInstance, dir = publicDir()) {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(join(dir, file));
    app.get(
      path,
      { config: { access: { public: 'the chat page: the token is typed in by the user' } } },
      async (_req, reply) =>
        reply
          .header('content-type', type)
          .header(
            'content-security-policy',
            "default-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
          )
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .header('cache-control', 'no-cache')
          .send(body),
    );
  }
}
