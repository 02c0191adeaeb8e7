import type { InboundOutcome, InboundSink } from '@switchboard/connector';
import type { Logger } from '@switchboard/core';
import { z } from 'zod';
import { callbackSchema, KNOWN_TYPES } from './callback-schema.ts';
import { type NormalizeOptions, normalizeCallback } from './normalize.ts';

export type InboundResult =
  | { kind: 'done'; outcome: InboundOutcome | 'unsupported' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'failed'; error: unknown };

/**
 * One robot message, from the HTTP callback or the Stream connection: validated, normalised and
 * handed to the runtime. 'failed' means it was not taken and DingTalk must deliver it again.
 */
export async function handleRobotMessage(
  body: unknown,
  o: { normalize: NormalizeOptions; sink: InboundSink; log: Logger },
): Promise<InboundResult> {
  const type = body && typeof body === 'object' ? (body as { msgtype?: unknown }).msgtype : undefined;
  if (typeof type === 'string' && !KNOWN_TYPES.has(type)) {
    // Cards, locations, interactive events…: acknowledged so DingTalk does not retry them forever.
    o.log.info('dingtalk message type not handled', { labels: { platform: 'dingtalk' }, msgtype: type });
    return { kind: 'done', outcome: 'unsupported' };
  }
  const parsed = callbackSchema.safeParse(body);
  if (!parsed.success) {
    return {
      kind: 'invalid',
      reason: `invalid robot message: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`,
    };
  }
  const msg = normalizeCallback(parsed.data, o.normalize);
  const hook = parsed.data.sessionWebhook;
  if (hook && !o.normalize.webhookOrigins.has(originOf(hook))) {
    // Not an error (replies go through the API instead), but a proxy setup needs the origin allowed.
    o.log.warn('dingtalk session webhook ignored: origin not in DINGTALK_SESSION_WEBHOOK_ORIGINS', {
      labels: { platform: 'dingtalk', conversation: msg.conversationId },
      origin: originOf(hook),
    });
  }
  try {
    return { kind: 'done', outcome: await o.sink(msg) };
  } catch (error) {
    o.log.warn('dingtalk message not taken, DingTalk will deliver it again', {
      labels: { platform: 'dingtalk', conversation: msg.conversationId },
      error: error instanceof Error ? error.message : String(error),
    });
    return { kind: 'failed', error };
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'not a URL';
  }
}
