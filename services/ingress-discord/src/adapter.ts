import {
  type AdapterDeps,
  type AdapterStartContext,
  type InboundSink,
  type OutgoingFile,
  type PlatformAdapter,
  PlatformApiError,
  type ReplyTarget,
  renderMarkdown,
} from '@switchboard/connector';
import { ErrorCodes, errorMessage, type Logger, SwitchboardError } from '@switchboard/core';
import {
  type APIMessage,
  Client,
  Events,
  GatewayIntentBits,
  type Message,
  Options,
  Partials,
  REST,
  RESTEvents,
  Routes,
  Status,
} from 'discord.js';
import { Answered429s, apiError } from './api-errors.ts';
import type { DiscordConfig } from './config.ts';
import { downloadAttachment } from './download.ts';
import { type DiscordReplyContext, normalizeMessage } from './normalize.ts';

/** Discord's upload limit for bots in servers without boosts. */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
/** A gateway event is not redelivered, so a message the runtime could not take is retried here. */
const INBOUND_ATTEMPTS = 4;
const INBOUND_BACKOFF_MS = 500;
/** Replies mention nobody from their text (a model must not be able to ping people); the asker is. */
const ALLOWED_MENTIONS = { parse: [], replied_user: true };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Discord through discord.js: messages arrive over the gateway (which discord.js keeps connected,
 * resuming after drops); replies leave through a separate REST client that hands rate limits and
 * server errors to the runtime instead of retrying them itself, so every platform retries and parks
 * the same way.
 */
export class DiscordAdapter implements PlatformAdapter {
  readonly platform = 'discord' as const;
  readonly textLimit = 2000;
  readonly liveSecrets = ['DISCORD_BOT_TOKEN'] as const;
  private readonly client: Client;
  private readonly rest: REST;
  private readonly answered429s = new Answered429s();
  private readonly log: Logger;
  private id: string | undefined;
  private stopping = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Replies already sent as a Discord reply; their later chunks go out plain instead of re-quoting. */
  private readonly quoted = new Set<string>();

