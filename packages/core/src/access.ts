import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { type AdminRole, roleAtLeast } from './admin-tokens.ts';
import { ErrorCodes, SwitchboardError } from './errors.ts';

/**
 * Who may call a route, declared in the route's own options (`{ config: { access } }`):
 * - `{ public: why }`: anyone (health, the login form, static pages); the reason is documentation;
 * - `{ verifiedBy: what }`: anyone may knock, and the handler verifies an in-band credential (a
 *   platform signature, a WebSocket's first frame) before it does any work;
 * - `{ role }`: a console principal (an admin token or a console session) with at least this role;
 * - `{ caller: [kinds] }`: a principal of one of these kinds (a service credential, an API client).
 * A route without a declaration is refused, and a service with one does not start.
 */
export type Access =
  | { public: string }
  | { verifiedBy: string }
  | { role: AdminRole }
  | { caller: readonly PrincipalKind[] };

/** console: an admin token or session; service: a machine credential; api: an API client; webhook: a per-workflow token. */
export type PrincipalKind = 'console' | 'service' | 'api' | 'webhook';

export interface Principal {
  kind: PrincipalKind;
  /** Stable id recorded in audit rows: the token's id, the service credential's name. */
  id: string;
  /** Human name shown beside the id. */
  name: string;
  role?: AdminRole;
  /** When the credential stops working, where it has an end (a console token). */
  expiresAt?: Date;
  /** How the credential came: a cookie is what a cross-site page can make a browser send. */
  via: 'bearer' | 'cookie' | 'header';
  subject?: string;
  claims?: Record<string, string | number | boolean>;
}

/**
 * Resolves the caller from a request: null when this kind of credential is not presented; throws a
 * 401 SwitchboardError when one is presented and is wrong. Runs after routing, so `req.params` is
 * what the router matched.
 */
export type Authenticator = (req: FastifyRequest) => Promise<Principal | null>;

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The verified caller; null on public routes. */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Every route with its declaration: who may call what, for tests and docs. */
    accessTable(): Array<{ method: string; url: string; access: Access | undefined }>;
  }
}

