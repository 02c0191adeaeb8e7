import {
  type Broker,
  ENVELOPE_VERSION,
  ErrorCodes,
  errorMessage,
  type InboundEnvelope,
  isSwitchboardError,
  type Logger,
  messageLogFields,
  newTraceId,
  type OutboundEnvelope,
  type Platform,
  type Pool,
  SwitchboardError,
} from '@switchboard/core';
import type { InboundOutcome, InboundSink, NormalizedMessage } from './adapter.ts';
import { type AttachmentStore, formatBytes, type StoredAttachment } from './attachments.ts';
import type { ChannelPolicy } from './channel-policy.ts';
import type { IdentityStore } from './identities.ts';
import type { StrangerGate } from './pairing.ts';
import type { ReplyContexts } from './reply-contexts.ts';

export interface InboundOptions {
  platform: Platform;
  /** Read on every message: some adapters learn their bot id only once connected. */
  botId: () => string;
  maxChars: number;
  publishTimeoutMs: number;
}

export interface InboundDeps {
  broker: Broker;
  pool: Pool;
  log: Logger;
  identities: IdentityStore;
  policy: ChannelPolicy;
  /** Allowlist and stranger mode: who may reach the agents at all. */
  gate: StrangerGate;
  contexts: ReplyContexts;
  attachments: AttachmentStore;
  onOutcome?: (outcome: InboundOutcome | 'failed') => void;
  /** A message went to the agents: the runtime shows "typing…" while the model works. */
  onPublished?: (envelopeId: string, msg: NormalizedMessage) => void;
}

/** Remembers recently published ids so a platform's quick retry costs no query. */
class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  has(id: string) {
    return this.ids.has(id);
  }
  add(id: string) {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
  }
}

/**
 * The inbound half every connector shares: policy, identity, attachments, then the envelope published
 * with a confirm. The adapter acknowledges its platform only once this resolved; when it rejects the
 * platform is not acknowledged and redelivers, and the envelope id (from the platform's own id)
 * makes that redelivery one answer.
 */
export class InboundPipeline {
  private readonly recent = new RecentIds(10_000);

  constructor(
    private readonly o: InboundOptions,
    private readonly d: InboundDeps,
  ) {}

  readonly sink: InboundSink = async (msg) => {
    try {
      const outcome = await this.handle(msg);
      this.d.onOutcome?.(outcome);
      return outcome;
    } catch (err) {
      this.d.onOutcome?.('failed');
      throw err;
    }
  };

  envelopeId(platformMessageId: string): string {
    return `${this.o.platform}:${this.o.botId()}:${platformMessageId}`;
  }

