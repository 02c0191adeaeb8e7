import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { APIMessage } from 'discord-api-types/v10';
import { ChannelType, GatewayDispatchEvents, GatewayIntentBits } from 'discord-api-types/v10';
import { FakeGateway, type GatewayStats } from './gateway.ts';
import { FakeRest, type SendFailure } from './rest.ts';
import { type BotPost, DiscordWorld, type TypingCall, type UserPost } from './state.ts';

export type { BotPost, TypingCall, UserFile, UserPost } from './state.ts';

export interface FakeDiscordOptions {
  /** Bot token the fake accepts; a random one when absent. */
  token?: string;
  botName?: string;
  /** Discord sends 41250 ms; tests may shorten it to see heartbeats. */
  heartbeatIntervalMs?: number;
  /** Whether the Message Content intent is switched on in the (fake) developer portal. */
  messageContentIntent?: boolean;
  /** Per-channel bucket of message creation; the default is wide so only injected 429s happen. */
  bucket?: { limit: number; windowMs: number };
  /** retry_after of 429s, in seconds (Discord's are often fractional in the body). */
  retryAfterSec?: number;
}

export interface FakeDiscord {
  /** What DISCORD_API_URL is set to: `http://127.0.0.1:<port>/api`. */
  readonly apiUrl: string;
  readonly gatewayUrl: string;
  readonly token: string;
  readonly world: DiscordWorld;
  readonly gateway: {
    stats: GatewayStats;
    liveSessions(): number;
    drop(how: 'terminate' | 'reconnect' | number): void;
  };
  /** A user posts a message: stored, then dispatched as MESSAGE_CREATE to the bot's sessions. */
  post(p: UserPost): APIMessage;
  /** Dispatches an already posted message's MESSAGE_CREATE again. */
  redispatch(messageId: string): void;
  /** A new text channel in the guild, announced with CHANNEL_CREATE; returns its id. */
  createChannel(name: string): string;
  /** A new public thread under a channel, announced with THREAD_CREATE; returns its id. */
  createThread(parentId: string, name: string): string;
  /** Messages the bot created, in order. */
  botPosts(): BotPost[];
  typing(): TypingCall[];
  failNextSends(n: number, kind: SendFailure): void;
  sendCalls(): number;
  close(): Promise<void>;
}

const MESSAGE_CONTENT = GatewayIntentBits.MessageContent;

/** Starts the fake Discord (REST, CDN and gateway on one port of 127.0.0.1). */
export async function startFakeDiscord(o: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token =
    o.token ?? `${randomBytes(18).toString('base64url')}.fake.${randomBytes(20).toString('base64url')}`;
  const world = new DiscordWorld(o.botName ?? 'switchboard-test');
  let base = '';
  const wsUrl = () => base.replace(/^http/, 'ws');

  const gateway = new FakeGateway({
    token,
    heartbeatIntervalMs: o.heartbeatIntervalMs ?? 41_250,
    grantedPrivilegedIntents: o.messageContentIntent === false ? 0 : MESSAGE_CONTENT,
    resumeWindowMs: 5 * 60_000,
    url: wsUrl,
    onIdentify: () => ({
      ready: {
        user: { ...world.bot, verified: true, mfa_enabled: false, flags: 0 },
        guilds: [{ id: world.guildId, unavailable: true }],
        application: { id: world.bot.id, flags: 0 },
        private_channels: [],
        relationships: [],
        user_settings: {},
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: [],
      },
      after: [{ t: GatewayDispatchEvents.GuildCreate, d: world.guildCreate() }],
    }),
  });

  /** MESSAGE_CREATE as a session with these intents receives it (Discord filters by intent). */
  const dispatchMessage = (msg: APIMessage) => {
    const channel = world.channels.get(msg.channel_id);
    const guildId = channel?.guild_id;
    gateway.dispatch(GatewayDispatchEvents.MessageCreate, (intents) => {
      const needed = guildId ? GatewayIntentBits.GuildMessages : GatewayIntentBits.DirectMessages;
      if ((intents & needed) === 0) return undefined;
      const d: Record<string, unknown> = { ...msg, ...(channel ? { channel_type: channel.type } : {}) };
      if (guildId) {
        d.guild_id = guildId;
        d.member = { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0 };
      }
      // Without Message Content, guild messages arrive empty unless they mention the bot or are its own.
      const exempt =
        channel?.type === ChannelType.DM ||
        msg.author.id === world.bot.id ||
        msg.mentions.some((u) => u.id === world.bot.id);
      if ((intents & MESSAGE_CONTENT) === 0 && !exempt) {
        Object.assign(d, { content: '', attachments: [], embeds: [], components: [] });
      }
      return d;
    });
  };

  const rest = new FakeRest({
    token,
    world,
    base: () => base,
    gatewayUrl: wsUrl,
    bucket: o.bucket ?? { limit: 1_000, windowMs: 1_000 },
    retryAfterSec: o.retryAfterSec ?? 0.2,
    onBotMessage: dispatchMessage,
  });

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => void rest.handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    apiUrl: `${base}/api`,
    gatewayUrl: wsUrl(),
    token,
    world,
    gateway,
    post(p) {
      const msg = world.createUserMessage(p, base);
      dispatchMessage(msg);
      return msg;
    },
    redispatch(messageId) {
      const msg = world.messages.get(messageId);
      if (!msg) throw new Error(`fake discord: unknown message ${messageId}`);
      dispatchMessage(msg);
    },
    createChannel(name) {
      const c = world.addTextChannel(name);
      gateway.dispatch(GatewayDispatchEvents.ChannelCreate, (intents) =>
        intents & GatewayIntentBits.Guilds ? c : undefined,
      );
      return c.id;
    },
    createThread(parentId, name) {
      const c = world.addThread(parentId, name);
      gateway.dispatch(GatewayDispatchEvents.ThreadCreate, (intents) =>
        intents & GatewayIntentBits.Guilds ? { ...c, newly_created: true } : undefined,
      );
      return c.id;
    },
    botPosts: () => world.botPosts,
    typing: () => world.typing,
    failNextSends: (n, kind) => rest.failNextSends(n, kind),
    sendCalls: () => rest.sendCalls,
    async close() {
      await gateway.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
