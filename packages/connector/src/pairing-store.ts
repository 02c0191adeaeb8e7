import { ErrorCodes, type Pool, type PoolClient, SwitchboardError, withTransaction } from '@switchboard/core';
import { z } from 'zod';
import { generatePairingCode, hashPairingCode } from './pairing-code.ts';

export type PairingStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface PairingRequest {
  /** Short numeric id an operator types: `approve 17`. */
  id: string;
  platform: string;
  botId: string;
  externalId: string;
  userName: string | null;
  conversationId: string;
  /** Envelope id of the message that opened the request; an outbound notice may answer it. */
  messageId: string;
  status: PairingStatus;
  attempts: number;
  expiresAt: Date;
  createdAt: Date;
  decidedAt: Date | null;
  /** 'code', 'admin:<name>', 'system:attempts' or 'system:expiry'. */
  decidedBy: string | null;
}

export interface BlockedUser {
  platform: string;
  externalId: string;
  until: Date;
  reason: string;
  createdAt: Date;
}

export interface PairedUser {
  platform: string;
  externalId: string;
  pairedAt: Date;
  approvedBy: string;
}

/** Why an admin action was refused; the code is stable, the reason tells the console which case. */
export class PairingError extends SwitchboardError {
  constructor(
    readonly reason: 'invalid_input' | 'not_found' | 'not_pending',
    message: string,
  ) {
    super(reason === 'not_found' ? ErrorCodes.NOT_FOUND : ErrorCodes.BAD_REQUEST, message, {
      statusCode: { invalid_input: 400, not_found: 404, not_pending: 409 }[reason],
    });
    this.name = 'PairingError';
  }
}

/** What the gate needs to know about one person, read in one round trip. */
export interface Standing {
  paired: boolean;
  blockedUntil: Date | undefined;
  pending:
    | { id: string; messageId: string; codeHash: string; attempts: number; expiresAt: Date; expired: boolean }
    | undefined;
}

/** How a code sent back ended. */
export type AttemptResult =
  | { kind: 'paired' }
  | { kind: 'wrong'; attemptsLeft: number }
  | { kind: 'blocked' }
  | { kind: 'expired' }
  /** The request was decided meanwhile (an admin, a concurrent message): look again. */
  | { kind: 'stale' };

const requestId = z.union([
  z.string().regex(/^\d{1,18}$/, 'must be a request number'),
  z.number().int().positive(),
]);
const adminName = z
  .string()
  .trim()
  .min(1, 'must name the administrator')
  .max(100)
  .regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');
const userRef = z.object({ platform: z.string().min(1).max(64), externalId: z.string().min(1).max(256) });

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new PairingError('invalid_input', `${what}: ${r.error.issues[0]?.message}`);
  return r.data;
}

const REQUEST_COLUMNS = `id::text, platform, bot_id, external_id, user_name, conversation_id, message_id, status,
  attempts, expires_at, created_at, decided_at, decided_by`;

interface RequestRow {
  id: string;
  platform: string;
  bot_id: string;
  external_id: string;
  user_name: string | null;
  conversation_id: string;
  message_id: string;
  status: PairingStatus;
  attempts: number;
  expires_at: Date;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
}

function toRequest(r: RequestRow): PairingRequest {
  return {
    id: r.id,
    platform: r.platform,
    botId: r.bot_id,
    externalId: r.external_id,
    userName: r.user_name,
    conversationId: r.conversation_id,
    messageId: r.message_id,
    status: r.status,
    attempts: r.attempts,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    decidedAt: r.decided_at,
    decidedBy: r.decided_by,
  };
}

/**
 * Paired users, pairing requests and the blocklist in PostgreSQL. The connector's gate uses the
 * first half; the admin console and CLI use the second (listPending, approve, deny, unblock…). Every
 * time comparison uses the database clock, so replicas on skewed clocks agree.
 */
