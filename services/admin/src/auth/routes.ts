import {
  type AdminTokenStore,
  type Authenticator,
  type ConsoleSessions,
  identify,
  SESSION_COOKIE,
} from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { badRequest, forbidden, unauthorized } from '../errors.ts';
import { actor, needs } from './auth.ts';
import { requiredRole } from './policy.ts';

/** Only a path of the console itself: an absolute or protocol-relative `next` would be an open redirect. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string') return '/admin/';
  if (!/^\/admin(\/|\?|$)/.test(next) || next.includes('\\') || [...next].some((c) => c.charCodeAt(0) < 0x20))
    return '/admin/';
  return next;
}

/**
 * Where the session cookie goes: the console, and the third-party consoles nginx guards with
 * auth_request (nginx strips the cookie before proxying to them). Never `/`: the chat page, the
 * APIs and anything else on this origin never see it.
 */
export const SESSION_COOKIE_PATHS = ['/admin', '/rabbitmq/', '/kibana/', '/alertmanager/'] as const;

const loginSchema = z.strictObject({
  token: z.string().min(1).max(200),
  next: z.string().max(2_000).optional(),
});

/** POST /admin/login, POST /admin/logout, GET /auth (nginx auth_request) and GET /admin/api/me. */
export function registerAuthRoutes(
  app: FastifyInstance,
  o: {
    tokens: AdminTokenStore;
    sessions: ConsoleSessions;
    authenticators: Authenticator[];
    secureCookie: boolean;
  },
): void {
  const cookie = { httpOnly: true, secure: o.secureCookie, sameSite: 'strict' as const };

  // Same-origin and a JSON body are enforced by the access hook for public changes: no login CSRF.
  app.post(
    '/admin/login',
    { config: { access: { public: 'signing in: the token in the body is checked' } } },
    async (req, reply) => {
      const parsed = loginSchema.safeParse(req.body ?? {});
      if (!parsed.success) throw badRequest('login: a JSON body with a "token" field is required');
      const token = await o.tokens.verify(parsed.data.token);
      const session = await o.sessions.create(token);
      const maxAge = Math.max(1, Math.floor((session.expiresAt.getTime() - Date.now()) / 1000));
      for (const path of SESSION_COOKIE_PATHS)
        reply.setCookie(SESSION_COOKIE, session.id, { ...cookie, path, maxAge });
      return reply.status(200).send({ name: token.name, role: token.role, next: safeNext(parsed.data.next) });
    },
  );

  app.post(
    '/admin/logout',
    { config: { access: { public: 'ends the presented session, if any' } } },
    async (req, reply) => {
      await o.sessions.destroy(req.cookies?.[SESSION_COOKIE]);
      for (const path of SESSION_COOKIE_PATHS) reply.clearCookie(SESSION_COOKIE, { ...cookie, path });
      return reply.status(204).send();
    },
  );

  // nginx asks before proxying a console (/admin, /rabbitmq, /kibana, /alertmanager …).
  app.get(
    '/auth',
    { config: { access: { public: "nginx's auth_request: decides on the original URI itself" } } },
    async (req, reply) => {
      const uri = req.headers['x-original-uri'];
      const method = req.headers['x-original-method'];
      if (typeof uri !== 'string' || !uri.startsWith('/')) throw unauthorized('X-Original-URI missing');
      const needed = requiredRole(typeof method === 'string' ? method : 'GET', uri);
      if (needed === 'public') return reply.status(200).send();
      const who = await identify(o.authenticators, req);
      if (!who) throw unauthorized('sign in first');
      if (!who.role || !['viewer', 'operator', 'admin'].includes(who.role))
        throw forbidden('not a console user');
      const rank = ['viewer', 'operator', 'admin'];
      if (rank.indexOf(who.role) < rank.indexOf(needed))
        throw forbidden(`this needs the ${needed} role; "${who.name}" is ${who.role}`);
      return reply.status(200).header('x-admin-user', who.name).header('x-admin-role', who.role).send();
    },
  );

  app.get('/admin/api/me', needs('viewer'), async (req) => {
    const t = actor(req);
    return { id: t.id, name: t.name, role: t.role, expiresAt: t.expiresAt ?? null };
  });
}
