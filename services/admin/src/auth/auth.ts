import { type AdminRole, type AdminToken, type AdminTokenStore, roleAtLeast } from '@switchboard/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden } from '../errors.ts';
import { type Needed, requiredRole } from './policy.ts';

export const COOKIE_NAME = 'sb_admin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified token of the caller; set for every /admin/api and /admin/queues request. */
    admin: AdminToken | null;
  }
}

/** The bearer token or, failing that, the console's cookie. */
export function presentedToken(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m) return m[1];
  return req.cookies?.[COOKIE_NAME] || undefined;
}

/** Verifies the caller's token and checks it against the role needed; throws 401/403 otherwise. */
export async function authorize(
  tokens: AdminTokenStore,
  req: FastifyRequest,
  needed: Needed,
): Promise<AdminToken | null> {
  const given = presentedToken(req);
  if (needed === 'public') return given ? tokens.verify(given).catch(() => null) : null;
  const token = await tokens.verify(given);
  if (!roleAtLeast(token.role, needed)) {
    throw forbidden(`this needs the ${needed} role; token "${token.name}" is ${token.role}`);
  }
  return token;
}

/** Every request under /admin/api/ and /admin/queues is checked against the policy before routing. */
export function registerAuthHook(app: FastifyInstance, tokens: AdminTokenStore): void {
  app.decorateRequest('admin', null);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/admin/api/') && path !== '/admin/queues' && !path.startsWith('/admin/queues/'))
      return;
    req.admin = await authorize(tokens, req, requiredRole(req.method, req.url));
  });
}

/** The caller, for handlers behind the hook (an audit row's actor). */
export function actor(req: FastifyRequest): AdminToken {
  if (!req.admin) throw forbidden('no authenticated caller');
  return req.admin;
}

export function roleOf(req: FastifyRequest): AdminRole | undefined {
  return req.admin?.role;
}
