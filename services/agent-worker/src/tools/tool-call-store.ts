import type { Platform, Pool, ToolCaller, ToolErrorCode } from '@switchboard/core';
import type { ToolCallRecord, ToolCallStart, ToolCallStatus } from './types.ts';

/** One row of the tool-call audit, as the console and the API show it. */
export interface StoredToolCall extends Omit<ToolCallRecord, 'status'> {
  /** `started`: written before the call ran and not (yet) finished — running, or lost in a crash. */
  status: ToolCallStatus | 'started';
  finishedAt?: Date;
  messageId: string;
  traceId: string;
  platform: Platform;
  botId: string;
  conversationId: string;
  userId: string;
  internalUserId?: string;
  route?: string;
  createdAt: Date;
}

export interface ConversationRef {
  platform: Platform;
  botId: string;
  conversationId: string;
}

// NOTE: one statement per batch, the rows as one JSON parameter: a round of eight calls costs one
// round trip, and the parameter count does not grow with the batch. A call written as started is
// completed in place; a finished row is never changed again.
const INSERT_SQL = `
INSERT INTO tool_calls (id, message_id, trace_id, platform, bot_id, conversation_id, user_id,
                        internal_user_id, route, tool, call_id, round, position, arguments, status,
                        error_code, duration_ms, output_bytes, truncated, finished_at)
SELECT r.id, $1, $2, $3, $4, $5, $6, $7, $8, r.tool, r.call_id, r.round, r.position, r.arguments,
       r.status, r.error_code, r.duration_ms, r.output_bytes, r.truncated, now()
FROM jsonb_to_recordset($9::jsonb) AS r(id uuid, tool text, call_id text, round int, position int,
  arguments jsonb, status text, error_code text, duration_ms int, output_bytes int, truncated boolean)
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
  duration_ms = EXCLUDED.duration_ms, output_bytes = EXCLUDED.output_bytes,
  truncated = EXCLUDED.truncated, finished_at = EXCLUDED.finished_at
WHERE tool_calls.status = 'started'`;

const START_SQL = `
INSERT INTO tool_calls (id, message_id, trace_id, platform, bot_id, conversation_id, user_id,
                        internal_user_id, route, tool, call_id, round, position, arguments, status,
                        duration_ms, output_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'started', 0, 0)
ON CONFLICT (id) DO NOTHING`;

const COLUMNS = `id, message_id, trace_id, platform, bot_id, conversation_id, user_id, internal_user_id, route,
  tool, call_id, round, position, arguments, status, error_code, duration_ms, output_bytes, truncated, created_at,
  finished_at`;

interface Row {
  id: string;
  message_id: string;
  trace_id: string;
  platform: Platform;
  bot_id: string;
  conversation_id: string;
  user_id: string;
  internal_user_id: string | null;
  route: string | null;
  tool: string;
  call_id: string;
  round: number;
  position: number;
  arguments: Record<string, unknown>;
  status: ToolCallStatus | 'started';
  error_code: ToolErrorCode | null;
  duration_ms: number;
  output_bytes: number;
  truncated: boolean;
  created_at: Date;
  finished_at: Date | null;
}

/**
 * The tool-call audit: every call the model asked for, written as `started` before it runs and
 * completed when it ends (a crash in between leaves the started row), read per conversation.
 */
export class ToolCallStore {
  constructor(private readonly pool: Pool) {}

  /** Writes a call about to run as `started`; the loop does not run a call this failed for. */
  async start(caller: ToolCaller, call: ToolCallStart): Promise<void> {
    await this.pool.query({
      name: 'sb-start-tool-call',
      text: START_SQL,
      values: [
        call.id,
        caller.messageId,
        caller.traceId,
        caller.platform,
        caller.botId,
        caller.conversationId,
        caller.userId,
        caller.internalUserId ?? null,
        caller.route ?? null,
        call.tool,
        call.callId,
        call.round,
        call.position,
        JSON.stringify(jsonSafe(call.arguments)),
      ],
    });
  }

  /**
   * Stores the calls of one round as finished: completes their started rows, or inserts the calls
   * that never started (refused). A finished row is kept as first written.
   */
  async record(caller: ToolCaller, calls: readonly ToolCallRecord[]): Promise<void> {
    if (calls.length === 0) return;
    const rows = calls.map((c) => ({
      id: c.id,
      tool: c.tool,
      call_id: c.callId,
      round: c.round,
      position: c.position,
      arguments: c.arguments,
      status: c.status,
      error_code: c.errorCode ?? null,
      duration_ms: c.durationMs,
      output_bytes: c.outputBytes,
      truncated: c.truncated,
    }));
    await this.pool.query({
      name: 'sb-record-tool-calls',
      text: INSERT_SQL,
      values: [
        caller.messageId,
        caller.traceId,
        caller.platform,
        caller.botId,
        caller.conversationId,
        caller.userId,
        caller.internalUserId ?? null,
        caller.route ?? null,
        JSON.stringify(jsonSafe(rows)),
      ],
    });
  }

  /**
   * A conversation's calls, newest round first and in call order within a round. `limit` is capped
   * at 1000; `offset` pages back.
   */
  async listByConversation(
    ref: ConversationRef,
    opts: { limit?: number; offset?: number } = {},
  ): Promise<StoredToolCall[]> {
    const limit = Math.min(Math.max(1, Math.trunc(opts.limit ?? 100)), 1_000);
    const offset = Math.max(0, Math.trunc(opts.offset ?? 0));
    const r = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM tool_calls
       WHERE platform = $1 AND bot_id = $2 AND conversation_id = $3
       ORDER BY created_at DESC, message_id, round DESC, position, id LIMIT $4 OFFSET $5`,
      [ref.platform, ref.botId, ref.conversationId, limit, offset],
    );
    return r.rows.map(fromRow);
  }

  /** The calls made while answering one inbound message, in the order the model made them. */
  async listByMessage(messageId: string): Promise<StoredToolCall[]> {
    const r = await this.pool.query<Row>(
      `SELECT ${COLUMNS} FROM tool_calls WHERE message_id = $1 ORDER BY round, position, created_at`,
      [messageId],
    );
    return r.rows.map(fromRow);
  }
}

function fromRow(r: Row): StoredToolCall {
  return {
    id: r.id,
    callId: r.call_id,
    round: r.round,
    position: r.position,
    tool: r.tool,
    arguments: r.arguments,
    status: r.status,
    ...(r.error_code ? { errorCode: r.error_code } : {}),
    durationMs: r.duration_ms,
    outputBytes: r.output_bytes,
    truncated: r.truncated,
    messageId: r.message_id,
    traceId: r.trace_id,
    platform: r.platform,
    botId: r.bot_id,
    conversationId: r.conversation_id,
    userId: r.user_id,
    ...(r.internal_user_id ? { internalUserId: r.internal_user_id } : {}),
    ...(r.route ? { route: r.route } : {}),
    createdAt: r.created_at,
    ...(r.finished_at ? { finishedAt: r.finished_at } : {}),
  };
}

/**
 * PostgreSQL refuses the NUL character in text and jsonb, and a model (or a user it quotes) can put
 * it in any string it writes; it is stored as U+FFFD so the audit row is still written.
 */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'string')
    return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[jsonSafe(k) as string] = jsonSafe(v);
    return out;
  }
  return value;
}