  constructor(
    private readonly cfg: DiscordConfig,
    deps: AdapterDeps,
  ) {
    this.log = deps.log;
    this.client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.DirectMessages,
        GatewayIntentBits.MessageContent,
      ],
      // DM channels are not cached before their first message; without this those messages are dropped.
      partials: [Partials.Channel],
      rest: { api: cfg.DISCORD_API_URL, timeout: cfg.DISCORD_REQUEST_TIMEOUT_MS },
      makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 50 }),
    });
    this.rest = new REST({
      api: cfg.DISCORD_API_URL,
      timeout: cfg.DISCORD_REQUEST_TIMEOUT_MS,
      // The runtime retries: 5xx and network errors surface at once, answered 429s as RateLimitError.
      retries: 0,
      rejectOnRateLimit: this.answered429s.take,
    }).setToken(cfg.DISCORD_BOT_TOKEN);
    this.rest.on(RESTEvents.Response, (req, res) =>
      this.answered429s.record(req.method, req.path, res.status),
    );
  }

  /** The bot's user id (also its application id), known once the gateway said READY. */
  get botId(): string {
    if (!this.id) throw new Error('discord: bot id unknown before the gateway is ready');
    return this.id;
  }

  /**
   * A token reset in the Developer Portal and rotated in Vault: REST calls (replies, typing) use it
   * from now on. NOTE: the gateway session keeps running; should it ever have to identify again it
   * sends the login's token, which Discord refuses after a reset (close 4004, shown on /readyz).
   */
  onSecretsChanged(values: Record<string, string>): void {
    const token = values.DISCORD_BOT_TOKEN;
    if (token === undefined) return;
    this.rest.setToken(token);
    this.client.rest.setToken(token);
    this.client.token = token;
  }

  format(markdown: string): string {
    return renderMarkdown(markdown, 'discord');
  }

  async start({ sink }: AdapterStartContext): Promise<void> {
    this.watchGateway();
    this.client.on(Events.MessageCreate, (m) => this.track(this.onMessage(m, sink)));
    await this.login();
    const user = this.client.user!;
    this.log.info('discord gateway connected', {
      labels: { bot_id: user.id, bot_username: user.username, guilds: String(this.client.guilds.cache.size) },
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Closes the gateway (ending the session); replies still leave through this.rest.
    await this.client.destroy();
    await Promise.allSettled([...this.inFlight]);
  }

  isReady(): boolean {
    return this.client.isReady() && this.client.ws.shards.every((s) => s.status === Status.Ready);
  }

  async sendText(target: ReplyTarget, text: string): Promise<string | undefined> {
    return this.post(target, { content: text }, undefined, 'sending a message failed');
  }

  async sendFile(target: ReplyTarget, file: OutgoingFile): Promise<string | undefined> {
    if (file.data.length > MAX_UPLOAD_BYTES) {
      throw new PlatformApiError('discord', `${file.name} is larger than Discord's 10 MiB upload limit`, {
        status: 413,
        retryable: false,
      });
    }
    const raw = { name: file.name, data: file.data, contentType: file.mimeType };
    return this.post(target, {}, [raw], 'uploading a file failed');
  }

  async sendTyping(target: ReplyTarget): Promise<void> {
    const { channelId } = this.where(target);
    try {
      await this.rest.post(Routes.channelTyping(channelId));
    } catch (err) {
      throw apiError(err, 'typing indicator failed');
    }
  }

  private async post(
    target: ReplyTarget,
    body: Record<string, unknown>,
    files: Array<{ name: string; data: Buffer; contentType: string }> | undefined,
    what: string,
  ): Promise<string> {
    const { channelId, messageId } = this.where(target);
    // Only the first part of an answer quotes the question; the rest follow it as plain messages.
    const quote = messageId !== undefined && !this.quoted.has(target.inReplyTo);
    const payload = {
      ...body,
      allowed_mentions: ALLOWED_MENTIONS,
      // fail_if_not_exists: false — the answer still arrives if the question was deleted meanwhile.
      ...(quote ? { message_reference: { message_id: messageId, fail_if_not_exists: false } } : {}),
    };
    try {
      const sent = (await this.rest.post(Routes.channelMessages(channelId), {
        body: payload,
        ...(files ? { files } : {}),
      })) as APIMessage;
      if (quote) this.remember(target.inReplyTo);
      return sent.id;
    } catch (err) {
      throw apiError(err, what);
    }
  }

  private remember(inReplyTo: string): void {
    this.quoted.add(inReplyTo);
    if (this.quoted.size > 5_000) this.quoted.delete(this.quoted.values().next().value as string);
  }

  /** The stored context, or the conversation id (which is the channel or thread id) alone. */
  private where(target: ReplyTarget): { channelId: string; messageId?: string } {
    const c = target.context as Partial<DiscordReplyContext> | undefined;
    if (c?.channelId) return { channelId: c.channelId, messageId: c.messageId };
    return { channelId: target.conversationId };
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async onMessage(message: Message, sink: InboundSink): Promise<void> {
    if (this.stopping || !this.client.user) return;
    const msg = normalizeMessage(message, this.client.user, (url, max, name) =>
      downloadAttachment(url, max, name, this.cfg.DISCORD_REQUEST_TIMEOUT_MS),
    );
    if (!msg) return;
    const labels = { platform: 'discord', conversation: msg.conversationId, message_id: message.id };
    for (let attempt = 1; ; attempt++) {
      try {
        await sink(msg);
        return;
      } catch (err) {
        if (attempt >= INBOUND_ATTEMPTS) {
          this.log.error('discord message could not be taken; the user is asked to send it again', {
            labels,
            error: { message: errorMessage(err) },
          });
          await this.apologise(msg.conversationId, message.id);
          return;
        }
        this.log.warn('discord message not taken yet; retrying', {
          labels: { ...labels, attempt: String(attempt) },
          error: { message: errorMessage(err) },
        });
        await sleep(INBOUND_BACKOFF_MS * 2 ** (attempt - 1));
      }
    }
  }

  /** Discord will not deliver the message again, so the user is the only one who can resend it. */
  private async apologise(channelId: string, messageId: string): Promise<void> {
    const content = 'Sorry, I could not take that message just now. Please send it again in a minute.';
    await this.rest
      .post(Routes.channelMessages(channelId), {
        body: {
          content,
          allowed_mentions: ALLOWED_MENTIONS,
          message_reference: { message_id: messageId, fail_if_not_exists: false },
        },
      })
      .catch((err) =>
        this.log.error('could not tell the user either', { error: { message: errorMessage(err) } }),
      );
  }

  private async login(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no READY from the gateway within ${this.cfg.DISCORD_LOGIN_TIMEOUT_MS} ms`)),
        this.cfg.DISCORD_LOGIN_TIMEOUT_MS,
      );
    });
    // login() resolves on READY; the client is ready once every guild's GUILD_CREATE arrived too.
    // Messages queued meanwhile are handled right after this event, so the id must be known by then.
    const ready = new Promise<void>((resolve) =>
      this.client.once(Events.ClientReady, (c) => {
        this.id = c.user.id;
        resolve();
      }),
    );
    try {
      await Promise.race([Promise.all([this.client.login(this.cfg.DISCORD_BOT_TOKEN), ready]), timeout]);
    } catch (err) {
      await this.client.destroy().catch(() => {});
      const reason = loginFailure(err);
      this.log.error(reason.message);
      throw reason;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connection changes go to the log; discord.js reconnects (resuming where it can) by itself. */
  private watchGateway(): void {
    const c = this.client;
    c.on(Events.ShardReconnecting, (shard) =>
      this.log.warn('discord gateway connection lost; reconnecting', { labels: { shard: String(shard) } }),
    );
    c.on(Events.ShardResume, (shard, replayed) =>
      this.log.info('discord gateway session resumed', {
        labels: { shard: String(shard), replayed_events: String(replayed) },
      }),
    );
    c.on(Events.ShardReady, (shard) =>
      this.log.info('discord gateway shard ready', { labels: { shard: String(shard) } }),
    );
    c.on(Events.ShardDisconnect, (event, shard) => {
      // Before the first READY, login() fails and says why; after stop() the close is ours.
      if (this.stopping || !this.id) return;
      this.log.error('discord gateway closed for good; the bot no longer receives messages', {
        labels: { shard: String(shard), close_code: String(event.code) },
      });
    });
    c.on(Events.ShardError, (err, shard) =>
      this.log.warn('discord gateway error', {
        labels: { shard: String(shard) },
        error: { message: err.message },
      }),
    );
    c.on(Events.Warn, (message) => this.log.warn(`discord.js: ${message}`));
    c.on(Events.Error, (err) => this.log.error('discord client error', { error: { message: err.message } }));
  }
}

/** A failed first connection, named by what the operator has to fix. */
function loginFailure(err: unknown): SwitchboardError {
  const message = errorMessage(err);
  const code = (err as { code?: unknown }).code;
  if (code === 'TokenInvalid' || message === 'Authentication failed') {
    return new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      'Discord refused DISCORD_BOT_TOKEN (401 Unauthorized / gateway close 4004): reset the token under Bot in the Developer Portal and set it again',
      { cause: err },
    );
  }
  if (code === 'DisallowedIntents' || /disallowed intents/i.test(message)) {
    return new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      'Discord refused the Message Content intent (gateway close 4014): switch on "Message Content Intent" under Bot → Privileged Gateway Intents in the Developer Portal',
      { cause: err },
    );
  }
  return new SwitchboardError(ErrorCodes.PLATFORM_API_FAILED, `could not connect to Discord: ${message}`, {
    retryable: true,
    cause: err,
  });
}
