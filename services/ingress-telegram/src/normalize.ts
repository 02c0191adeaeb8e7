import type { NormalizedMessage, RemoteAttachment } from '@switchboard/connector';
import type { Message, MessageEntity, Update, UserFromGetMe } from 'grammy/types';

export type FileDownloader = (fileId: string, maxBytes: number) => Promise<Buffer>;

/**
 * Turns a Telegram update into the shared shape, or undefined for updates the bot does not answer
 * (edits, channel posts, service messages, its own messages). Telegram counts entity offsets in
 * UTF-16 code units, as JavaScript strings do, so offsets apply directly.
 */
export function normalizeUpdate(
  update: Update,
  me: UserFromGetMe,
  download: FileDownloader,
): NormalizedMessage | undefined {
  const msg = update.message;
  if (!msg?.from || msg.from.is_bot) return undefined;

  const text = msg.text ?? msg.caption ?? '';
  const entities = msg.entities ?? msg.caption_entities ?? [];
  const { cleaned, addressed, mentions } = readEntities(text, entities, me);
  const direct = msg.chat.type === 'private';
  const repliesToBot = msg.reply_to_message?.from?.id === me.id;
  const thread = msg.is_topic_message ? msg.message_thread_id : undefined;
  const chatId = String(msg.chat.id);
  const name = [msg.from.first_name, msg.from.last_name].filter(Boolean).join(' ') || msg.from.username;

  return {
    platformMessageId: String(update.update_id),
    conversationId: thread !== undefined ? `${chatId}:${thread}` : chatId,
    chatType: direct ? 'direct' : 'group',
    channelId: chatId,
    threadId: thread !== undefined ? String(thread) : undefined,
    user: { id: String(msg.from.id), name },
    text: cleaned,
    addressedToBot: direct || addressed || repliesToBot,
    mentions,
    replyTo: msg.reply_to_message ? String(msg.reply_to_message.message_id) : undefined,
    attachments: attachmentsOf(msg, download),
    replyContext: {
      chatId,
      messageId: msg.message_id,
      ...(thread !== undefined ? { threadId: thread } : {}),
    },
  };
}

function readEntities(text: string, entities: MessageEntity[], me: UserFromGetMe) {
  const botName = me.username.toLowerCase();
  let addressed = false;
  const mentions: string[] = [];
  // Cut from the end so earlier offsets stay valid.
  const cuts: Array<[number, number, string]> = [];
  for (const e of entities) {
    const part = text.slice(e.offset, e.offset + e.length);
    if (e.type === 'mention') {
      if (part.slice(1).toLowerCase() === botName) {
        addressed = true;
        cuts.push([e.offset, e.length, '']);
      } else mentions.push(part.slice(1));
    } else if (e.type === 'text_mention') {
      if (e.user.id === me.id) addressed = true;
      else mentions.push(String(e.user.id));
    } else if (e.type === 'bot_command' && e.offset === 0) {
      // `/help@OtherBot` is for another bot in the group; `/help@ThisBot` and bare `/help` are ours.
      const [command, target] = part.split('@');
      if (!target || target.toLowerCase() === botName) {
        addressed = true;
        cuts.push([e.offset, e.length, command ?? part]);
      }
    }
  }
  let cleaned = text;
  for (const [offset, length, replacement] of cuts.sort((a, b) => b[0] - a[0])) {
    cleaned = cleaned.slice(0, offset) + replacement + cleaned.slice(offset + length);
  }
  return { cleaned: cleaned.replace(/\s{2,}/g, ' ').trim(), addressed, mentions };
}

function attachmentsOf(msg: Message, download: FileDownloader): RemoteAttachment[] {
  const out: RemoteAttachment[] = [];
  if (msg.photo && msg.photo.length > 0) {
    // Telegram sends every size it made; the largest is the original.
    const photo = msg.photo.reduce((a, b) => (a.width * a.height >= b.width * b.height ? a : b));
    out.push({
      kind: 'image',
      name: `photo-${msg.message_id}.jpg`,
      mimeType: 'image/jpeg',
      size: photo.file_size,
      download: (max) => download(photo.file_id, max),
    });
  }
  if (msg.document) {
    const doc = msg.document;
    out.push({
      kind: doc.mime_type?.startsWith('image/') ? 'image' : 'file',
      name: doc.file_name,
      mimeType: doc.mime_type,
      size: doc.file_size,
      download: (max) => download(doc.file_id, max),
    });
  }
  return out;
}
