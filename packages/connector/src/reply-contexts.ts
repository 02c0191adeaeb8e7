import type { Pool } from '@switchboard/core';

/** What an adapter stored to answer an inbound message, looked up when the reply arrives. */
export class ReplyContexts {
  constructor(
    private readonly pool: Pool,
    private readonly platform: string,
  ) {}

  async save(messageId: string, context: Record<string, unknown>, expiresAt?: Date): Promise<void> {
    await this.pool.query({
      name: 'sb_reply_context_save',
      text: `INSERT INTO reply_contexts (message_id, platform, context, expires_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (message_id) DO UPDATE SET context = EXCLUDED.context, expires_at = EXCLUDED.expires_at`,
      values: [messageId, this.platform, JSON.stringify(context), expiresAt ?? null],
    });
  }

  /** The stored context, or undefined when there is none or it expired (the adapter falls back). */
  async get(messageId: string): Promise<Record<string, unknown> | undefined> {
    const { rows } = await this.pool.query<{ context: Record<string, unknown> }>({
      name: 'sb_reply_context_get',
      text: `SELECT context FROM reply_contexts
             WHERE message_id = $1 AND (expires_at IS NULL OR expires_at > now())`,
      values: [messageId],
    });
    return rows[0]?.context;
  }
}
