import {
  type AdapterDeps,
  type AdapterStartContext,
  type PlatformAdapter,
  PlatformApiError,
  type ReplyTarget,
  renderMarkdown,
} from '@switchboard/connector';
import type { Logger } from '@switchboard/core';
import {
  DingtalkApi,
  type MarkdownMessage,
  SessionThrottledError,
  SessionWebhookError,
} from './api-client.ts';
import { registerCallbackRoute } from './callback-route.ts';
import type { DingtalkConfig } from './config.ts';
import { type NormalizeOptions, readReplyContext } from './normalize.ts';
import { CallbackReplayGuard } from './replay-guard.ts';
import { SendWindow } from './send-window.ts';
import { StreamClient } from './stream-client.ts';

/** DingTalk's limit for the text of a markdown message ("最大不超过5000字符"). */
export const DINGTALK_TEXT_LIMIT = 5_000;
/** A session webhook this close to its expiry is not trusted to still work when the POST lands. */
const WEBHOOK_EXPIRY_MARGIN_MS = 60_000;
const TITLE_MAX_CHARS = 40;

export class DingtalkAdapter implements PlatformAdapter {
  readonly platform = 'dingtalk' as const;
  readonly botId: string;
  readonly textLimit = DINGTALK_TEXT_LIMIT;
  readonly liveSecrets = ['DINGTALK_APP_SECRET'] as const;
  private readonly api: DingtalkApi;
  private readonly log: Logger;
  private readonly window = new SendWindow();
  private readonly normalize: NormalizeOptions;
  private stream: StreamClient | undefined;

  constructor(
    private readonly cfg: DingtalkConfig,
    deps: AdapterDeps,
  ) {
    this.botId = cfg.DINGTALK_APP_KEY;
    this.log = deps.log;
    this.api = new DingtalkApi({
      apiUrl: cfg.DINGTALK_API_URL,
      appKey: cfg.DINGTALK_APP_KEY,
      appSecret: cfg.DINGTALK_APP_SECRET,
      robotCode: cfg.DINGTALK_ROBOT_CODE ?? cfg.DINGTALK_APP_KEY,
    });
    // The OpenAPI's own origin is trusted too, so a test or proxy setup points both at one place.
    const origins = new Set([...cfg.DINGTALK_SESSION_WEBHOOK_ORIGINS, new URL(cfg.DINGTALK_API_URL).origin]);
    this.normalize = { api: this.api, webhookOrigins: origins, robotName: cfg.DINGTALK_ROBOT_NAME };
  }

  /**
   * DINGTALK_APP_SECRET rotated in Vault: the next token, callback signature check and stream
   * connection use it; an open stream connection keeps its session.
   */
  onSecretsChanged(values: Record<string, string>): void {
    if (values.DINGTALK_APP_SECRET !== undefined) this.api.setAppSecret(values.DINGTALK_APP_SECRET);
  }

  format(markdown: string): string {
    return renderMarkdown(markdown, 'dingtalk');
  }

  async start(ctx: AdapterStartContext): Promise<void> {
    await this.checkCredentials();
    if (this.cfg.DINGTALK_MODE === 'stream') {
      this.stream = new StreamClient({
        api: this.api,
        normalize: this.normalize,
        sink: ctx.sink,
        log: this.log,
      });
      await this.stream.start();
      return;
    }
    // Replay protection needs state shared by every replica; without it the route is not served.
    if (!ctx.pool) throw new Error('the DingTalk HTTP callback needs the database (replay protection)');
    registerCallbackRoute(ctx.http, {
      appSecret: () => this.api.appSecret,
      normalize: this.normalize,
      sink: ctx.sink,
      log: this.log,
      replays: new CallbackReplayGuard(ctx.pool, this.botId),
    });
  }

  async stop(): Promise<void> {
    await this.stream?.stop();
  }

  isReady(): boolean {
    return this.stream ? this.stream.connected : true;
  }

  async sendText(target: ReplyTarget, text: string): Promise<string | undefined> {
    const ctx = readReplyContext(target.context);
    const md: MarkdownMessage = { title: titleOf(text), text };
    if (ctx?.sessionWebhook && (ctx.sessionWebhookExpiresAt ?? 0) - WEBHOOK_EXPIRY_MARGIN_MS > Date.now()) {
      try {
        await this.api.sendBySession(ctx.sessionWebhook, md);
        this.window.record();
        return undefined;
      } catch (err) {
        if (err instanceof SessionThrottledError) {
          throw new PlatformApiError('dingtalk', err.message, {
            status: 429,
            retryAfterMs: this.window.retryAfterMs(),
          });
        }
        if (!(err instanceof SessionWebhookError)) throw err;
        // The webhook refused for good (session gone): the OpenAPI can still reach the chat.
        this.log.warn('dingtalk session webhook refused, replying through the API', {
          labels: { platform: 'dingtalk', conversation: target.conversationId },
          errcode: err.errcode,
          errmsg: err.errmsg,
        });
      }
    }
    if (ctx?.conversationType === '1') {
      if (!ctx.senderStaffId) {
        throw new PlatformApiError(
          'dingtalk',
          'session webhook expired and the sender has no staff id to reply to',
          {
            status: 400,
          },
        );
      }
      return this.api.sendToUsers([ctx.senderStaffId], md);
    }
    // NOTE: without a stored context (a proactive message) the conversation is taken for a group,
    // the only kind the API can address by conversation id; a direct chat is refused by DingTalk.
    return this.api.sendToGroup(ctx?.openConversationId ?? target.conversationId, md);
  }

  /** Buys a token once at start: bad credentials stop the service with a clear message. */
  private async checkCredentials(): Promise<void> {
    try {
      await this.api.accessToken();
    } catch (err) {
      if (err instanceof PlatformApiError && err.status !== undefined && err.status < 500) {
        throw new Error(
          `DINGTALK_APP_KEY / DINGTALK_APP_SECRET were refused by DingTalk (${err.message}); check the app's credentials`,
        );
      }
      // DingTalk unreachable right now: callbacks can still arrive, replies retry later.
      this.log.warn('dingtalk access token not available at start', {
        labels: { platform: 'dingtalk' },
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}

/** The title shows in the chat list and notifications: the reply's first line, without Markdown marks. */
export function titleOf(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) =>
        l
          .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
          .replace(/^[\s#>*+-]+/, '')
          .replace(/[*_`~|]+/g, '')
          .replace(/\s+/g, ' ')
          .trim(),
      )
      .find((l) => l.length > 0) ?? '';
  if (!line) return 'Reply';
  const chars = [...line];
  return chars.length > TITLE_MAX_CHARS ? `${chars.slice(0, TITLE_MAX_CHARS - 1).join('')}…` : line;
}
