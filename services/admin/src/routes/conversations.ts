import type { Pool } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { needs } from '../auth/auth.ts';
import { notFound, parseInput } from '../errors.ts';

const searchQuery = z.object({
  q: z.string().max(500).optional(),
  user: z.string().max(256).optional(),
  platform: z.string().max(64).optional(),
  messageId: z.string().max(512).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const idParam = z.object({ id: z.string().regex(/^\d{1,18}$/, 'a conversation number') });

/** LIKE pattern for a literal substring. */
const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Conversation search, transcripts and one message's trace across the stored rows. */
export function registerConversationRoutes(app: FastifyInstance, o: { pool: Pool }): void {
  app.get('/admin/api/conversations', needs('viewer'), async (req) => {
    const f = parseInput(searchQuery, req.query, 'query');
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.platform) where.push(`c.platform = $${args.push(f.platform)}`);
    const inner: string[] = [];
    if (f.q) inner.push(`m.content ILIKE $${args.push(like(f.q))}`);
    if (f.user) inner.push(`m.user_id = $${args.push(f.user)}`);
    if (f.messageId)
      inner.push(`(m.message_id = $${args.push(f.messageId)} OR m.in_reply_to = $${args.length})`);
    if (inner.length)
      where.push(
        `EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND ${inner.join(' AND ')})`,
      );
    const { rows } = await o.pool.query<{
      id: string;
      platform: string;
      bot_id: string;
      external_id: string;
      user_id: string | null;
      last_at: Date | null;
      last_text: string | null;
    }>(
      `SELECT c.id::text, c.platform, c.bot_id, c.external_id, last.user_id, last.created_at AS last_at,
              left(last.content, 300) AS last_text
       FROM conversations c
       LEFT JOIN LATERAL (SELECT m.content, m.created_at,
                           (SELECT u.user_id FROM messages u WHERE u.conversation_id = c.id AND u.role = 'user'
                            ORDER BY u.id DESC LIMIT 1) AS user_id
                          FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1) last ON true
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ${f.limit}`,
      args,
    );
    return {
      conversations: rows.map((r) => ({
        id: r.id,
        platform: r.platform,
        botId: r.bot_id,
        conversationId: r.external_id,
        user: r.user_id,
        lastMessageAt: r.last_at,
        lastText: r.last_text,
      })),
    };
  });

  app.get('/admin/api/conversations/:id/messages', needs('viewer'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'conversation');
    const conv = await o.pool.query('SELECT 1 FROM conversations WHERE id = $1', [id]);
    if (!conv.rowCount) throw notFound(`no conversation ${id}`);
    const { rows } = await o.pool.query<{
      message_id: string;
      role: string;
      content: string;
      created_at: Date;
      trace_id: string;
      status: string;
      model: string | null;
      user_id: string | null;
    }>(
      `SELECT message_id, role, content, created_at, trace_id, status, model, user_id FROM messages
       WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1000`,
      [id],
    );
    return {
      messages: rows.reverse().map((r) => ({
        id: r.message_id,
        role: r.role,
        text: r.content,
        at: r.created_at,
        traceId: r.trace_id,
        status: r.status,
        model: r.model,
        user: r.user_id,
      })),
    };
  });

  app.get<{ Params: { id: string } }>('/admin/api/messages/:id/trace', needs('viewer'), async (req) => {
    const id = req.params.id;
    const msg = await o.pool.query<{
      message_id: string;
      trace_id: string;
      role: string;
      created_at: Date;
      platform: string;
    }>(
      `SELECT m.message_id, m.trace_id, m.role, m.created_at, c.platform FROM messages m
       JOIN conversations c ON c.id = m.conversation_id WHERE m.message_id = $1`,
      [id],
    );
    const inbox = await o.pool.query<{ trace_id: string; processed_at: Date }>(
      'SELECT trace_id, processed_at FROM inbox WHERE message_id = $1',
      [id],
    );
    const first = msg.rows[0];
    if (!first && !inbox.rows[0]) throw notFound(`no message ${id.slice(0, 200)}`);
    const traceId = first?.trace_id ?? inbox.rows[0]!.trace_id;
    const [replies, outbox, parts, tools] = await Promise.all([
      o.pool.query<{
        message_id: string;
        created_at: Date;
        model: string | null;
        status: string;
        latency_ms: number | null;
        prompt_tokens: number | null;
        completion_tokens: number | null;
      }>(
        `SELECT message_id, created_at, model, status, latency_ms, prompt_tokens, completion_tokens
         FROM messages WHERE in_reply_to = $1 ORDER BY id`,
        [id],
      ),
      o.pool.query<{
        message_id: string;
        routing_key: string;
        created_at: Date;
        sent_at: Date | null;
        attempts: number;
        last_error: string | null;
      }>(
        `SELECT message_id, routing_key, created_at, sent_at, attempts, last_error FROM outbox
         WHERE trace_id = $1 ORDER BY id`,
        [traceId],
      ),
      o.pool.query<{ message_id: string; part: number; sent_at: Date }>(
        `SELECT p.message_id, p.part, p.sent_at FROM outbound_parts p
         WHERE p.message_id IN (SELECT message_id FROM outbox WHERE trace_id = $1) ORDER BY p.sent_at`,
        [traceId],
      ),
      o.pool.query<{
        tool: string;
        status: string;
        error_code: string | null;
        duration_ms: number;
        round: number;
        created_at: Date;
      }>(
        `SELECT tool, status, error_code, duration_ms, round, created_at FROM tool_calls
         WHERE message_id = $1 ORDER BY round, position`,
        [id],
      ),
    ]);
    const hops: Array<{ service: string; event: string; at: Date; detail?: unknown }> = [];
    if (first) hops.push({ service: `ingress-${first.platform}`, event: 'received', at: first.created_at });
    if (inbox.rows[0])
      hops.push({ service: 'agent-worker', event: 'processed', at: inbox.rows[0].processed_at });
    for (const t of tools.rows)
      hops.push({ service: 'tool-runner', event: `tool ${t.tool}: ${t.status}`, at: t.created_at });
    for (const r of replies.rows)
      hops.push({
        service: 'agent-worker',
        event: `reply stored (${r.status})`,
        at: r.created_at,
        detail: { messageId: r.message_id },
      });
    for (const b of outbox.rows) {
      hops.push({
        service: 'agent-worker',
        event: 'reply queued in outbox',
        at: b.created_at,
        detail: { messageId: b.message_id, routingKey: b.routing_key },
      });
      if (b.sent_at)
        hops.push({
          service: 'outbox-relay',
          event: 'reply published',
          at: b.sent_at,
          detail: { messageId: b.message_id, attempts: b.attempts },
        });
    }
    for (const p of parts.rows)
      hops.push({
        service: 'connector',
        event: `part ${p.part} delivered`,
        at: p.sent_at,
        detail: { messageId: p.message_id },
      });
    hops.sort((a, b) => a.at.getTime() - b.at.getTime());
    return {
      messageId: id,
      traceId,
      hops,
      modelCalls: replies.rows
        .filter((r) => r.model)
        .map((r) => ({
          model: r.model,
          status: r.status,
          latencyMs: r.latency_ms,
          promptTokens: r.prompt_tokens,
          completionTokens: r.completion_tokens,
          at: r.created_at,
        })),
      toolCalls: tools.rows.map((t) => ({
        tool: t.tool,
        status: t.status,
        errorCode: t.error_code,
        durationMs: t.duration_ms,
        round: t.round,
        at: t.created_at,
      })),
    };
  });
}
