import { ErrorCodes, platformSchema, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ToolCallStore } from './tool-call-store.ts';

const id = z.string().min(1).max(256);
const byConversation = z.strictObject({
  platform: platformSchema,
  botId: id,
  conversationId: id,
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

/**
 * Every tool call of a conversation or of one message, for operators (the admin console and the
 * CLI read these): who, which tool, arguments, status, duration and output size.
 */
export async function toolCallRoutes(app: FastifyInstance, o: { calls: ToolCallStore }): Promise<void> {
  app.get('/admin/tool-calls', { config: { access: { role: 'viewer' } } }, async (req) => {
    const q = req.query as Record<string, unknown>;
    if (typeof q.messageId === 'string') {
      const messageId = id.safeParse(q.messageId);
      if (!messageId.success) throw bad('messageId: 1-256 characters');
      return { calls: await o.calls.listByMessage(messageId.data) };
    }
    const parsed = byConversation.safeParse(q);
    if (!parsed.success) {
      throw bad(`give messageId, or platform, botId and conversationId: ${z.prettifyError(parsed.error)}`);
    }
    const { limit, offset, ...ref } = parsed.data;
    return { calls: await o.calls.listByConversation(ref, { limit, offset }) };
  });
}

function bad(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCodes.BAD_REQUEST, message, { statusCode: 400 });
}
