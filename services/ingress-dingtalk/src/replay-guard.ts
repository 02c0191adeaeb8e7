import { createHash } from 'node:crypto';
import type { Pool } from '@switchboard/core';
import { MAX_CLOCK_SKEW_MS } from './signature.ts';

/** What a callback's (timestamp, sign) pair was seen with before. */
export type SignUse = 'first' | 'same-body' | 'other-body';

const PURGE_EVERY_MS = 5 * 60_000;

/**
 * Remembers each signed callback's (timestamp, sign) pair with its body's digest for as long as
 * the timestamp is accepted, in PostgreSQL so every replica of the connector shares it. DingTalk's
 * signature covers only the timestamp; this binds the pair to the first body that used it.
 */
export class CallbackReplayGuard {
  private lastPurge = 0;

  constructor(
    private readonly pool: Pool,
    private readonly botId: string,
  ) {}

  static digest(body: unknown): string {
    return createHash('sha256')
      .update(JSON.stringify(body ?? null))
      .digest('hex');
  }

  async use(timestamp: string, sign: string, bodySha256: string, now = Date.now()): Promise<SignUse> {
    await this.purge(now);
    // The pair stops being accepted once its timestamp is an hour old; keep it exactly that long.
    const expiresAt = new Date(Number(timestamp) + MAX_CLOCK_SKEW_MS);
    const inserted = await this.pool.query({
      name: 'sb_dingtalk_sign_claim',
      text: `INSERT INTO dingtalk_callback_signs (bot_id, ts, sign, body_sha256, expires_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      values: [this.botId, timestamp, sign, bodySha256, expiresAt],
    });
    if ((inserted.rowCount ?? 0) > 0) return 'first';
    const { rows } = await this.pool.query<{ body_sha256: string }>({
      name: 'sb_dingtalk_sign_seen',
      text: 'SELECT body_sha256 FROM dingtalk_callback_signs WHERE bot_id = $1 AND ts = $2 AND sign = $3',
      values: [this.botId, timestamp, sign],
    });
    return rows[0]?.body_sha256 === bodySha256 ? 'same-body' : 'other-body';
  }

  private async purge(now: number): Promise<void> {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    await this.pool.query('DELETE FROM dingtalk_callback_signs WHERE expires_at < now()');
  }
}
