import { type Broker, ENVELOPE_VERSION, type OutboundEnvelope, platformSchema } from '@switchboard/core';
import { z } from 'zod';
import { type SendMessageArgs, sendMessageArgs } from '../args.ts';
import { refused, type Tool, type ToolRunContext } from '../tool.ts';

export const channelSchema = z.object({
  platform: platformSchema,
  botId: z.string().min(1).max(256),
  conversationId: z.string().min(1).max(256),
});
export type Channel = z.infer<typeof channelSchema>;

/** `CHANNELS_JSON`: channel names the model may post to, each a platform, bot and conversation. */
export const channelsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'channel names: letters, digits, _ . - (max 64)'),
  channelSchema,
);

/**
 * send_message: posts to a channel an operator configured — never an arbitrary conversation — by
 * publishing an outbound envelope, which the platform's connector delivers like any reply.
 */
export class SendMessageTool implements Tool<typeof sendMessageArgs> {
  readonly name = 'send_message' as const;
  readonly args = sendMessageArgs;

  constructor(
    private readonly broker: Broker,
    private readonly channels: Record<string, Channel>,
    private readonly maxChars: number,
  ) {}

  async run(a: SendMessageArgs, ctx: ToolRunContext) {
    const ch = Object.hasOwn(this.channels, a.channel) ? this.channels[a.channel] : undefined;
    const known = Object.keys(this.channels).sort();
    if (!ch) {
      throw refused(
        known.length
          ? `unknown channel "${a.channel.slice(0, 64)}"; configured channels: ${known.join(', ')}`
          : 'no channels are configured for send_message on this installation',
      );
    }
    if (a.text.length > this.maxChars) {
      throw refused(`the message is ${a.text.length} characters, over the ${this.maxChars}-character limit`);
    }
    const { request } = ctx;
    // The id is derived from the call, so a redelivered call publishes the same message and the
    // connector's de-duplication posts it once. It answers no inbound message of that channel.
    const id = `tool:${request.id}`;
    const env: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      id,
      platform: ch.platform,
      botId: ch.botId,
      conversationId: ch.conversationId,
      inReplyTo: id,
      text: a.text,
      attachments: [],
      status: 'ok',
      createdAt: new Date().toISOString(),
      traceId: request.caller.traceId,
    };
    await this.broker.publishOutbound(env);
    return { output: `sent to ${a.channel} (${ch.platform}), ${a.text.length} characters` };
  }
}
