import { createHash } from 'node:crypto';
import type { AttachmentKind, NormalizedMessage, RemoteAttachment } from '@switchboard/connector';
import type { XmlFields } from './xml.ts';

/** Downloads a media_id's bytes (media/get) with the app's token. */
export type MediaFetcher = (
  mediaId: string,
  maxBytes: number,
) => Promise<{ data: Buffer; mimeType?: string; name?: string }>;

export interface NormalizeOptions {
  agentId: number;
  /** The app's display name, to recognise "@name" in group chats. */
  botName?: string;
  fetchMedia: MediaFetcher;
}

/** Why a callback is acknowledged without reaching the runtime. */
export type Skipped = { skip: string };

const conversationPrefix = { direct: 'user:', group: 'chat:' } as const;

/** The envelope conversation for a user's direct chat with the app, or a group chat. */
export function conversationOf(chatType: 'direct' | 'group', id: string): string {
  return `${conversationPrefix[chatType]}${id}`;
}

/** Where a reply goes when no stored reply context is left: read back from the conversation id. */
export function destinationOf(conversationId: string): { touser: string } | { chatid: string } | undefined {
  if (conversationId.startsWith(conversationPrefix.direct))
    return { touser: conversationId.slice(conversationPrefix.direct.length) };
  if (conversationId.startsWith(conversationPrefix.group))
    return { chatid: conversationId.slice(conversationPrefix.group.length) };
  return undefined;
}

const mediaKinds: Record<string, AttachmentKind> = {
  image: 'image',
  file: 'file',
  voice: 'audio',
  video: 'video',
};

/**
 * Turns one decrypted callback message (接收消息) into the runtime's message. Events (entering the
 * app, menu clicks…) and messages for another app on the same URL are skipped, not published.
 */
export function normalizeCallback(m: XmlFields, o: NormalizeOptions): NormalizedMessage | Skipped {
  const type = m.MsgType;
  if (!type) return { skip: 'no MsgType' };
  if (type === 'event') return { skip: `event ${m.Event ?? '(unnamed)'}` };
  if (m.AgentID !== undefined && m.AgentID !== String(o.agentId)) {
    return { skip: `message for AgentID ${m.AgentID}, not ours` };
  }
  const user = m.FromUserName;
  if (!user) return { skip: 'no FromUserName' };

  let text: string;
  const attachments: RemoteAttachment[] = [];
  const kind = mediaKinds[type];
  if (type === 'text') {
    text = m.Content ?? '';
  } else if (kind) {
    if (!m.MediaId) return { skip: `${type} message without MediaId` };
    attachments.push(mediaAttachment(kind, m.MediaId, m, o.fetchMedia));
    text = '';
  } else if (type === 'link') {
    text = [m.Title, m.Description, m.Url].filter(Boolean).join('\n');
  } else if (type === 'location') {
    text = `📍 ${m.Label ?? ''} (${m.Location_X ?? '?'}, ${m.Location_Y ?? '?'})`.trim();
  } else {
    return { skip: `unsupported MsgType ${type}` };
  }

  const chatId = m.ChatId;
  const chatType = chatId ? 'group' : 'direct';
  let addressedToBot = chatType === 'direct';
  if (chatId && o.botName) {
    const mention = `@${o.botName}`;
    if (text.includes(mention)) {
      addressedToBot = true;
      text = text.replaceAll(mention, ' ').replace(/\s+/g, ' ').trim();
    }
  }
  return {
    // NOTE: WeCom retries carry the same MsgId. Without one (never seen for messages, but the field is
    // not promised) the plaintext itself is as stable across retries.
    platformMessageId:
      m.MsgId || `x${createHash('sha1').update(JSON.stringify(m)).digest('hex').slice(0, 24)}`,
    conversationId: conversationOf(chatType, chatId ?? user),
    chatType,
    channelId: chatId,
    user: { id: user },
    text,
    addressedToBot,
    mentions: [],
    attachments,
    replyContext: chatId ? { chatid: chatId } : { touser: user },
  };
}

function mediaAttachment(
  kind: AttachmentKind,
  mediaId: string,
  m: XmlFields,
  fetchMedia: MediaFetcher,
): RemoteAttachment {
  const announced = m.FileSize && /^\d+$/.test(m.FileSize) ? Number(m.FileSize) : undefined;
  const att: RemoteAttachment = {
    kind,
    name: m.FileName || m.Title || undefined,
    size: announced,
    download: async (maxBytes) => {
      const got = await fetchMedia(mediaId, maxBytes);
      // The download names the file (Content-Disposition) and types it; the callback did not.
      att.name ??= got.name;
      att.mimeType ??= got.mimeType;
      return got.data;
    },
  };
  return att;
}
