import type { AdminTokenStore } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { badRequest, unauthorized } from '../errors.ts';
import { actor, authorize, COOKIE_NAME } from './auth.ts';
import { requiredRole } from './policy.ts';

/** Only a path of the console itself: an absolute or protocol-relative `next` would be an open redirect. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string') return '/admin/';
  if (!/^\/admin(\/|\?|$)/.test(next) || next.includes('\\') || [...next].some((c) => c.charCodeAt(0) < 0x20))
    return '/admin/';
  return next;
}

const loginSchema = z.object({ token: z.string().min(1).max(200), next: z.string().max(2_000).optional() });

/** POST /admin/login, POST /admin/logout, GET /auth (nginx auth_request) and GET /admin/api/me. */
export function registerAuthRoutes(
  app: FastifyInstance,
  o: { tokens: AdminTokenStore; secureCookie: boolean },
): void {
  app.post('/admin/login', async (req, reply) => {
    const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ?? false;
    const parsed = loginSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw badRequest('login: a "token" field is required');
    const token = await o.tokens.verify(parsed.data.token);
    const maxAge = Math.max(1, Math.floor((token.expiresAt.getTime() - Date.now()) / 1000));
    reply.setCookie(COOKIE_NAME, parsed.data.token, {
      httpOnly: true,
      secure: o.secureCookie,
      sameSite: 'strict',
      path: '/',
      maxAge,
    });
    if (form) return reply.redirect(safeNext(parsed.data.next), 303);
    return reply.status(204).send();
  });

  app.post('/admin/logout', async (_req, reply) => {
    reply.clearCookie(COOKIE_NAME, { path: '/', httpOnly: true, secure: o.secureCookie, sameSite: 'strict' });
    return reply.status(204).send();
  });

  // nginx asks before proxying a console (/admin, /rabbitmq, /kibana, /alertmanager …).
  app.get('/auth', async (req, reply) => {
    const uri = req.headers['x-original-uri'];
    const method = req.headers['x-original-method'];
    if (typeof uri !== 'string' || !uri.startsWith('/')) throw unauthorized('X-Original-URI missing');
    const needed = requiredRole(typeof method === 'string' ? method : 'GET', uri);
    const token = await authorize(o.tokens, req, needed);
    if (token) reply.header('x-admin-user', token.name).header('x-admin-role', token.role);
    return reply.status(200).send();
  });

  app.get('/admin/api/me', async (req) => {
    const t = actor(req);
    return { name: t.name, role: t.role, expiresAt: t.expiresAt };
  });
}
