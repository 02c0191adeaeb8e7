import { randomUUID } from 'node:crypto';
import type { InboundEnvelope, OutboxMessage, Pool } from '@switchboard/core';
import type { ChatMessage } from './models/provider.ts';

export interface Conversation {
  id: string;
  sessionId: string;
  lastActivityAt: Date;
}

export interface LoadedTurn {
  /** The message already took effect (a redelivery): do nothing. */
  processed: boolean;
  conversation: Conversation;
  /** The newest messages of the current session, oldest first, before trimming. */
  history: ChatMessage[];
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

// NOTE: one round trip. Turns of a conversation are serialised, so the insert only races another
// worker during a partition hand-over; then it returns no row and the caller asks again.
const LOAD_SQL = `
WITH found AS (
  SELECT id, session_id, last_activity_at FROM conversations
  WHERE platform = $1 AND bot_id = $2 AND external_id = $3
), created AS (
  INSERT INTO conversations (platform, bot_id, external_id, session_id)
  SELECT $1, $2, $3, $4::uuid WHERE NOT EXISTS (SELECT 1 FROM found)
  ON CONFLICT (platform, bot_id, external_id) DO NOTHING
  RETURNING id, session_id, last_activity_at
), conv AS (
  SELECT * FROM found UNION ALL SELECT * FROM created
)
SELECT conv.id, conv.session_id, conv.last_activity_at,
       EXISTS (SELECT 1 FROM inbox WHERE message_id = $5) AS processed,
       h.id AS message_row, h.role, h.content
FROM conv
LEFT JOIN LATERAL (
  SELECT m.id, m.role, m.content FROM messages m
  WHERE m.conversation_id = conv.id AND m.session_id = conv.session_id AND m.status = 'ok'
  ORDER BY m.id DESC LIMIT $6
) h ON true
ORDER BY h.id DESC`;

// NOTE: one statement is one transaction: claiming the inbox row, storing both messages, touching
// the conversation and queueing the reply in the outbox commit together or not at all. Everything
// after `claim` runs only when the claim succeeded, i.e. this delivery is the first to take effect.
const COMMIT_SQL = `
WITH claim AS (
  INSERT INTO inbox (message_id, trace_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING message_id
), conv AS (
  UPDATE conversations SET last_activity_at = now(), session_id = $4::uuid,
    session_started_at = CASE WHEN session_id = $4::uuid THEN session_started_at ELSE now() END
  WHERE id = $3::bigint AND EXISTS (SELECT 1 FROM claim)
  RETURNING id
), msgs AS (
  INSERT INTO messages (conversation_id, session_id, role, content, message_id, in_reply_to, user_id, model,
                        status, prompt_tokens, completion_tokens, latency_ms, trace_id, created_at)
  SELECT $3::bigint, $4::uuid, 'user', $5::text, $1::text, NULL, $6::text, NULL, $7::text, NULL, NULL, NULL, $2::text, $8::timestamptz
  FROM claim
  UNION ALL
  SELECT $3::bigint, $4::uuid, 'assistant', $9::text, $10::text, $1::text, NULL, $11::text, $7::text,
         $12::int, $13::int, $14::int, $2::text, now()
  FROM claim
), ob AS (
  INSERT INTO outbox (exchange, routing_key, message_id, payload, trace_id)
  SELECT $15, $16, $17, $18::jsonb, $2 FROM claim
  ON CONFLICT (message_id) DO NOTHING
  RETURNING id
)
SELECT (SELECT count(*) FROM claim)::int AS claimed, (SELECT id FROM ob) AS outbox_id`;

/** Conversations, their history and the turn transaction; all SQL of the worker lives here. */
export class ConversationStore {
  constructor(private readonly pool: Pool) {}

  async load(env: InboundEnvelope, maxMessages: number): Promise<LoadedTurn> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await this.pool.query<{
        id: string;
        session_id: string;
        last_activity_at: Date;
        processed: boolean;
        message_row: string | null;
        // Only user and assistant turns are stored as messages; tool rounds live in tool_calls.
        role: 'user' | 'assistant' | null;
        content: string | null;
      }>({
        // Named: prepared once per connection, so PostgreSQL does not re-plan it for every message.
        name: 'sb-load-turn',
        text: LOAD_SQL,
        values: [env.platform, env.botId, env.conversationId, randomUUID(), env.id, maxMessages],
      });
      const first = r.rows[0];
      if (!first) continue;
      const history = r.rows
        .filter((row) => row.message_row !== null)
        .reverse()
        .map((row) => ({ role: row.role!, content: row.content! }));
      return {
        processed: first.processed,
        conversation: { id: first.id, sessionId: first.session_id, lastActivityAt: first.last_activity_at },
        history,
      };
    }
    throw new Error(`conversation ${env.conversationId} could not be loaded or created`);
  }

  /**
   * The reply of an already processed message that is still waiting in the outbox: after a crash
   * between commit and publish, the redelivery must send it before the conversation's next turn.
   */
  async unsentReply(replyId: string): Promise<{ id: string; message: OutboxMessage } | undefined> {
    const r = await this.pool.query<{
      id: string;
      exchange: string;
      routing_key: string;
      payload: unknown;
      trace_id: string;
    }>(
      'SELECT id, exchange, routing_key, payload, trace_id FROM outbox WHERE message_id = $1 AND sent_at IS NULL',
      [replyId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      id: row.id,
      message: {
        exchange: row.exchange,
        routingKey: row.routing_key,
        messageId: replyId,
        payload: row.payload,
        traceId: row.trace_id,
      },
    };
  }

  /**
   * Stores the turn and queues its reply, keyed by the inbound message id. Returns the outbox row's
   * id, or undefined when another delivery of the same message already committed.
   */
  async commitTurn(t: TurnRecord): Promise<string | undefined> {
    const sessionId = t.newSessionId ?? t.conversation.sessionId;
    const r = await this.pool.query<{ claimed: number; outbox_id: string | null }>({
      name: 'sb-commit-turn',
      text: COMMIT_SQL,
      values: [
        t.inbound.id,
        t.inbound.traceId,
        t.conversation.id,
        sessionId,
        t.inbound.text,
        t.inbound.user.id,
        t.reply.status,
        t.inbound.receivedAt,
        t.reply.text,
        t.reply.id,
        t.reply.model ?? null,
        t.reply.promptTokens ?? null,
        t.reply.completionTokens ?? null,
        t.reply.latencyMs,
        t.outbox.exchange,
        t.outbox.routingKey,
        t.outbox.messageId,
        JSON.stringify(t.outbox.payload),
      ],
    });
    const row = r.rows[0];
    if (!row || row.claimed === 0) return undefined;
    return row.outbox_id ?? undefined;
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
