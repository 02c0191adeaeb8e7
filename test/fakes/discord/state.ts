import type {
  APIAttachment,
  APIChannel,
  APIGuildMember,
  APIMessage,
  APIRole,
  APIUser,
  GatewayGuildCreateDispatchData,
  GuildMemberFlags,
  RoleFlags,
} from 'discord-api-types/v10';
import { ChannelType, MessageType } from 'discord-api-types/v10';
import { snowflake } from './snowflake.ts';

/** A file a user attaches to a message; served back from the fake's CDN path. */
export interface UserFile {
  name: string;
  contentType?: string;
  data: Buffer;
}

/** A message a (fake) user posts; the fake turns it into a MESSAGE_CREATE dispatch. */
export interface UserPost {
  channelId: string;
  userId: string;
  content: string;
  /** Prefix the content with the bot's mention (`<@id>`) and list the bot in `mentions`. */
  mentionBot?: boolean;
  /** Prefix the content with @everyone (`mention_everyone: true`). */
  mentionEveryone?: boolean;
  /** Other users mentioned (ids); their `<@id>` is up to the caller to put in the content. */
  mentions?: string[];
  /** Message this one replies to (type 19 REPLY with `referenced_message`). */
  replyTo?: string;
  /** Whether the reply pings the replied-to author (Discord's default; users can switch it off). */
  replyPing?: boolean;
  attachments?: UserFile[];
  /** The author is another bot (Discord sets `author.bot`). */
  authorIsBot?: boolean;
}

/** One message the bot created through POST /channels/{id}/messages. */
export interface BotPost {
  id: string;
  channelId: string;
  content: string;
  /** `message_reference.message_id` the bot replied to, if any. */
  replyTo?: string;
  files: string[];
  allowedMentions?: unknown;
}

export interface TypingCall {
  channelId: string;
  at: number;
}

type Channel = APIChannel & { guild_id?: string };

/**
 * The fake's world: one bot, one guild with a text channel and an active thread, DM channels made on
 * demand, every message by id (for replies) and attachment bytes for the CDN path.
 */
export class DiscordWorld {
  readonly bot: APIUser;
  readonly guildId = snowflake();
  readonly generalId: string;
  readonly threadId: string;
  readonly channels = new Map<string, Channel>();
  readonly users = new Map<string, APIUser>();
  readonly messages = new Map<string, APIMessage>();
  /** CDN path (`/attachments/<channel>/<id>/<name>`) → bytes. */
  readonly files = new Map<string, UserFile>();
  readonly botPosts: BotPost[] = [];
  readonly typing: TypingCall[] = [];
  private readonly joinedAt = new Date().toISOString();
  private readonly dmKeys = new Map<string, string>();

  constructor(botName: string) {
    this.bot = {
      id: snowflake(),
      username: botName,
      discriminator: '0',
      global_name: null,
      avatar: null,
      bot: true,
    };
    this.users.set(this.bot.id, this.bot);
    this.generalId = this.addTextChannel('general').id;
    this.threadId = this.addThread(this.generalId, 'help-thread').id;
  }

  /** A text channel of the guild (the server announces it with CHANNEL_CREATE once connected). */
  addTextChannel(name: string): Channel {
    const id = snowflake();
    const c: Channel = {
      id,
      type: ChannelType.GuildText,
      guild_id: this.guildId,
      name,
      position: this.channels.size,
      permission_overwrites: [],
      nsfw: false,
      parent_id: null,
      topic: null,
      last_message_id: null,
      rate_limit_per_user: 0,
    };
    this.channels.set(id, c);
    return c;
  }