export interface AccessControlOptions {
  /** Tried in order; the first that recognises a credential decides. */
  authenticators?: Authenticator[];
  /**
   * Browser-facing APIs: every state-changing request that a browser could be made to send (a
   * cookie-authenticated one, or one to a public route such as the login) must come from this
   * origin and carry one of these content types, which a cross-site form cannot send.
   */
  sameOrigin?: { bodyTypes: string[]; allowedOrigins?: string[] };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

const refuse = (status: 401 | 403 | 415, code: string, why: string) =>
  new SwitchboardError(code as never, why, { statusCode: status });

/** Whether a request comes from a page of this same origin, as the browser itself reports. */
export function fromSameOrigin(req: FastifyRequest, allowedOrigins: string[] = []): boolean {
  const site = req.headers['sec-fetch-site'];
  // The browser's own word; when present it is authoritative (a cross-site page cannot forge it).
  if (typeof site === 'string') return site === 'same-origin';
  const origin = req.headers.origin;
  if (typeof origin !== 'string' || origin === 'null') return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (allowedOrigins.includes(url.origin)) return true;
  // Behind nginx the public host comes as X-Forwarded-Host; a browser cannot set that header.
  const hosts = [req.headers['x-forwarded-host'], req.headers.host].filter(
    (h): h is string => typeof h === 'string',
  );
  return hosts.some((h) => h.toLowerCase() === url.host.toLowerCase());
}

function checkSameOrigin(req: FastifyRequest, o: NonNullable<AccessControlOptions['sameOrigin']>): void {
  if (!fromSameOrigin(req, o.allowedOrigins)) {
    throw refuse(
      403,
      ErrorCodes.CROSS_SITE,
      'cross-site request refused: a change needs an Origin header of this site (or Sec-Fetch-Site: same-origin)',
    );
  }
  const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if ((hasBody || req.headers['transfer-encoding'] !== undefined) && !o.bodyTypes.includes(type)) {
    throw refuse(
      415,
      ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
      `a body of type "${type || 'none'}" is refused here; send ${o.bodyTypes.join(' or ')}`,
    );
  }
}

/** Resolves the caller with the first authenticator that recognises a credential. */
export async function identify(
  authenticators: Authenticator[],
  req: FastifyRequest,
): Promise<Principal | null> {
  for (const a of authenticators) {
    const p = await a(req);
    if (p) return p;
  }
  return null;
}

/** Throws 403 unless the principal satisfies the declaration. */
export function permits(access: Access, principal: Principal): void {
  if ('role' in access) {
    if (principal.kind !== 'console' || !principal.role)
      throw refuse(
        403,
        ErrorCodes.FORBIDDEN,
        `this needs a console token or session with the ${access.role} role`,
      );
    if (!roleAtLeast(principal.role, access.role))
      throw refuse(
        403,
        ErrorCodes.FORBIDDEN,
        `this needs the ${access.role} role; token "${principal.name}" is ${principal.role}`,
      );
    return;
  }
  if ('caller' in access && !access.caller.includes(principal.kind))
    throw refuse(403, ErrorCodes.FORBIDDEN, `this is not for a ${principal.kind} credential`);
}

const describe = (r: Pick<RouteOptions, 'method' | 'url'>) =>
  `${Array.isArray(r.method) ? r.method.join(',') : r.method} ${r.url}`;

/**
 * The one authorization hook. It runs on `onRequest` — after routing, before the body is read or
 * any handler runs — and reads the declaration of the route the router matched, never the raw URL.
 * Routes registered without a declaration make `ready()` fail, naming them.
 */
export function registerAccessControl(app: FastifyInstance, o: AccessControlOptions = {}): void {
  const authenticators = o.authenticators ?? [];
  const routes: RouteOptions[] = [];
  app.decorateRequest('principal', null);
  // Every route of every child context passes here; plugins may still fill `config.access` in
  // their own onRoute hooks (which run after this one), so the check waits for ready.
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  app.decorate('accessTable', () =>
    routes.flatMap((r) =>
      [r.method].flat().map((method) => ({ method, url: r.url, access: r.config?.access })),
    ),
  );
  app.addHook('onReady', async () => {
    const undeclared = routes.filter((r) => !r.config?.access).map(describe);
    if (undeclared.length)
      throw new SwitchboardError(
        ErrorCodes.ACCESS_UNDECLARED,
        `routes without an access declaration (config.access): ${[...new Set(undeclared)].join('; ')}`,
      );
  });

  app.addHook('onRequest', async (req) => {
    // Unmatched requests reach only the 404 handler, which does no work.
    if (req.is404) return;
    const access = req.routeOptions.config?.access;
    if (!access)
      throw refuse(
        403,
        ErrorCodes.ACCESS_UNDECLARED,
        `${req.method} ${req.routeOptions.url} declares no access rule, so nobody may call it`,
      );
    const changes = !SAFE_METHODS.has(req.method);
    if ('public' in access || 'verifiedBy' in access) {
      if (changes && o.sameOrigin && 'public' in access) checkSameOrigin(req, o.sameOrigin);
      return;
    }
    const principal = await identify(authenticators, req);
    if (!principal)
      throw refuse(
        401,
        ErrorCodes.UNAUTHORIZED,
        'authentication required: send Authorization: Bearer <token>',
      );
    if (changes && o.sameOrigin && principal.via === 'cookie') checkSameOrigin(req, o.sameOrigin);
    permits(access, principal);
    req.principal = principal;
  });
}

/** The verified caller, for handlers behind a non-public declaration. */
export function caller(req: FastifyRequest): Principal {
  if (!req.principal) throw refuse(403, ErrorCodes.FORBIDDEN, 'no authenticated caller');
  return req.principal;
}

/** A bearer token from the Authorization header, or undefined. */
export function bearerToken(req: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** The route-options fragment that declares access, for spreading into a route's options. */
export type FastifyRouteAccess = { config: { access: Access } };
