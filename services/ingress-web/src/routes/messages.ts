import { caller, ErrorCodes, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { apiClient, type TokenAuth } from '../auth.ts';
import { clientIdSchema, conversationIdSchema, type Intake } from '../intake.ts';
import type { ReplyStore } from '../replies.ts';

const postBody = z.object({
  conversationId: conversationIdSchema,
  text: z.string({ error: 'text: required string' }),
  id: clientIdSchema.optional(),
  user: z.object({ id: z.string().min(1).max(128), name: z.string().max(256).optional() }).optional(),
});

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new SwitchboardError(ErrorCodes.BAD_REQUEST, z.prettifyError(r.error).replaceAll('\n', '; '), {
      statusCode: 400,
    });
  }
  return r.data;
}

/** The plain HTTP API: accept a message (202) and look its reply up. */
export function messageRoutes(
  app: FastifyInstance,
  d: { auth: TokenAuth; intake: Intake; replies: ReplyStore; botId: string },
) {
  app.post('/v1/messages', apiClient, async (req, reply) => {
    const principal = caller(req);
    const body = parseOrThrow(postBody, req.body);
    const idem = req.headers['idempotency-key'];
    const clientId = body.id ?? (typeof idem === 'string' ? parseOrThrow(clientIdSchema, idem) : undefined);
    const env = d.intake.build({
      platform: 'web',
      conversationId: body.conversationId,
      userId: body.user?.id ?? principal.subject ?? 'api',
      userName: body.user?.name,
      text: body.text,
      clientId,
      claims: principal.claims,
    });
    await d.intake.publish(env);
    return reply
      .status(202)
      .send({ id: env.id, conversationId: env.conversationId, traceId: env.traceId, status: 'accepted' });
  });

  app.get<{ Params: { id: string } }>('/v1/messages/:id', apiClient, async (req) => {
    const { known, reply } = await d.replies.forMessage(req.params.id);
    if (reply) return { id: req.params.id, status: reply.status === 'ok' ? 'answered' : 'failed', reply };
    // Not in the database yet: accepted and queued, or never seen; either way nothing to show.
    return { id: req.params.id, status: known ? 'processing' : 'pending' };
  });
}
