import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { type Authenticator, bearerToken } from './access.ts';
import type { AdminToken, AdminTokenStore } from './admin-tokens.ts';

/** The console's cookie: a session id, never a bearer token. */
export const SESSION_COOKIE = 'sb_session';
/** The longest a console sign-in lasts, however long its token still has. */
export const MAX_SESSION_MS = 12 * 3600 * 1000;

const digest = (id: string) => createHash('sha256').update(id).digest();
const SESSION_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Server-side console sessions. Signing in with a token makes a random id that only the browser
 * holds (we keep its digest); the session ends at logout, at its own expiry, or when the token is
 * revoked or expires, whichever comes first.
 */
export class ConsoleSessions {
  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(token: AdminToken): Promise<{ id: string; expiresAt: Date }> {
    const id = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Math.min(token.expiresAt.getTime(), this.now().getTime() + MAX_SESSION_MS));
    await this.pool.query('INSERT INTO admin_sessions (id_hash, token_id, expires_at) VALUES ($1, $2, $3)', [
      digest(id),
      token.id,
      expiresAt,
    ]);
    return { id, expiresAt };
  }

  /** The session's token when both are alive; null otherwise. */
  async resolve(id: string | undefined): Promise<AdminToken | null> {
    if (!id || !SESSION_RE.test(id)) return null;
    const { rows } = await this.pool.query<{
      id: string;
      name: string;
      role: AdminToken['role'];
      created_by: string;
      created_at: Date;
      expires_at: Date;
      revoked_at: Date | null;
      last_used_at: Date | null;
    }>(
      `SELECT t.* FROM admin_sessions s JOIN admin_tokens t ON t.id = s.token_id
        WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.expires_at > $2 AND t.revoked_at IS NULL`,
      [digest(id), this.now()],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      name: r.name,
      role: r.role,
      createdBy: r.created_by,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      lastUsedAt: r.last_used_at,
    };
  }

  async destroy(id: string | undefined): Promise<void> {
    if (!id || !SESSION_RE.test(id)) return;
    await this.pool.query('DELETE FROM admin_sessions WHERE id_hash = $1', [digest(id)]);
  }

  /** Drops ended sessions; called now and then so the table stays small. */
  async prune(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM admin_sessions WHERE expires_at <= $1', [
      this.now(),
    ]);
    return rowCount ?? 0;
  }
}

function sessionCookie(req: FastifyRequest): string | undefined {
  const fromPlugin = (req as FastifyRequest & { cookies?: Record<string, string | undefined> }).cookies;
  if (fromPlugin) return fromPlugin[SESSION_COOKIE];
  // Services without @fastify/cookie: read the header directly.
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === SESSION_COOKIE) return v.join('=');
  }
  return undefined;
}

/**
 * Console principals: an admin token as a bearer (the CLI, scripts) or, when sessions are given,
 * the console's session cookie (a browser). A wrong bearer is a 401; a dead session is just absent.
 */
export function consoleAuthenticator(tokens: AdminTokenStore, sessions?: ConsoleSessions): Authenticator {
  return async (req) => {
    const given = bearerToken(req);
    if (given !== undefined) {
      if (!given.startsWith('sbt_')) return null;
      const t = await tokens.verify(given);
      return { kind: 'console', id: t.id, name: t.name, role: t.role, expiresAt: t.expiresAt, via: 'bearer' };
    }
    if (!sessions) return null;
    const t = await sessions.resolve(sessionCookie(req));
    return t
      ? { kind: 'console', id: t.id, name: t.name, role: t.role, expiresAt: t.expiresAt, via: 'cookie' }
      : null;
  };
}
