import type { AttachmentKind, NormalizedMessage, RemoteAttachment } from '@switchboard/connector';
import { z } from 'zod';

/** Who the bot is on Slack, learnt from `auth.test`. */
export interface BotIdentity {
  /** The bot user (`U…`): what `<@…>` mentions and `user` fields carry. */
  userId: string;
  /** The bot (`B…`): what `bot_id` carries on messages the app posted. */
  botId?: string;
}

const fileSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  title: z.string().optional(),
  mimetype: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  url_private: z.string().optional(),
  url_private_download: z.string().optional(),
  /** `tombstone` (deleted), `hidden_by_limit` (free plan), … — nothing to download then. */
  mode: z.string().optional(),
});
type SlackFile = z.infer<typeof fileSchema>;

const messageSchema = z.object({
  type: z.enum(['message', 'app_mention']),
  subtype: z.string().optional(),
  channel: z.string().min(1),
  channel_type: z.string().optional(),
  user: z.string().optional(),
  bot_id: z.string().optional(),
  text: z.string().default(''),
  ts: z.string().min(1),
  thread_ts: z.string().optional(),
  parent_user_id: z.string().optional(),
  files: z.array(fileSchema).optional(),
  user_profile: z
    .object({
      display_name: z.string().optional(),
      real_name: z.string().optional(),
      name: z.string().optional(),
    })
    .optional(),
});

export const eventCallbackSchema = z.object({
  type: z.literal('event_callback'),
  event_id: z.string().min(1),
  team_id: z.string().optional(),
  event: z.looseObject({ type: z.string() }),
});
export type EventCallback = z.infer<typeof eventCallbackSchema>;

/** Subtypes that are still a person writing to the bot; edits, joins, deletions and the like are not. */
const USER_SUBTYPES = new Set(['file_share', 'thread_broadcast']);

export type Normalised =
  | { kind: 'message'; message: NormalizedMessage }
  | { kind: 'ignored'; reason: string };

export type Downloader = (url: string, maxBytes: number, name: string) => Promise<Buffer>;

/**
 * Turns one Events API callback into the runtime's message, or says why it is not one.
 *
 * NOTE: platformMessageId is `<channel>:<ts>`, not the event_id. A mention in a channel the app also
 * reads arrives twice — as `app_mention` and as `message`, each with its own event_id — and only the
 * message's own id makes those one answer. Slack's retries keep channel and ts, so they dedupe too.
 */
export function normaliseEvent(payload: EventCallback, bot: BotIdentity, download: Downloader): Normalised {
  const parsed = messageSchema.safeParse(payload.event);
  if (!parsed.success) return { kind: 'ignored', reason: `unsupported event ${payload.event.type}` };
  const e = parsed.data;
  if (e.subtype && !USER_SUBTYPES.has(e.subtype)) return { kind: 'ignored', reason: `subtype ${e.subtype}` };
  if (!e.user) return { kind: 'ignored', reason: 'no user' };
  if (e.user === bot.userId || (bot.botId && e.bot_id === bot.botId)) {
    return { kind: 'ignored', reason: 'own message' };
  }

  // app_mention carries no channel_type; it only fires in conversations with more than the bot.
  const direct =
    e.type === 'message' && (e.channel_type === 'im' || (!e.channel_type && e.channel.startsWith('D')));
  const mentioned = e.type === 'app_mention' || mentionPattern(bot.userId).test(e.text);
  const repliesToBot = e.parent_user_id === bot.userId && e.thread_ts !== e.ts;
  // In channels the answer opens (or continues) a thread under the message; in DMs it stays inline.
  const threadTs = direct ? e.thread_ts : (e.thread_ts ?? e.ts);
  const mentions = [...e.text.matchAll(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g)]
    .map((m) => m[1]!)
    .filter((id) => id !== bot.userId);
  const name = e.user_profile?.display_name || e.user_profile?.real_name || e.user_profile?.name;

  return {
    kind: 'message',
    message: {
      platformMessageId: `${e.channel}:${e.ts}`,
      conversationId: threadTs ? `${e.channel}:${threadTs}` : e.channel,
      chatType: direct ? 'direct' : 'group',
      channelId: e.channel,
      threadId: threadTs,
      user: { id: e.user, ...(name ? { name } : {}) },
      text: slackToPlainText(e.text.replace(mentionPattern(bot.userId, 'g'), ' ')),
      addressedToBot: direct || mentioned || repliesToBot,
      mentions: [...new Set(mentions)],
      replyTo: e.thread_ts && e.thread_ts !== e.ts ? e.thread_ts : undefined,
      attachments: (e.files ?? []).flatMap((f) => remoteFile(f, download)),
      replyContext: { channel: e.channel, ...(threadTs ? { threadTs } : {}) },
    },
  };
}

function mentionPattern(userId: string, flags = ''): RegExp {
  return new RegExp(`<@${userId}(?:\\|[^>]*)?>`, flags);
}

/**
 * Slack's message markup to what a person typed: `<url|label>` links, `<#C…|name>` channels,
 * `<!here>` specials, and the three entities Slack escapes (`&amp;` last, so `&amp;lt;` stays `&lt;`).
 */
export function slackToPlainText(text: string): string {
  return text
    .replace(/<([^<>]+)>/g, (_all, inner: string) => {
      const [target = '', label] = inner.split('|', 2);
      if (target.startsWith('@')) return `<${inner}>`;
      if (target.startsWith('#')) return label ? `#${label}` : target;
      // <!here>, <!channel>; subteams and dates bring their own readable label.
      if (target.startsWith('!')) return label ?? `@${target.slice(1)}`;
      return label && label !== target ? `${label} (${target})` : target;
    })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/[ \t]{2,}/g, ' ')
    .trim();
}

function kindOf(mime: string | undefined): AttachmentKind {
  if (mime?.startsWith('image/')) return 'image';
  if (mime?.startsWith('audio/')) return 'audio';
  if (mime?.startsWith('video/')) return 'video';
  return 'file';
}

function remoteFile(f: SlackFile, download: Downloader): RemoteAttachment[] {
  const url = f.url_private_download ?? f.url_private;
  if (!url || f.mode === 'tombstone' || f.mode === 'hidden_by_limit') return [];
  const name = f.name ?? f.title ?? f.id;
  return [
    {
      kind: kindOf(f.mimetype),
      name,
      mimeType: f.mimetype,
      size: f.size,
      download: (maxBytes) => download(url, maxBytes, name),
    },
  ];
}