export class PairingStore {
  constructor(private readonly pool: Pool) {}

  // ---- used by the connector's gate ----

  async standing(platform: string, externalId: string): Promise<Standing> {
    const { rows } = await this.pool.query<{
      paired: boolean;
      blocked_until: Date | null;
      id: string | null;
      message_id: string;
      code_hash: string;
      attempts: number;
      expires_at: Date;
      expired: boolean;
    }>({
      name: 'sb_pairing_standing',
      text: `SELECT EXISTS (SELECT 1 FROM paired_users WHERE platform = $1 AND external_id = $2) AS paired,
               (SELECT until FROM pairing_blocklist
                 WHERE platform = $1 AND external_id = $2 AND until > now()) AS blocked_until,
               r.id::text, r.message_id, r.code_hash, r.attempts, r.expires_at, r.expires_at <= now() AS expired
             FROM (SELECT 1) one
             LEFT JOIN pairing_requests r ON r.platform = $1 AND r.external_id = $2 AND r.status = 'pending'`,
      values: [platform, externalId],
    });
    const row = rows[0]!;
    return {
      paired: row.paired,
      blockedUntil: row.blocked_until ?? undefined,
      pending:
        row.id === null
          ? undefined
          : {
              id: row.id,
              messageId: row.message_id,
              codeHash: row.code_hash,
              attempts: row.attempts,
              expiresAt: row.expires_at,
              expired: row.expired,
            },
    };
  }

  /** The code attempt a message already made, if any: a platform's redelivery must not count twice. */
  async attemptOf(
    messageId: string,
  ): Promise<{ ok: boolean; status: PairingStatus; attempts: number } | undefined> {
    const { rows } = await this.pool.query<{ ok: boolean; status: PairingStatus; attempts: number }>({
      name: 'sb_pairing_attempt_of',
      text: `SELECT a.ok, r.status, r.attempts FROM pairing_attempts a
             JOIN pairing_requests r ON r.id = a.request_id WHERE a.message_id = $1`,
      values: [messageId],
    });
    return rows[0];
  }

  /** Opens a request; undefined when a concurrent message of the same person opened one first. */
  async open(r: {
    platform: string;
    botId: string;
    externalId: string;
    userName?: string;
    conversationId: string;
    messageId: string;
    code: string;
    ttlSeconds: number;
  }): Promise<{ id: string; expiresAt: Date } | undefined> {
    const codeHash = await hashPairingCode(r.code);
    const { rows } = await this.pool.query<{ id: string; expires_at: Date }>({
      name: 'sb_pairing_open',
      text: `INSERT INTO pairing_requests
               (platform, bot_id, external_id, user_name, conversation_id, message_id, code_hash, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
             ON CONFLICT (platform, external_id) WHERE status = 'pending' DO NOTHING
             RETURNING id::text, expires_at`,
      values: [
        r.platform,
        r.botId,
        r.externalId,
        r.userName ?? null,
        r.conversationId,
        r.messageId,
        codeHash,
        r.ttlSeconds,
      ],
    });
    return rows[0] && { id: rows[0].id, expiresAt: rows[0].expires_at };
  }

  /**
   * Claims the right to send a reminder (pending) or refusal (blocked) now: true at most once per
   * interval per person, across every replica of the connector.
   */
  async noticeDue(
    what: { requestId: string } | { platform: string; externalId: string },
    intervalSeconds: number,
  ): Promise<boolean> {
    const due = `(last_notice_at IS NULL OR last_notice_at <= now() - make_interval(secs => $2))`;
    const q =
      'requestId' in what
        ? {
            name: 'sb_pairing_request_notice',
            text: `UPDATE pairing_requests SET last_notice_at = now() WHERE id = $1 AND ${due} RETURNING 1`,
            values: [what.requestId, intervalSeconds],
          }
        : {
            name: 'sb_pairing_block_notice',
            text: `UPDATE pairing_blocklist SET last_notice_at = now()
                   WHERE platform = $1 AND external_id = $3 AND ${due} RETURNING 1`,
            values: [what.platform, intervalSeconds, what.externalId],
          };
    const { rowCount } = await this.pool.query(q);
    return (rowCount ?? 0) > 0;
  }

