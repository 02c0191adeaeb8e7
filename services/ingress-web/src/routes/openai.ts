import { randomUUID } from 'node:crypto';
import { caller, ErrorCodes, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { apiClient, type TokenAuth } from '../auth.ts';
import type { Intake } from '../intake.ts';
import type { StoredReply } from '../replies.ts';
import type { ReplyHub } from '../reply-hub.ts';
import { parseOrThrow } from './messages.ts';

const contentPart = z.object({ type: z.string(), text: z.string().optional() });
const chatBody = z.object({
  model: z.string().min(1),
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
        content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
      }),
    )
    .min(1, 'messages: at least one message'),
  stream: z.boolean().optional(),
  user: z.string().max(128).optional(),
});

type ChatMessage = z.infer<typeof chatBody>['messages'][number];

/** Text parts only: images and audio are not supported on this path yet. */
function textOf(m: ChatMessage): string {
  if (typeof m.content === 'string') return m.content;
  return (m.content ?? []).map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
}

/**
 * OpenAI-compatible chat completions. Each request becomes one inbound message on the same broker
 * path as every platform, carrying the client's history as context; the answer comes back through
 * this instance's reply queue. Streaming sends the finished answer as SSE chunks: the answer is
 * produced by a worker behind the broker, not token by token here.
 */
export function openAiRoutes(
  app: FastifyInstance,
  d: { auth: TokenAuth; intake: Intake; hub: ReplyHub; modelName: string; timeoutMs: number },
) {
  app.get('/v1/models', apiClient, async () => {
    return {
      object: 'list',
      data: [{ id: d.modelName, object: 'model', created: 0, owned_by: 'switchboard' }],
    };
  });

  app.post('/v1/chat/completions', apiClient, async (req, reply) => {
    const principal = caller(req);
    const body = parseOrThrow(chatBody, req.body);
    if (body.model !== d.modelName) {
      throw new SwitchboardError(
        ErrorCodes.NOT_FOUND,
        `model "${body.model}" does not exist; use "${d.modelName}"`,
        {
          statusCode: 404,
        },
      );
    }
    const last = body.messages.at(-1)!;
    if (last.role !== 'user') {
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'the last message must have role "user"', {
        statusCode: 400,
      });
    }
    const context = body.messages.slice(0, -1).flatMap((m) => {
      const role = m.role === 'developer' ? 'system' : m.role;
      return role === 'tool' ? [] : [{ role, content: textOf(m) }];
    });
    const env = d.intake.build({
      platform: 'openai',
      conversationId: `oa-${randomUUID()}`,
      userId: body.user ?? principal.subject ?? 'openai-client',
      text: textOf(last),
      context,
      claims: principal.claims,
    });
    const waiter = d.hub.waitFor(env.id, d.timeoutMs);
    try {
      await d.intake.publish(env);
    } catch (err) {
      waiter.cancel();
      throw err;
    }
    reply.header('x-switchboard-message-id', env.id);
    reply.header('x-switchboard-trace-id', env.traceId);
    const id = `chatcmpl-${env.traceId}`;
    const created = Math.floor(Date.now() / 1000);
    if (body.stream)
      return streamAnswer(reply, waiter.reply, { id, created, model: d.modelName, messageId: env.id });

    const answer = await waiter.reply;
    if (!answer) throw timeoutError(env.id);
    return {
      id,
      object: 'chat.completion',
      created,
      model: d.modelName,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer.text },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    };
  });
}

function timeoutError(messageId: string) {
  return new SwitchboardError(
    ErrorCodes.TIMEOUT,
    `no answer in time; the message ${messageId} is still queued and its answer can be fetched from /v1/messages/${messageId}`,
    { statusCode: 504 },
  );
}

async function streamAnswer(
  reply: FastifyReply,
  answer: Promise<StoredReply | undefined>,
  o: { id: string; created: number; model: string; messageId: string },
) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-switchboard-message-id': o.messageId,
  });
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({
      id: o.id,
      object: 'chat.completion.chunk',
      created: o.created,
      model: o.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    })}\n\n`;
  res.write(chunk({ role: 'assistant', content: '' }, null));
  // Comments keep proxies from closing an idle stream while the model thinks.
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  try {
    const a = await answer;
    if (!a) {
      const e = timeoutError(o.messageId);
      res.write(`data: ${JSON.stringify({ error: { code: e.code, message: e.message } })}\n\n`);
    } else {
      for (const piece of a.text.match(/[\s\S]{1,200}/gu) ?? ['']) res.write(chunk({ content: piece }, null));
      res.write(chunk({}, 'stop'));
    }
    res.write('data: [DONE]\n\n');
  } finally {
    clearInterval(keepAlive);
    res.end();
  }
}
