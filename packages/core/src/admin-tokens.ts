import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { AuditActor } from './db/audited-change.ts';
import { ErrorCodes, SwitchboardError } from './errors.ts';

/**
 * Operator tokens for the admin console, its API and the CLI. A token is `sbt_<id>_<secret>`: the
 * id finds the row, the secret is compared by its SHA-256 (the token is shown once, never stored).
 * Roles nest: a viewer reads, an operator also acts on messages (replay, pairing, workflow runs),
 * an admin also changes configuration and tokens.
 */
export const adminRoles = ['viewer', 'operator', 'admin'] as const;
export const adminRoleSchema = z.enum(adminRoles);
export type AdminRole = z.infer<typeof adminRoleSchema>;

export const adminTokenSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: adminRoleSchema,
  createdBy: z.string(),
  createdAt: z.date(),
  expiresAt: z.date(),
  revokedAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
});
export type AdminToken = z.infer<typeof adminTokenSchema>;

const TOKEN_RE = /^sbt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
/** Longest life a token may be given: a forgotten token must not stay valid for years. */
export const MAX_TOKEN_TTL_MS = 90 * 24 * 3600 * 1000;

export function roleAtLeast(role: AdminRole, needed: AdminRole): boolean {
  return adminRoles.indexOf(role) >= adminRoles.indexOf(needed);
}

/** "8h", "30m", "7d", "90s" → milliseconds; anything else is refused with the reason. */
export function parseTokenTtl(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const ms = m ? Number(m[1]) * unit[m[2] as keyof typeof unit] : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new SwitchboardError(
      ErrorCodes.BAD_REQUEST,
      `expiry "${text}" is not a duration such as 30m, 8h or 7d`,
      {
        statusCode: 400,
      },
    );
  }
  if (ms > MAX_TOKEN_TTL_MS) {
    throw new SwitchboardError(
      ErrorCodes.BAD_REQUEST,
      `expiry "${text}" is longer than the 90 days allowed`,
      {
        statusCode: 400,
      },
    );
  }
  return ms;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest();

interface TokenRow {
  id: string;
  name: string;
  role: AdminRole;
  secret_hash: Buffer;
  created_by: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const toToken = (r: TokenRow): AdminToken => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export class AdminTokenStore {
  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates a token; the returned `token` string is the only time the secret exists in clear. */
  async create(opts: {
    name: string;
    role: AdminRole;
    ttlMs: number;
    createdBy: string;
  }): Promise<{ token: string; record: AdminToken }> {
    const role = adminRoleSchema.parse(opts.role);
    if (!opts.name.trim())
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'a token needs a name', { statusCode: 400 });
    if (!(opts.ttlMs > 0 && opts.ttlMs <= MAX_TOKEN_TTL_MS)) {
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'token lifetime must be between 1 ms and 90 days', {
        statusCode: 400,
      });
    }
    const id = randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(this.now().getTime() + opts.ttlMs);
    const { rows } = await this.pool.query<TokenRow>(
      `INSERT INTO admin_tokens (id, name, role, secret_hash, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [id, opts.name.trim(), role, digest(secret), opts.createdBy, expiresAt],
    );
    return { token: `sbt_${id}_${secret}`, record: toToken(rows[0] as TokenRow) };
  }

  async list(opts: { includeInactive?: boolean } = {}): Promise<AdminToken[]> {
    const { rows } = await this.pool.query<TokenRow>(
      opts.includeInactive
        ? 'SELECT * FROM admin_tokens ORDER BY created_at'
        : 'SELECT * FROM admin_tokens WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY created_at',
      opts.includeInactive ? [] : [this.now()],
    );
    return rows.map(toToken);
  }

  /** Revokes by id; false when no such token exists. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1',
      [id, this.now()],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * The token's record when it is well-formed, known, unrevoked and unexpired; otherwise a 401
   * SwitchboardError saying which (never echoing the token).
   */
  async verify(token: string | undefined): Promise<AdminToken> {
    const m = TOKEN_RE.exec(token ?? '');
    const unauthorized = (why: string) =>
      new SwitchboardError(ErrorCodes.UNAUTHORIZED, why, { statusCode: 401 });
    if (!m) throw unauthorized(token ? 'not a Switchboard admin token' : 'no admin token');
    const [, id, secret] = m as unknown as [string, string, string];
    const { rows } = await this.pool.query<TokenRow>('SELECT * FROM admin_tokens WHERE id = $1', [id]);
    const row = rows[0];
    // Compared even for an unknown id, so timing does not tell which ids exist.
    const expected = row?.secret_hash ?? digest('');
    const ok = timingSafeEqual(expected, digest(secret)) && row !== undefined;
    if (!ok || !row) throw unauthorized('unknown admin token');
    if (row.revoked_at) throw unauthorized('admin token revoked');
    if (row.expires_at.getTime() <= this.now().getTime()) throw unauthorized('admin token expired');
    // Best effort and coarse (once a minute): a busy console must not write on every request.
    if (!row.last_used_at || this.now().getTime() - row.last_used_at.getTime() > 60_000) {
      await this.pool.query('UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1', [id, this.now()]);
    }
    return toToken(row);
  }
}

export const auditEntrySchema = z.object({
  id: z.number(),
  at: z.date(),
  actor: z.string(),
  /** The credential's id (a token id, `cli:<user>`), which a name cannot spoof. */
  actorId: z.string(),
  action: z.string(),
  target: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** Who changed what, when: every change through the console, the API or the CLI lands here. */
export class AuditLog {
  constructor(private readonly pool: Pick<Pool, 'query'>) {}

  /** For actions outside the database (a broker replay); database changes use auditedChange. */
  async record(
    actor: AuditActor,
    action: string,
    target = '',
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.pool.query(
      'INSERT INTO audit_log (actor, actor_id, action, target, details) VALUES ($1, $2, $3, $4, $5)',
      [actor.name, actor.id, action, target, JSON.stringify(details)],
    );
  }

  async list(
    opts: { limit?: number; before?: number; actor?: string; actorId?: string; action?: string } = {},
  ): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.before) where.push(`id < $${args.push(opts.before)}`);
    if (opts.actor) where.push(`actor = $${args.push(opts.actor)}`);
    if (opts.actorId) where.push(`actor_id = $${args.push(opts.actorId)}`);
    if (opts.action) where.push(`action = $${args.push(opts.action)}`);
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
    const { rows } = await this.pool.query<{
      id: string;
      at: Date;
      actor: string;
      actor_id: string;
      action: string;
      target: string;
      details: Record<string, unknown>;
    }>(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      args,
    );
    return rows.map(({ actor_id, ...r }) => ({ ...r, actorId: actor_id, id: Number(r.id) }));
  }
}