  /** Closes an expired request and blocks its user; false when someone decided it meanwhile. */
  async expire(id: string, blockSeconds: number): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ platform: string; external_id: string }>(
        `UPDATE pairing_requests SET status = 'expired', decided_at = now(), decided_by = 'system:expiry'
         WHERE id = $1 AND status = 'pending' AND expires_at <= now() RETURNING platform, external_id`,
        [id],
      );
      if (!rows[0]) return false;
      await block(c, rows[0].platform, rows[0].external_id, blockSeconds, 'pairing code expired');
      return true;
    });
  }

  /** Records a code the user sent back (already checked against the hash) and applies the result. */
  async recordAttempt(a: {
    requestId: string;
    messageId: string;
    ok: boolean;
    maxAttempts: number;
    blockSeconds: number;
  }): Promise<AttemptResult> {
    const result = await withTransaction(this.pool, async (c): Promise<AttemptResult | 'expire'> => {
      const { rows } = await c.query<{
        platform: string;
        external_id: string;
        status: PairingStatus;
        expired: boolean;
      }>(
        `SELECT platform, external_id, status, expires_at <= now() AS expired
         FROM pairing_requests WHERE id = $1 FOR UPDATE`,
        [a.requestId],
      );
      const req = rows[0];
      if (req?.status !== 'pending') return { kind: 'stale' };
      if (req.expired) return 'expire';
      const inserted = await c.query(
        `INSERT INTO pairing_attempts (message_id, request_id, ok) VALUES ($1, $2, $3)
         ON CONFLICT (message_id) DO NOTHING`,
        [a.messageId, a.requestId, a.ok],
      );
      if (inserted.rowCount === 0) return { kind: 'stale' };
      if (a.ok) {
        await c.query(
          `UPDATE pairing_requests SET status = 'approved', decided_at = now(), decided_by = 'code' WHERE id = $1`,
          [a.requestId],
        );
        await pairUser(c, req.platform, req.external_id, 'code');
        return { kind: 'paired' };
      }
      const { rows: counted } = await c.query<{ attempts: number }>(
        'UPDATE pairing_requests SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts',
        [a.requestId],
      );
      const attempts = counted[0]!.attempts;
      if (attempts < a.maxAttempts) return { kind: 'wrong', attemptsLeft: a.maxAttempts - attempts };
      await c.query(
        `UPDATE pairing_requests SET status = 'denied', decided_at = now(), decided_by = 'system:attempts'
         WHERE id = $1`,
        [a.requestId],
      );
      await block(c, req.platform, req.external_id, a.blockSeconds, 'too many wrong pairing codes');
      return { kind: 'blocked' };
    });
    if (result !== 'expire') return result;
    return (await this.expire(a.requestId, a.blockSeconds)) ? { kind: 'expired' } : { kind: 'stale' };
  }

  // ---- the admin API (console and CLI) ----

  /** Open requests that can still be answered, oldest first. */
  async listPending(o: { platform?: string } = {}): Promise<PairingRequest[]> {
    const { rows } = await this.pool.query<RequestRow>(
      `SELECT ${REQUEST_COLUMNS} FROM pairing_requests
       WHERE status = 'pending' AND expires_at > now() AND ($1::text IS NULL OR platform = $1)
       ORDER BY created_at, id`,
      [o.platform ?? null],
    );
    return rows.map(toRequest);
  }

  async getRequest(id: string | number): Promise<PairingRequest | undefined> {
    const { rows } = await this.pool.query<RequestRow>(
      `SELECT ${REQUEST_COLUMNS} FROM pairing_requests WHERE id = $1`,
      [String(parse(requestId, id, 'request id'))],
    );
    return rows[0] && toRequest(rows[0]);
  }

  /**
   * Pairs the request's user without a code. An administrator's word needs no code, so a request
   * that expired (and the block its expiry caused) can still be approved.
   */
  async approve(id: string | number, by: string): Promise<PairingRequest> {
    const rid = String(parse(requestId, id, 'request id'));
    const name = parse(adminName, by, 'administrator');
    return withTransaction(this.pool, async (c) => {
      const req = await lockRequest(c, rid);
      if (req.status !== 'pending' && req.status !== 'expired') {
        throw new PairingError('not_pending', `pairing request ${rid} is already ${req.status}`);
      }
      const { rows } = await c.query<RequestRow>(
        `UPDATE pairing_requests SET status = 'approved', decided_at = now(), decided_by = $2
         WHERE id = $1 RETURNING ${REQUEST_COLUMNS}`,
        [rid, `admin:${name}`],
      );
      await pairUser(c, req.platform, req.external_id, `admin:${name}`);
      await c.query('DELETE FROM pairing_blocklist WHERE platform = $1 AND external_id = $2', [
        req.platform,
        req.external_id,
      ]);
      return toRequest(rows[0]!);
    });
  }

  /** Refuses a pending request and blocks its user, so they do not open a new one at once. */
  async deny(id: string | number, by: string, o: { blockSeconds?: number } = {}): Promise<PairingRequest> {
    const rid = String(parse(requestId, id, 'request id'));
    const name = parse(adminName, by, 'administrator');
    const seconds = parse(z.number().int().min(1), o.blockSeconds ?? 3_600, 'block seconds');
    return withTransaction(this.pool, async (c) => {
      const req = await lockRequest(c, rid);
      if (req.status !== 'pending') {
        throw new PairingError('not_pending', `pairing request ${rid} is already ${req.status}`);
      }
      const { rows } = await c.query<RequestRow>(
        `UPDATE pairing_requests SET status = 'denied', decided_at = now(), decided_by = $2
         WHERE id = $1 RETURNING ${REQUEST_COLUMNS}`,
        [rid, `admin:${name}`],
      );
      await block(c, req.platform, req.external_id, seconds, `denied by admin:${name}`);
      return toRequest(rows[0]!);
    });
  }

  /** Lifts a block; true when there was one. The user's next message opens a new request. */
  async unblock(user: { platform: string; externalId: string }): Promise<boolean> {
    const u = parse(userRef, user, 'user');
    const { rowCount } = await this.pool.query(
      'DELETE FROM pairing_blocklist WHERE platform = $1 AND external_id = $2',
      [u.platform, u.externalId],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Pairs a user directly (no request needed, e.g. under direct_block); closes their open request. */
  async pair(user: { platform: string; externalId: string }, by: string): Promise<void> {
    const u = parse(userRef, user, 'user');
    const name = parse(adminName, by, 'administrator');
    await withTransaction(this.pool, async (c) => {
      await c.query(
        `UPDATE pairing_requests SET status = 'approved', decided_at = now(), decided_by = $3
         WHERE platform = $1 AND external_id = $2 AND status = 'pending'`,
        [u.platform, u.externalId, `admin:${name}`],
      );
      await pairUser(c, u.platform, u.externalId, `admin:${name}`);
      await c.query('DELETE FROM pairing_blocklist WHERE platform = $1 AND external_id = $2', [
        u.platform,
        u.externalId,
      ]);
    });
  }

  /** Revokes a pairing; the user's next message is a stranger's again. True when they were paired. */
  async unpair(user: { platform: string; externalId: string }): Promise<boolean> {
    const u = parse(userRef, user, 'user');
    const { rowCount } = await this.pool.query(
      'DELETE FROM paired_users WHERE platform = $1 AND external_id = $2',
      [u.platform, u.externalId],
    );
    return (rowCount ?? 0) > 0;
  }

  async listBlocked(o: { platform?: string } = {}): Promise<BlockedUser[]> {
    const { rows } = await this.pool.query<{
      platform: string;
      external_id: string;
      until: Date;
      reason: string;
      created_at: Date;
    }>(
      `SELECT platform, external_id, until, reason, created_at FROM pairing_blocklist
       WHERE until > now() AND ($1::text IS NULL OR platform = $1) ORDER BY until`,
      [o.platform ?? null],
    );
    return rows.map((r) => ({
      platform: r.platform,
      externalId: r.external_id,
      until: r.until,
      reason: r.reason,
      createdAt: r.created_at,
    }));
  }

  async listPaired(o: { platform?: string } = {}): Promise<PairedUser[]> {
    const { rows } = await this.pool.query<{
      platform: string;
      external_id: string;
      paired_at: Date;
      approved_by: string;
    }>(
      `SELECT platform, external_id, paired_at, approved_by FROM paired_users
       WHERE $1::text IS NULL OR platform = $1 ORDER BY paired_at`,
      [o.platform ?? null],
    );
    return rows.map((r) => ({
      platform: r.platform,
      externalId: r.external_id,
      pairedAt: r.paired_at,
      approvedBy: r.approved_by,
    }));
  }

  /**
   * A fresh code for a pending request, for a console to show: the stored code is only a hash, so
   * it cannot be shown again. The old code stops working and the attempts start over.
   */
  async issueCode(id: string | number, ttlSeconds = 600): Promise<{ code: string; expiresAt: Date }> {
    const rid = String(parse(requestId, id, 'request id'));
    const ttl = parse(z.number().int().min(1), ttlSeconds, 'ttl seconds');
    const code = generatePairingCode();
    const codeHash = await hashPairingCode(code);
    const { rows } = await this.pool.query<{ expires_at: Date }>(
      `UPDATE pairing_requests SET code_hash = $2, attempts = 0, expires_at = now() + make_interval(secs => $3)
       WHERE id = $1 AND status = 'pending' RETURNING expires_at`,
      [rid, codeHash, ttl],
    );
    if (rows[0]) return { code, expiresAt: rows[0].expires_at };
    const req = await this.getRequest(rid);
    if (!req) throw new PairingError('not_found', `no pairing request ${rid}`);
    throw new PairingError('not_pending', `pairing request ${rid} is already ${req.status}`);
  }
}

async function lockRequest(c: PoolClient, id: string) {
  const { rows } = await c.query<{ platform: string; external_id: string; status: PairingStatus }>(
    'SELECT platform, external_id, status FROM pairing_requests WHERE id = $1 FOR UPDATE',
    [id],
  );
  if (!rows[0]) throw new PairingError('not_found', `no pairing request ${id}`);
  return rows[0];
}

async function pairUser(c: PoolClient, platform: string, externalId: string, approvedBy: string) {
  await c.query(
    `INSERT INTO paired_users (platform, external_id, approved_by) VALUES ($1, $2, $3)
     ON CONFLICT (platform, external_id) DO UPDATE SET approved_by = EXCLUDED.approved_by, paired_at = now()`,
    [platform, externalId, approvedBy],
  );
}

/** The notice that announced the block counts as this minute's refusal, hence last_notice_at = now(). */
async function block(c: PoolClient, platform: string, externalId: string, seconds: number, reason: string) {
  await c.query(
    `INSERT INTO pairing_blocklist (platform, external_id, until, reason, last_notice_at)
     VALUES ($1, $2, now() + make_interval(secs => $3), $4, now())
     ON CONFLICT (platform, external_id) DO UPDATE
       SET until = EXCLUDED.until, reason = EXCLUDED.reason, created_at = now(), last_notice_at = now()`,
    [platform, externalId, seconds, reason],
  );
}
