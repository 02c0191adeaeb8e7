import type { AttachmentKind, NormalizedMessage, RemoteAttachment } from '@switchboard/connector';
import { type Attachment, type Message, MessageType, type User } from 'discord.js';

/** Fetches an attachment's URL, failing once more than maxBytes arrive. */
export type Download = (url: string, maxBytes: number, name: string) => Promise<Buffer>;

/** What the adapter needs later to answer a message: where, and which message to reply to. */
export interface DiscordReplyContext {
  channelId: string;
  messageId: string;
  guildId?: string;
}

/**
 * A gateway MESSAGE_CREATE as the runtime's message, or undefined when it is not for the runtime at
 * all: the bot's own messages (Discord echoes them), other bots' and webhooks', and system messages
 * (joins, pins, boosts).
 */
export function normalizeMessage(
  message: Message,
  bot: User,
  download: Download,
): NormalizedMessage | undefined {
  if (message.author.bot || message.author.id === bot.id || message.webhookId) return undefined;
  if (message.type !== MessageType.Default && message.type !== MessageType.Reply) return undefined;

  const channel = message.channel;
  const inThread = channel.isThread();
  const replyContext: DiscordReplyContext = {
    channelId: message.channelId,
    messageId: message.id,
    ...(message.guildId ? { guildId: message.guildId } : {}),
  };
  return {
    platformMessageId: message.id,
    // A thread is a channel of its own on Discord: answering into it keeps the reply in the thread.
    conversationId: message.channelId,
    chatType: message.guildId ? 'group' : 'direct',
    // The group policy set for a channel also covers the threads under it.
    channelId: inThread ? (channel.parentId ?? message.channelId) : message.channelId,
    ...(inThread ? { threadId: message.channelId } : {}),
    user: {
      id: message.author.id,
      name: message.member?.displayName ?? message.author.globalName ?? message.author.username,
    },
    text: stripBotMention(message.content, bot.id),
    addressedToBot: isAddressedTo(message, bot),
    mentions: [...message.mentions.users.keys()].filter((id) => id !== bot.id),
    ...(message.reference?.messageId ? { replyTo: message.reference.messageId } : {}),
    attachments: message.attachments.map((a) => remoteAttachment(a, download)),
    replyContext: { ...replyContext },
  };
}

/**
 * Mentioned by name (`<@id>`, the bot's role), or a reply to one of the bot's messages — also a reply
 * whose ping was switched off, which Discord does not list among the mentions. @everyone and @here
 * are not an invitation for the bot to join in.
 */
export function isAddressedTo(message: Message, bot: User): boolean {
  if (message.mentions.has(bot, { ignoreEveryone: true })) return true;
  return message.mentions.repliedUser?.id === bot.id;
}

/** Removes `<@id>` / `<@!id>` of the bot, with the space after it, so the model sees the request only. */
export function stripBotMention(content: string, botId: string): string {
  return content.replace(new RegExp(`<@!?${botId}>[ \\t]?`, 'g'), '').trim();
}

export function attachmentKind(contentType: string | null | undefined): AttachmentKind {
  if (contentType?.startsWith('image/')) return 'image';
  if (contentType?.startsWith('audio/')) return 'audio';
  if (contentType?.startsWith('video/')) return 'video';
  return 'file';
}

function remoteAttachment(a: Attachment, download: Download): RemoteAttachment {
  return {
    kind: attachmentKind(a.contentType),
    name: a.name,
    ...(a.contentType ? { mimeType: a.contentType } : {}),
    // Discord announces the size, so the runtime skips an oversized file without fetching a byte.
    size: a.size,
    download: (maxBytes) => download(a.url, maxBytes, a.name),
  };
}
