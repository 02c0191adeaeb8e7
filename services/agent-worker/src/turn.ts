import { randomUUID } from 'node:crypto';
import {
  ENVELOPE_VERSION,
  ErrorCodes,
  type InboundEnvelope,
  isSwitchboardError,
  type Logger,
  messageLogFields,
  type OutboundEnvelope,
  type OutboxMessage,
  type TopologyNames,
} from '@switchboard/core';
import { type ConversationStore, trimToBudget } from './conversation-store.ts';
import type { ModelChain } from './models/chain.ts';
import type { ChatMessage } from './models/provider.ts';

export const APOLOGY =
  'Sorry — I could not get an answer from any of my models just now. Your message was received; please try again in a moment.';
export const RESET_REPLY = 'Conversation reset. I have forgotten our earlier messages in this chat.';

export interface TurnSettings {
  systemPrompt: string;
  contextMaxMessages: number;
  contextMaxChars: number;
  sessionIdleMs: number;
}

export type TurnOutcome = 'answered' | 'apologised' | 'reset' | 'duplicate';

export interface TurnHooks {
  onOutcome?(outcome: TurnOutcome, env: InboundEnvelope, latencySeconds: number): void;
}

/** Where a committed reply goes next: OutboxRelay.publishCommitted. */
export type PublishCommitted = (outboxId: string, m: OutboxMessage) => Promise<void>;

/**
 * One inbound message in, one reply out: history, model chain, and a single transaction that stores
 * the turn, claims the inbox row and queues the reply in the outbox.
 */
export class TurnProcessor {
  constructor(
    private readonly store: ConversationStore,
    private readonly chain: ModelChain,
    private readonly publish: PublishCommitted,
    private readonly names: TopologyNames,
    private readonly settings: TurnSettings,
    private readonly log: Logger,
    private readonly hooks: TurnHooks = {},
  ) {}

  async handle(env: InboundEnvelope): Promise<TurnOutcome> {
    const trace = messageLogFields(env);
    const loaded = await this.store.load(env, this.settings.contextMaxMessages);
    // A redelivery of a finished turn must not call the model again, but if the worker died between
    // commit and publish, its reply goes out now, before the conversation's next turn.
    if (loaded.processed) {
      const pending = await this.store.unsentReply(`reply:${env.id}`);
      if (pending) await this.publish(pending.id, pending.message);
      this.hooks.onOutcome?.('duplicate', env, 0);
      return 'duplicate';
    }
    const { conversation } = loaded;
    const idle =
      this.settings.sessionIdleMs > 0 &&
      Date.now() - conversation.lastActivityAt.getTime() > this.settings.sessionIdleMs;
    let newSessionId = idle ? randomUUID() : undefined;

    let outcome: TurnOutcome;
    let reply: {
      text: string;
      status: 'ok' | 'error';
      model?: string;
      promptTokens?: number;
      completionTokens?: number;
    };
    if (env.text.trim() === '/reset') {
      newSessionId = randomUUID();
      outcome = 'reset';
      reply = { text: RESET_REPLY, status: 'ok' };
    } else {
      const history = env.context
        ? trimToBudget(
            env.context.filter((m) => m.role !== 'system'),
            this.settings.contextMaxChars,
          )
        : newSessionId
          ? []
          : trimToBudget(loaded.history, this.settings.contextMaxChars);
      const clientSystem = env.context?.filter((m) => m.role === 'system') ?? [];
      const messages: ChatMessage[] = [
        ...(clientSystem.length > 0
          ? clientSystem
          : [{ role: 'system' as const, content: this.settings.systemPrompt }]),
        ...history,
        { role: 'user', content: userContent(env) },
      ];
      try {
        const r = await this.chain.complete(messages, env.traceId);
        outcome = 'answered';
        reply = {
          text: r.content,
          status: 'ok',
          model: r.model,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
        };
      } catch (err) {
        if (!isSwitchboardError(err) || err.code !== ErrorCodes.ALL_MODELS_FAILED) throw err;
        this.log.error('every model failed; sending the apology', {
          ...trace,
          error: { code: err.code, message: err.message },
        });
        outcome = 'apologised';
        reply = { text: APOLOGY, status: 'error' };
      }
    }

    const replyId = `reply:${env.id}`;
    const latencyMs = Date.now() - Date.parse(env.receivedAt);
    const outbound: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      id: replyId,
      platform: env.platform,
      botId: env.botId,
      conversationId: env.conversationId,
      inReplyTo: env.id,
      text: reply.text,
      attachments: [],
      status: reply.status,
      model: reply.model,
      createdAt: new Date().toISOString(),
      traceId: env.traceId,
    };
    const outbox: OutboxMessage = {
      exchange: this.names.outbound,
      routingKey: this.names.outboundKey(env.platform, env.botId),
      messageId: replyId,
      payload: outbound,
      traceId: env.traceId,
    };
    const outboxId = await this.store.commitTurn({
      conversation,
      newSessionId,
      inbound: env,
      reply: { id: replyId, latencyMs, ...reply },
      outbox,
    });
    if (!outboxId) {
      this.hooks.onOutcome?.('duplicate', env, 0);
      return 'duplicate';
    }
    // Awaited inside the conversation's turn, so its replies leave in order.
    await this.publish(outboxId, outbox);
    this.hooks.onOutcome?.(outcome, env, latencyMs / 1000);
    this.log.info('turn committed', {
      ...trace,
      event: { outcome, duration: latencyMs * 1e6 },
      labels: { ...trace.labels, model: reply.model },
    });
    return outcome;
  }
}

/**
 * What the model reads of the user's message: the text, and a line naming each attached file so
 * a text-only model can at least acknowledge it (the files themselves are stored by the connector).
 */
export function userContent(env: InboundEnvelope): string {
  if (env.attachments.length === 0) return env.text;
  const files = env.attachments.map(
    (a) =>
      `${a.name ?? a.kind}${a.mimeType ? `, ${a.mimeType}` : ''}${a.size !== undefined ? `, ${a.size} bytes` : ''}`,
  );
  return `${env.text}\n\n[Attached: ${files.join('; ')}]`;
}
