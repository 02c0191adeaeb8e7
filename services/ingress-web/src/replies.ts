import type { OutboundEnvelope, Pool } from '@switchboard/core';

export interface StoredReply {
  id: string;
  inReplyTo: string;
  text: string;
  status: 'ok' | 'error';
  model?: string;
  createdAt: string;
}

interface Row {
  message_id: string;
  in_reply_to: string;
  content: string;
  status: 'ok' | 'error';
  model: string | null;
  created_at: Date;
}

const toReply = (r: Row): StoredReply => ({
  id: r.message_id,
  inReplyTo: r.in_reply_to,
  text: r.content,
  status: r.status,
  model: r.model ?? undefined,
  createdAt: r.created_at.toISOString(),
});

export function replyFromEnvelope(e: OutboundEnvelope): StoredReply {
  return {
    id: e.id,
    inReplyTo: e.inReplyTo,
    text: e.text,
    status: e.status,
    model: e.model,
    createdAt: e.createdAt,
  };
}

/** Replies as stored by the workers: the record clients resynchronise from after any gap. */
export class ReplyStore {
  constructor(private readonly pool: Pool) {}

  async forMessage(messageId: string): Promise<{ known: boolean; reply?: StoredReply }> {
    const r = await this.pool.query<Row & { role: string }>(
      `SELECT role, message_id, in_reply_to, content, status, model, created_at FROM messages
       WHERE message_id = $1 OR (in_reply_to = $1 AND role = 'assistant')`,
      [messageId],
    );
    const reply = r.rows.find((x) => x.role === 'assistant');
    return { known: r.rows.length > 0, reply: reply ? toReply(reply) : undefined };
  }

  async since(
    platform: string,
    botId: string,
    conversationId: string,
    since: string,
    limit = 200,
  ): Promise<StoredReply[]> {
    const r = await this.pool.query<Row>(
      `SELECT m.message_id, m.in_reply_to, m.content, m.status, m.model, m.created_at
       FROM messages m JOIN conversations c ON c.id = m.conversation_id
       WHERE c.platform = $1 AND c.bot_id = $2 AND c.external_id = $3 AND m.role = 'assistant' AND m.created_at > $4
       ORDER BY m.id LIMIT $5`,
      [platform, botId, conversationId, since, limit],
    );
    return r.rows.map(toReply);
  }
}