  /** An active public thread under a text channel (announced with THREAD_CREATE once connected). */
  addThread(parentId: string, name: string): Channel {
    const id = snowflake();
    const c: Channel = {
      id,
      type: ChannelType.PublicThread,
      guild_id: this.guildId,
      name,
      parent_id: parentId,
      owner_id: this.bot.id,
      last_message_id: null,
      rate_limit_per_user: 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: 1440,
        archive_timestamp: new Date().toISOString(),
        locked: false,
      },
    };
    this.channels.set(id, c);
    return c;
  }

  user(id: string, isBot = false): APIUser {
    let u = this.users.get(id);
    if (!u) {
      u = {
        id,
        username: `user${id.slice(-6)}`,
        discriminator: '0',
        global_name: `User ${id.slice(-4)}`,
        avatar: null,
      };
      if (isBot) u.bot = true;
      this.users.set(id, u);
    }
    return u;
  }

  /**
   * The DM channel between the bot and a user, created the first time it is asked for. `key` gives a
   * user several (Discord has one per user; tests use this to keep conversations apart).
   */
  dmChannel(userId: string, key = ''): string {
    const existing = this.dmKeys.get(`${userId}/${key}`);
    if (existing) return existing;
    const id = snowflake();
    this.dmKeys.set(`${userId}/${key}`, id);
    this.channels.set(id, {
      id,
      type: ChannelType.DM,
      name: null,
      recipients: [this.user(userId)],
      last_message_id: null,
    });
    return id;
  }

  isGuildChannel(id: string): boolean {
    return this.channels.get(id)?.guild_id !== undefined;
  }

  /** The GUILD_CREATE payload sent after READY: channels, the active thread and the bot's member. */
  guildCreate(): GatewayGuildCreateDispatchData {
    const everyone: APIRole = {
      id: this.guildId,
      name: '@everyone',
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      position: 0,
      permissions: '1071698660929',
      managed: false,
      mentionable: false,
      flags: 0 as RoleFlags,
    };
    const botMember: APIGuildMember = {
      user: this.bot,
      roles: [],
      joined_at: this.joinedAt,
      deaf: false,
      mute: false,
      flags: 0 as GuildMemberFlags,
    };
    const guildChannels = [...this.channels.values()].filter((c) => c.guild_id === this.guildId);
    return {
      id: this.guildId,
      name: 'Switchboard Test',
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: snowflake(),
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: [everyone],
      emojis: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: this.generalId,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      nsfw_level: 0,
      stickers: [],
      premium_progress_bar_enabled: false,
      hub_type: null,
      safety_alerts_channel_id: null,
      incidents_data: null,
      joined_at: this.joinedAt,
      large: false,
      unavailable: false,
      member_count: 2,
      voice_states: [],
      members: [botMember],
      channels: guildChannels.filter((c) => c.type !== ChannelType.PublicThread) as never,
      threads: guildChannels.filter((c) => c.type === ChannelType.PublicThread) as never,
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    } as unknown as GatewayGuildCreateDispatchData;
  }

  /** Stores a user's message (attachments go to the CDN path under `cdnBase`) and returns it. */
  createUserMessage(p: UserPost, cdnBase: string): APIMessage {
    const channel = this.channels.get(p.channelId);
    if (!channel) throw new Error(`fake discord: unknown channel ${p.channelId}`);
    const id = snowflake();
    const author = this.user(p.userId, p.authorIsBot);
    const mentions = (p.mentions ?? []).map((u) => this.user(u));
    let content = p.content;
    if (p.mentionBot) {
      mentions.unshift(this.bot);
      content = `<@${this.bot.id}> ${content}`;
    }
    if (p.mentionEveryone) content = `@everyone ${content}`;
    const attachments: APIAttachment[] = (p.attachments ?? []).map((f) => {
      const aid = snowflake();
      const path = `/attachments/${p.channelId}/${aid}/${encodeURIComponent(f.name)}`;
      this.files.set(path, f);
      return {
        id: aid,
        filename: f.name,
        size: f.data.length,
        url: `${cdnBase}${path}`,
        proxy_url: `${cdnBase}${path}`,
        ...(f.contentType ? { content_type: f.contentType } : {}),
      };
    });
    const referenced = p.replyTo ? this.messages.get(p.replyTo) : undefined;
    if (p.replyTo && !referenced) throw new Error(`fake discord: unknown message ${p.replyTo}`);
    const msg = this.message(id, p.channelId, author, content, attachments, mentions, referenced);
    msg.mention_everyone = p.mentionEveryone === true;
    // A reply pings the replied-to author unless the user turned that off; Discord then lists them in `mentions`.
    if (referenced && p.replyPing !== false && !msg.mentions.some((u) => u.id === referenced.author.id)) {
      msg.mentions.push(referenced.author);
    }
    this.messages.set(id, msg);
    (channel as { last_message_id?: string | null }).last_message_id = id;
    return msg;
  }

  /** Stores a message the bot created through the REST API. */
  createBotMessage(
    channelId: string,
    content: string,
    files: UserFile[],
    replyTo: string | undefined,
    cdnBase: string,
  ) {
    const id = snowflake();
    const attachments: APIAttachment[] = files.map((f) => {
      const aid = snowflake();
      const path = `/attachments/${channelId}/${aid}/${encodeURIComponent(f.name)}`;
      this.files.set(path, f);
      return {
        id: aid,
        filename: f.name,
        size: f.data.length,
        url: `${cdnBase}${path}`,
        proxy_url: `${cdnBase}${path}`,
        ...(f.contentType ? { content_type: f.contentType } : {}),
      };
    });
    const referenced = replyTo ? this.messages.get(replyTo) : undefined;
    const msg = this.message(id, channelId, this.bot, content, attachments, [], referenced);
    this.messages.set(id, msg);
    const channel = this.channels.get(channelId);
    if (channel) (channel as { last_message_id?: string | null }).last_message_id = id;
    return msg;
  }

  private message(
    id: string,
    channelId: string,
    author: APIUser,
    content: string,
    attachments: APIAttachment[],
    mentions: APIUser[],
    referenced: APIMessage | undefined,
  ): APIMessage {
    const channel = this.channels.get(channelId);
    const msg: APIMessage & { guild_id?: string } = {
      id,
      channel_id: channelId,
      author,
      content,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions,
      mention_roles: [],
      attachments,
      embeds: [],
      pinned: false,
      type: referenced ? MessageType.Reply : MessageType.Default,
      components: [],
    };
    if (channel?.guild_id) msg.guild_id = channel.guild_id;
    if (referenced) {
      msg.message_reference = {
        type: 0,
        message_id: referenced.id,
        channel_id: referenced.channel_id,
        ...(channel?.guild_id ? { guild_id: channel.guild_id } : {}),
      };
      msg.referenced_message = referenced;
    }
    return msg;
  }
}