  private async handle(msg: NormalizedMessage): Promise<InboundOutcome> {
    const botId = this.o.botId();
    const id = this.envelopeId(msg.platformMessageId);
    const base = { traceId: newTraceId(), platform: this.o.platform, conversationId: msg.conversationId };
    const fields = { ...messageLogFields(base), labels: { message_id: id, platform: this.o.platform } };

    if (this.recent.has(id) || (await this.alreadyProcessed(id))) {
      this.d.log.info('duplicate platform delivery ignored', fields);
      return 'duplicate';
    }
    if (msg.chatType === 'group' && !msg.addressedToBot) {
      const policy = await this.d.policy.groupPolicy(botId, msg.channelId ?? msg.conversationId);
      if (policy === 'mention') {
        this.d.log.debug('group message not addressed to the bot ignored', fields);
        return 'ignored';
      }
    }
    // The context is stored before anything is published, so even a refusal can be answered.
    await this.d.contexts.save(id, msg.replyContext, msg.replyContextExpiresAt);

    // Before attachments are downloaded and anything is published: a stranger's message goes nowhere.
    const gate = await this.d.gate.admit(msg, { messageId: id, botId, fields });
    if (gate.action !== 'pass') {
      if (gate.action === 'refuse' && gate.notice) await this.notify(id, base.traceId, msg, gate.notice);
      this.recent.add(id);
      return gate.action === 'ignore' ? 'ignored' : 'refused';
    }

    const text = msg.text.trim();
    if (text.length > this.o.maxChars) {
      await this.notify(
        id,
        base.traceId,
        msg,
        `Sorry, your message is ${text.length} characters long; the limit is ${this.o.maxChars}. Please shorten it.`,
      );
      this.recent.add(id);
      return 'refused';
    }

    const { stored, skipped } = await this.ingestAttachments(msg, fields);
    if (skipped.length > 0) {
      await this.notify(
        `${id}:attachments`,
        base.traceId,
        msg,
        `Sorry, I could not read ${skipped.join('; ')}.`,
      );
    }
    if (text.length === 0 && stored.length === 0) {
      // A sticker, an empty caption, or only files we refused: nothing to answer beyond the notice.
      this.recent.add(id);
      return 'ignored';
    }

    const internalId = await this.d.identities.resolve(this.o.platform, msg.user.id, msg.user.name);
    const env: InboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'inbound',
      id,
      platform: this.o.platform,
      botId,
      conversationId: msg.conversationId,
      user: { id: msg.user.id, name: msg.user.name, internalId, admitted: gate.admitted },
      text: text.length > 0 ? text : describeAttachments(stored),
      attachments: stored,
      replyTo: msg.replyTo,
      chat: {
        type: msg.chatType,
        channelId: msg.channelId,
        threadId: msg.threadId,
        addressed: msg.addressedToBot,
      },
      mentions: msg.mentions.length > 0 ? msg.mentions.slice(0, 100) : undefined,
      receivedAt: new Date().toISOString(),
      traceId: base.traceId,
    };
    try {
      await this.d.broker.publishInbound(env, this.o.publishTimeoutMs);
    } catch (err) {
      this.d.log.warn('message not accepted: broker unavailable; the platform will redeliver', {
        ...fields,
        error: { message: errorMessage(err) },
      });
      throw new SwitchboardError(ErrorCodes.BROKER_UNAVAILABLE, 'message broker unavailable', {
        statusCode: 503,
        retryable: true,
        cause: err,
      });
    }
    this.recent.add(id);
    this.d.log.info('message accepted', fields);
    this.d.onPublished?.(id, msg);
    return 'published';
  }

  private async alreadyProcessed(id: string): Promise<boolean> {
    const { rowCount } = await this.d.pool.query({
      name: 'sb_inbox_seen',
      text: 'SELECT 1 FROM inbox WHERE message_id = $1',
      values: [id],
    });
    return (rowCount ?? 0) > 0;
  }

  private async ingestAttachments(msg: NormalizedMessage, fields: Record<string, unknown>) {
    const stored: StoredAttachment[] = [];
    const skipped: string[] = [];
    for (const a of msg.attachments.slice(0, 32)) {
      try {
        stored.push(await this.d.attachments.ingest(a));
      } catch (err) {
        const name = a.name ?? `the ${a.kind}`;
        if (isSwitchboardError(err) && err.code === ErrorCodes.ATTACHMENT_TOO_LARGE) {
          skipped.push(
            `${name} (${a.size !== undefined ? `${formatBytes(a.size)}, ` : ''}over the size limit)`,
          );
        } else if (isSwitchboardError(err) && err.code === ErrorCodes.ATTACHMENT_REFUSED) {
          // The event named a file the adapter will not fetch (not the platform's host): the same
          // event would name it again, so the message goes on without it and the user is told.
          this.d.log.warn('attachment refused', {
            ...fields,
            error: { code: err.code, message: err.message },
          });
          skipped.push(`${name} (it is not a file the platform hosts)`);
        } else {
          // A download failure is the platform's hiccup: not taking the message lets it redeliver.
          this.d.log.warn('attachment download failed', { ...fields, error: { message: errorMessage(err) } });
          throw err;
        }
      }
    }
    return { stored, skipped };
  }

  /** A polite answer straight from the connector, through the same outbound path as model replies. */
  private async notify(id: string, traceId: string, msg: NormalizedMessage, text: string): Promise<void> {
    const notice: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      id: `notice:${id}`,
      platform: this.o.platform,
      botId: this.o.botId(),
      conversationId: msg.conversationId,
      inReplyTo: id.replace(/:attachments$/, ''),
      text,
      attachments: [],
      status: 'error',
      createdAt: new Date().toISOString(),
      traceId,
    };
    await this.d.broker.publishOutbound(notice, this.o.publishTimeoutMs);
  }
}

function describeAttachments(stored: StoredAttachment[]): string {
  return `(sent ${stored.map((a) => a.name ?? `an ${a.kind}`).join(', ')})`;
}
