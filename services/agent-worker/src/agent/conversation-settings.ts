import type { InboundEnvelope, Pool } from '@switchboard/core';

type Key = Pick<InboundEnvelope, 'platform' | 'botId' | 'conversationId'>;

/** A conversation's own choices (the model picked with /model). */
export class ConversationSettings {
  constructor(private readonly pool: Pool) {}

  async model(k: Key): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ model: string | null }>({
      name: 'sb_conv_settings_model',
      text: 'SELECT model FROM conversation_settings WHERE platform = $1 AND bot_id = $2 AND conversation_id = $3',
      values: [k.platform, k.botId, k.conversationId],
    });
    return rows[0]?.model ?? undefined;
  }

  async setModel(k: Key, model: string | undefined): Promise<void> {
    await this.pool.query(
      `INSERT INTO conversation_settings (platform, bot_id, conversation_id, model) VALUES ($1, $2, $3, $4)
       ON CONFLICT (platform, bot_id, conversation_id) DO UPDATE SET model = EXCLUDED.model, updated_at = now()`,
      [k.platform, k.botId, k.conversationId, model ?? null],
    );
  }
}
