import type { WebClient } from '@slack/web-api';
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
import { errorMessage, type Logger } from '@switchboard/core';
import { type SlackConfig, slackConfigShape } from './config.ts';
import { registerEventsRoute } from './events-route.ts';
import { slackFileOrigins } from './file-hosts.ts';
import { type BotIdentity, type EventCallback, normaliseEvent } from './normalise.ts';
import { SocketModeListener } from './socket-mode.ts';
import { callSlack, createWebClient, downloadPrivateFile } from './web-api.ts';

/**
 * Slack: events over the Events API (HTTP, signed) or Socket Mode, replies with chat.postMessage in
 * the thread of the message answered, files through the external upload flow. Slack has no typing
 * indicator for bots outside its assistant surfaces, so `sendTyping` is deliberately absent.
 */
export class SlackAdapter implements PlatformAdapter {
  readonly platform = 'slack' as const;
  /** Slack accepts 40 000 characters but advises staying under 4 000 for readable messages. */
  readonly textLimit = 4_000;
  readonly liveSecrets = ['SLACK_BOT_TOKEN'] as const;
  private sink: InboundSink | undefined;
  private socket: SocketModeListener | undefined;
  private readonly log: Logger;
  private botToken: string;
  /** Where file downloads may carry the bot token; the event's URLs are checked against it. */
  private readonly fileOrigins: Set<string>;

  private constructor(
    private readonly cfg: SlackConfig,
    deps: AdapterDeps,
    private web: WebClient,
    private readonly bot: BotIdentity,
  ) {
    this.log = deps.log;
    this.botToken = cfg.SLACK_BOT_TOKEN;
    this.fileOrigins = slackFileOrigins(cfg.SLACK_API_URL);
  }

  /** A bot token rotated in Vault: Web API calls and file downloads use it from now on. */
  onSecretsChanged(values: Record<string, string>): void {
    const token = values.SLACK_BOT_TOKEN;
    if (token === undefined) return;
    if (!slackConfigShape.SLACK_BOT_TOKEN.safeParse(token).success)
      throw new Error('the new SLACK_BOT_TOKEN is not a bot token (xoxb-…); keeping the current one');
    this.web = createWebClient(token, {
      apiUrl: this.cfg.SLACK_API_URL,
      timeoutMs: this.cfg.SLACK_API_TIMEOUT_MS,
      log: this.log,
    });
    this.botToken = token;
  }

  /** The bot user id (`U…`): what mentions carry and what replies are routed by. */
  get botId(): string {
    return this.bot.userId;
  }

  /** Checks the bot token with `auth.test` and learns who the bot is before anything else starts. */
  static async create(cfg: SlackConfig, deps: AdapterDeps): Promise<SlackAdapter> {
    const web = createWebClient(cfg.SLACK_BOT_TOKEN, {
      apiUrl: cfg.SLACK_API_URL,
      timeoutMs: cfg.SLACK_API_TIMEOUT_MS,
      log: deps.log,
    });
    const auth = await callSlack('auth.test', () => web.auth.test()).catch((err: unknown) => {
      throw new PlatformApiError('slack', `SLACK_BOT_TOKEN was not accepted (${errorMessage(err)})`, {
        retryable: false,
        cause: err,
      });
    });
    if (!auth.user_id)
      throw new PlatformApiError('slack', 'auth.test returned no user_id: is this a bot token?');
    deps.log.info('Slack bot token accepted', {
      labels: { platform: 'slack', team_id: auth.team_id, bot_user_id: auth.user_id, bot_id: auth.bot_id },
    });
    return new SlackAdapter(cfg, deps, web, { userId: auth.user_id, botId: auth.bot_id });
  }

  format(markdown: string): string {
    return renderMarkdown(markdown, 'slack');
  }

  async start(ctx: AdapterStartContext): Promise<void> {
    this.sink = ctx.sink;
    const onEvent = (payload: EventCallback) => this.onEvent(payload);
    if (this.cfg.SLACK_APP_TOKEN) {
      this.socket = new SocketModeListener({
        appToken: this.cfg.SLACK_APP_TOKEN,
        apiUrl: this.cfg.SLACK_API_URL,
        timeoutMs: this.cfg.SLACK_API_TIMEOUT_MS,
        log: this.log,
        onEvent,
      });
      await this.socket.start();
      return;
    }
    await registerEventsRoute(ctx.http, {
      path: this.cfg.SLACK_EVENTS_PATH,
      // loadSlackConfig refuses to start without one of the two.
      signingSecret: this.cfg.SLACK_SIGNING_SECRET!,
      log: this.log,
      onEvent,
    });
    this.log.info('Slack Events API route ready', {
      labels: { platform: 'slack', path: this.cfg.SLACK_EVENTS_PATH },
    });
  }

  async stop(): Promise<void> {
    await this.socket?.stop();
  }

  isReady(): boolean {
    return this.socket ? this.socket.isConnected() : true;
  }

  async sendText(target: ReplyTarget, text: string): Promise<string | undefined> {
    const { channel, threadTs } = replyPlace(target);
    const res = await callSlack('chat.postMessage', () =>
      this.web.chat.postMessage({ channel, text, thread_ts: threadTs, mrkdwn: true, unfurl_links: false }),
    );
    return res.ts;
  }

  async sendFile(target: ReplyTarget, file: OutgoingFile): Promise<string | undefined> {
    const { channel, threadTs } = replyPlace(target);
    const res = await callSlack('files.uploadV2', () =>
      this.web.filesUploadV2({
        ...(threadTs ? { channel_id: channel, thread_ts: threadTs } : { channel_id: channel }),
        file: file.data,
        filename: file.name,
        title: file.name,
      }),
    );
    const uploaded = res.files[0] as { files?: Array<{ id?: string }> } | undefined;
    return uploaded?.files?.[0]?.id;
  }

  private async onEvent(payload: EventCallback): Promise<unknown> {
    const sink = this.sink;
    if (!sink) throw new Error('Slack adapter not started');
    const n = normaliseEvent(payload, this.bot, (url, maxBytes, name) =>
      downloadPrivateFile(url, {
        token: this.botToken,
        maxBytes,
        name,
        timeoutMs: this.cfg.SLACK_API_TIMEOUT_MS,
        allowedOrigins: this.fileOrigins,
      }),
    );
    if (n.kind === 'ignored') {
      this.log.debug('Slack event ignored', {
        labels: { platform: 'slack', event_id: payload.event_id, reason: n.reason },
      });
      return 'ignored';
    }
    return sink(n.message);
  }
}

/**
 * Channel and thread of the answer: from the stored context, or — when that expired — from the
 * conversation id, which is `<channel>` or `<channel>:<thread ts>` by construction.
 */
export function replyPlace(target: ReplyTarget): { channel: string; threadTs?: string } {
  const ctx = target.context;
  if (ctx && typeof ctx.channel === 'string') {
    return { channel: ctx.channel, threadTs: typeof ctx.threadTs === 'string' ? ctx.threadTs : undefined };
  }
  const [channel = '', threadTs] = target.conversationId.split(':', 2);
  return { channel, threadTs };
}
