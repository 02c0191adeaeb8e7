import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from './errors.ts';
import { traceFields } from './logger.ts';

/**
 * The one message format on the broker. `v` is bumped on any incompatible change so a consumer
 * can refuse (and park) what it does not understand instead of misreading it.
 */
export const ENVELOPE_VERSION = 1;

export const platformSchema = z.enum([
  'web',
  'api',
  'openai',
  'telegram',
  'slack',
  'discord',
  'wecom',
  'dingtalk',
]);
export type Platform = z.infer<typeof platformSchema>;

const id = z.string().min(1).max(256);

export const attachmentSchema = z.object({
  kind: z.enum(['image', 'file', 'audio', 'video']),
  name: z.string().max(256).optional(),
  mimeType: z.string().max(128).optional(),
  size: z.number().int().nonnegative().optional(),
  url: z.string().max(2048),
});

export const userSchema = z.object({
  /** The user's id on the platform. */
  id: id,
  name: z.string().max(256).optional(),
  /** Our own id for this person (user_identities), set by connectors. */
  internalId: z.uuid().optional(),
  /**
   * Why a connector let this user through: on its ALLOWED_USERS, paired, or only because
   * STRANGER_MODE=open lets everyone in (a stranger). Set by connectors; unset on web and API
   * messages, whose clients hold an API credential.
   */
  admitted: z.enum(['allowlisted', 'paired', 'open']).optional(),
});

/** Where a platform message was said: a direct chat or a group, and in which thread. */
export const chatSchema = z.object({
  type: z.enum(['direct', 'group']),
  /** The group / channel, when the conversation is a thread inside it. */
  channelId: id.optional(),
  threadId: id.optional(),
  /** Whether the bot was addressed (@-mention, reply to the bot, command). */
  addressed: z.boolean().optional(),
});

/** A previous turn carried inside a stateless request (the OpenAI-compatible API sends its whole history). */
export const contextMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(200_000),
});

export const inboundEnvelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  kind: z.literal('inbound'),
  /** Derived from the platform's own id (`web:<bot>:<client id>`), so platform retries de-duplicate. */
  id: id,
  platform: platformSchema,
  botId: id,
  conversationId: id,
  user: userSchema,
  text: z.string().max(200_000),
  attachments: z.array(attachmentSchema).max(32).default([]),
  /** Platform id of the message this one answers or quotes. */
  replyTo: id.optional(),
  chat: chatSchema.optional(),
  /** Platform ids of other users mentioned in the message. */
  mentions: z.array(id).max(100).optional(),
  /** When set, the worker answers from this history instead of the stored conversation. */
  context: z.array(contextMessageSchema).max(500).optional(),
  /** Whitelisted claims of the API client's verified JWT, for routing rules; never client-asserted. */
  claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  receivedAt: z.iso.datetime(),
  traceId: id,
});
export type InboundEnvelope = z.infer<typeof inboundEnvelopeSchema>;

export const outboundEnvelopeSchema = z.object({
  v: z.literal(ENVELOPE_VERSION),
  kind: z.literal('outbound'),
  id: id,
  platform: platformSchema,
  botId: id,
  conversationId: id,
  /** The inbound message id this reply answers. */
  inReplyTo: id,
  text: z.string(),
  attachments: z.array(attachmentSchema).max(32).default([]),
  /** `error` replies tell the user their request could not be served. */
  status: z.enum(['ok', 'error']),
  model: z.string().optional(),
  createdAt: z.iso.datetime(),
  traceId: id,
});
export type OutboundEnvelope = z.infer<typeof outboundEnvelopeSchema>;

/** The log fields that tie a line to one message: its trace id and where it came from. */
export function messageLogFields(env: Pick<InboundEnvelope, 'traceId' | 'platform' | 'conversationId'>) {
  return traceFields(env.traceId, { platform: env.platform, conversation: env.conversationId });
}

export function newTraceId(): string {
  return randomUUID().replaceAll('-', '');
}

export function parseInbound(raw: unknown): InboundEnvelope {
  const parsed = inboundEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SwitchboardError(
      ErrorCodes.ENVELOPE_INVALID,
      `invalid inbound envelope: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

export function parseOutbound(raw: unknown): OutboundEnvelope {
  const parsed = outboundEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SwitchboardError(
      ErrorCodes.ENVELOPE_INVALID,
      `invalid outbound envelope: ${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}
