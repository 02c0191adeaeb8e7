import { randomUUID } from 'node:crypto';
import {
  claimInbox,
  enqueueOutbox,
  type InboundEnvelope,
  type OutboxMessage,
  type Pool,
  withTransaction,
} from '@switchboard/core';
import type { ChatMessage } from './models/provider.ts';

export interface Conversation {
  id: string;
  sessionId: string;
  lastActivityAt: Date;
}

export interface TurnRecord {
  conversation: Conversation;
  /** Set when this turn starts a new session (reset or idle timeout). */
  newSessionId?: string;
  inbound: InboundEnvelope;
  reply: {
    id: string;
    text: string;
    status: 'ok' | 'error';
    model?: string;
    promptTokens?: number;
    completionTokens?: number;
    latencyMs: number;
  };
  outbox: OutboxMessage;
}

/** Conversations, their history and the turn transaction; all SQL of the worker lives here. */
export class ConversationStore {
  constructor(private readonly pool: Pool) {}

  async getOrCreate(env: InboundEnvelope): Promise<Conversation> {
    // DO UPDATE (a no-op) instead of DO NOTHING so the existing row comes back in the same round trip.
    const r = await this.pool.query<{ id: string; session_id: string; last_activity_at: Date }>(
      `INSERT INTO conversations (platform, bot_id, external_id, session_id)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (platform, bot_id, external_id) DO UPDATE SET platform = EXCLUDED.platform
       RETURNING id, session_id, last_activity_at`,
      [env.platform, env.botId, env.conversationId, randomUUID()],
    );
    const row = r.rows[0]!;
    return { id: row.id, sessionId: row.session_id, lastActivityAt: row.last_activity_at };
  }

  /** The newest messages of a session, oldest first, at most `maxMessages` and about `maxChars`. */
  async history(conv: Conversation, maxMessages: number, maxChars: number): Promise<ChatMessage[]> {
    const r = await this.pool.query<{ role: ChatMessage['role']; content: string }>(
      `SELECT role, content FROM messages
       WHERE conversation_id = $1 AND session_id = $2 AND status = 'ok'
       ORDER BY id DESC LIMIT $3`,
      [conv.id, conv.sessionId, maxMessages],
    );
    return trimToBudget(r.rows.reverse(), maxChars);
  }

  async alreadyProcessed(messageId: string): Promise<boolean> {
    const r = await this.pool.query('SELECT 1 FROM inbox WHERE message_id = $1', [messageId]);
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Stores the turn and its outgoing reply atomically, keyed by the inbound message id.
   * Returns false when another delivery of the same message already committed.
   */
  async commitTurn(t: TurnRecord): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      if (!(await claimInbox(c, t.inbound.id, t.inbound.traceId))) return false;
      const sessionId = t.newSessionId ?? t.conversation.sessionId;
      await c.query(
        `UPDATE conversations SET last_activity_at = now(), session_id = $2,
           session_started_at = CASE WHEN session_id = $2 THEN session_started_at ELSE now() END
         WHERE id = $1`,
        [t.conversation.id, sessionId],
      );
      // The user's message carries the reply's status so a failed exchange stays out of later context.
      await c.query(
        `INSERT INTO messages (conversation_id, session_id, role, content, message_id, in_reply_to, user_id, model,
                               status, prompt_tokens, completion_tokens, latency_ms, trace_id, created_at)
         VALUES ($1, $2, 'user', $3, $4, NULL, $5, NULL, $11, NULL, NULL, NULL, $6, $7),
                ($1, $2, 'assistant', $8, $9, $4, NULL, $10, $11, $12, $13, $14, $6, now())`,
        [
          t.conversation.id,
          sessionId,
          t.inbound.text,
          t.inbound.id,
          t.inbound.user.id,
          t.inbound.traceId,
          t.inbound.receivedAt,
          t.reply.text,
          t.reply.id,
          t.reply.model ?? null,
          t.reply.status,
          t.reply.promptTokens ?? null,
          t.reply.completionTokens ?? null,
          t.reply.latencyMs,
        ],
      );
      await enqueueOutbox(c, t.outbox);
      return true;
    });
  }
}

/** Drops the oldest messages until the rest fits; the newest message always stays. */
export function trimToBudget<T extends { content: string }>(messages: T[], maxChars: number): T[] {
  let total = 0;
  let start = messages.length;
  while (start > 0) {
    const len = messages[start - 1]!.content.length;
    if (total + len > maxChars && start < messages.length) break;
    total += len;
    start--;
  }
  return messages.slice(start);
}
