import { randomUUID } from 'node:crypto';
import {
  type Broker,
  ENVELOPE_VERSION,
  ErrorCodes,
  errorMessage,
  type InboundEnvelope,
  type Logger,
  messageLogFields,
  newTraceId,
  type Platform,
  SwitchboardError,
} from '@switchboard/core';
import { z } from 'zod';

export const conversationIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'conversationId: 1-128 characters of letters, digits, . _ : -');
export const clientIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'id: 1-128 characters of letters, digits, . _ : -');

export interface IntakeRequest {
  platform: Extract<Platform, 'web' | 'openai'>;
  conversationId: string;
  userId: string;
  userName?: string;
  text: string;
  clientId?: string;
  context?: InboundEnvelope['context'];
  /** Verified JWT claims of an API client (never taken from the request body). */
  claims?: InboundEnvelope['claims'];
}

/**
 * Builds the envelope and publishes it with a confirm. The id is derived from the client's own id
 * when it sends one, so a retried request is answered once.
 */
export class Intake {
  constructor(
    private readonly broker: Broker,
    private readonly log: Logger,
    private readonly o: { botId: string; maxChars: number; publishTimeoutMs: number },
    private readonly onPublished?: (platform: string, outcome: 'accepted' | 'broker_unavailable') => void,
  ) {}

  build(r: IntakeRequest): InboundEnvelope {
    if (r.text.trim().length === 0) {
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'text must not be empty', { statusCode: 400 });
    }
    if (r.text.includes('\u0000')) {
      throw new SwitchboardError(ErrorCodes.BAD_REQUEST, 'text must not contain NUL characters', {
        statusCode: 400,
      });
    }
    if (r.text.length > this.o.maxChars) {
      throw new SwitchboardError(
        ErrorCodes.PAYLOAD_TOO_LARGE,
        `text is longer than ${this.o.maxChars} characters`,
        {
          statusCode: 413,
        },
      );
    }
    return {
      v: ENVELOPE_VERSION,
      kind: 'inbound',
      id: `${r.platform}:${this.o.botId}:${r.clientId ?? randomUUID()}`,
      platform: r.platform,
      botId: this.o.botId,
      conversationId: r.conversationId,
      user: { id: r.userId, name: r.userName },
      text: r.text,
      attachments: [],
      context: r.context,
      claims: r.claims,
      receivedAt: new Date().toISOString(),
      traceId: newTraceId(),
    };
  }

  async publish(env: InboundEnvelope): Promise<void> {
    // While the broker restarts the publish waits (buffered) up to the timeout; past it the client
    // gets a 503 and may retry with the same id without risking a second answer.
    try {
      await this.broker.publishInbound(env, this.o.publishTimeoutMs);
      this.onPublished?.(env.platform, 'accepted');
      const fields = messageLogFields(env);
      this.log.info('message accepted', { ...fields, labels: { ...fields.labels, message_id: env.id } });
    } catch (err) {
      this.onPublished?.(env.platform, 'broker_unavailable');
      this.log.warn('message refused: broker unavailable', {
        ...messageLogFields(env),
        error: { message: errorMessage(err) },
      });
      throw new SwitchboardError(
        ErrorCodes.BROKER_UNAVAILABLE,
        'message broker unavailable; the message was not accepted, retry with the same id',
        {
          statusCode: 503,
          cause: err,
        },
      );
    }
  }
}
