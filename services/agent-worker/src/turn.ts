import { randomUUID } from 'node:crypto';
import {
  ENVELOPE_VERSION,
  type InboundEnvelope,
  type Logger,
  messageLogFields,
  type OutboundEnvelope,
  type OutboxMessage,
  type TopologyNames,
} from '@switchboard/core';
import type { Agent } from './agent/agent.ts';
import { type ConversationStore, trimToBudget } from './conversation-store.ts';

export { APOLOGY, RESET_REPLY } from './agent/agent.ts';

export interface TurnSettings {
  contextMaxMessages: number;
  contextMaxChars: number;
  sessionIdleMs: number;
}

export type TurnOutcome = 'answered' | 'apologised' | 'reset' | 'duplicate' | 'ignored';

export interface TurnHooks {
  onOutcome?(outcome: TurnOutcome, env: InboundEnvelope, latencySeconds: number): void;
}

/** Where a committed reply goes next: OutboxRelay.publishCommitted. */
export type PublishCommitted = (outboxId: string, m: OutboxMessage) => Promise<void>;

/**
 * One inbound message in, one reply out: history, the agent's answer, and a single transaction that
 * stores the turn, claims the inbox row and queues the reply in the outbox.
 */
export class TurnProcessor {
  constructor(
    private readonly store: ConversationStore,
    private readonly agent: Pick<Agent, 'answer'>,
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

    const history = env.context
      ? trimToBudget(env.context, this.settings.contextMaxChars)
      : newSessionId
        ? []
        : trimToBudget(loaded.history, this.settings.contextMaxChars);
    const reply = await this.agent.answer({ env, history, userContent: userContent(env) });
    if (reply.ignore) {
      this.hooks.onOutcome?.('ignored', env, 0);
      this.log.info('message ignored by its routing rule', {
        ...trace,
        labels: { ...trace.labels, route: reply.route },
      });
      return 'ignored';
    }
    if (reply.reset) newSessionId = randomUUID();
    const outcome: TurnOutcome = reply.reset ? 'reset' : reply.status === 'error' ? 'apologised' : 'answered';

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
      attachments: reply.attachments,
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
