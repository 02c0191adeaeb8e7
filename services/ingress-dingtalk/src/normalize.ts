import type { AttachmentKind, NormalizedMessage, RemoteAttachment } from '@switchboard/connector';
import type { DingtalkApi } from './api-client.ts';
import type { RobotCallback } from './callback-schema.ts';

/** What the adapter keeps to answer a message later; handed back with the reply. */
export interface DingtalkReplyContext {
  /** Omitted when the callback's webhook pointed at an origin we do not trust. */
  sessionWebhook?: string;
  /** Milliseconds since the epoch; past it the API is used instead of the webhook. */
  sessionWebhookExpiresAt?: number;
  conversationType: '1' | '2';
  senderStaffId?: string;
  openConversationId: string;
}

export interface NormalizeOptions {
  api: DingtalkApi;
  /** Origins a session webhook may have (see DINGTALK_SESSION_WEBHOOK_ORIGINS). */
  webhookOrigins: ReadonlySet<string>;
  robotName?: string;
}

/** A file DingTalk announced by downloadCode; fetched only if and when the runtime asks. */
class DingtalkAttachment implements RemoteAttachment {
  constructor(
    readonly kind: AttachmentKind,
    private readonly downloadCode: string,
    private readonly api: DingtalkApi,
    readonly name?: string,
  ) {}

  async download(maxBytes: number): Promise<Buffer> {
    const url = await this.api.downloadUrl(this.downloadCode);
    return this.api.fetchFile(url, maxBytes, this.name);
  }
}

/** Turns one robot callback into the runtime's message. Pure apart from the attachments' later downloads. */
export function normalizeCallback(cb: RobotCallback, o: NormalizeOptions): NormalizedMessage {
  const group = cb.conversationType === '2';
  const attachments: RemoteAttachment[] = [];
  const attach = (kind: AttachmentKind, code: string | undefined, name?: string) => {
    if (code) attachments.push(new DingtalkAttachment(kind, code, o.api, name));
  };
  let text = '';
  let replyTo: string | undefined;
  switch (cb.msgtype) {
    case 'text':
      text = cb.text.content;
      replyTo = cb.text.isReplyMsg ? cb.text.repliedMsg?.msgId : undefined;
      break;
    case 'picture':
      attach('image', cb.content.downloadCode);
      break;
    case 'file':
      attach('file', cb.content.downloadCode, cb.content.fileName);
      break;
    case 'audio':
      // DingTalk transcribes voice messages itself; the transcript is what the assistant can answer.
      text = cb.content.recognition ?? '';
      attach('audio', cb.content.downloadCode);
      break;
    case 'video':
      attach('video', cb.content.downloadCode);
      break;
    case 'richText': {
      const parts: string[] = [];
      for (const item of cb.content.richText) {
        if (item.text !== undefined) parts.push(item.text);
        else if (item.type === 'picture' || item.downloadCode || item.pictureDownloadCode) {
          attach('image', item.downloadCode ?? item.pictureDownloadCode);
        }
      }
      text = parts.join('');
      break;
    }
  }
  const context: DingtalkReplyContext = {
    conversationType: cb.conversationType,
    openConversationId: cb.conversationId,
    ...(cb.senderStaffId ? { senderStaffId: cb.senderStaffId } : {}),
    ...trustedWebhook(cb, o.webhookOrigins),
  };
  return {
    platformMessageId: cb.msgId,
    conversationId: cb.conversationId,
    chatType: group ? 'group' : 'direct',
    ...(group ? { channelId: cb.conversationId } : {}),
    user: { id: cb.senderStaffId ?? cb.senderId, ...(cb.senderNick ? { name: cb.senderNick } : {}) },
    text: stripMention(text, o.robotName),
    // NOTE: DingTalk only delivers group messages that @-mention the robot, but the flag is still
    // checked so a misconfigured robot ("receive all messages") does not answer every line.
    addressedToBot: group ? cb.isInAtList === true : true,
    mentions: (cb.atUsers ?? [])
      .filter((u) => u.dingtalkId !== cb.chatbotUserId)
      .map((u) => u.staffId ?? u.dingtalkId),
    ...(replyTo ? { replyTo } : {}),
    attachments,
    replyContext: { ...context },
  };
}

/** DingTalk usually strips the robot's @-mention itself, but not on every client version. */
export function stripMention(text: string, robotName: string | undefined): string {
  let out = text.trim();
  if (robotName) {
    const at = `@${robotName}`;
    if (out.startsWith(at)) out = out.slice(at.length).trim();
  }
  return out;
}

function trustedWebhook(
  cb: RobotCallback,
  origins: ReadonlySet<string>,
): Pick<DingtalkReplyContext, 'sessionWebhook' | 'sessionWebhookExpiresAt'> {
  if (!cb.sessionWebhook || !cb.sessionWebhookExpiredTime) return {};
  let origin: string;
  try {
    origin = new URL(cb.sessionWebhook).origin;
  } catch {
    return {};
  }
  if (!origins.has(origin)) return {};
  return { sessionWebhook: cb.sessionWebhook, sessionWebhookExpiresAt: cb.sessionWebhookExpiredTime };
}

/** Reads back a stored context; anything malformed counts as none. */
export function readReplyContext(ctx: Record<string, unknown> | undefined): DingtalkReplyContext | undefined {
  if (!ctx) return undefined;
  const type = ctx.conversationType;
  const open = ctx.openConversationId;
  if ((type !== '1' && type !== '2') || typeof open !== 'string' || !open) return undefined;
  return {
    conversationType: type,
    openConversationId: open,
    ...(typeof ctx.senderStaffId === 'string' ? { senderStaffId: ctx.senderStaffId } : {}),
    ...(typeof ctx.sessionWebhook === 'string' ? { sessionWebhook: ctx.sessionWebhook } : {}),
    ...(typeof ctx.sessionWebhookExpiresAt === 'number'
      ? { sessionWebhookExpiresAt: ctx.sessionWebhookExpiresAt }
      : {}),
  };
}
