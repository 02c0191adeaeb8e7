import {
  type AdapterDeps,
  type AdapterStartContext,
  type OutgoingFile,
  type PlatformAdapter,
  PlatformApiError,
  type ReplyTarget,
  renderMarkdown,
} from '@switchboard/connector';
import { ErrorCodes, errorMessage, SwitchboardError } from '@switchboard/core';
import { CallbackCrypto } from './callback-crypto.ts';
import { CALLBACK_PATH, callbackRoutes } from './callback-routes.ts';
import type { WecomConfig } from './config.ts';
import { destinationOf } from './inbound-message.ts';
import { type Destination, WecomApi } from './wecom-api.ts';

/** What media/upload accepts per type (临时素材); files must be at least 5 bytes. */
const MEDIA_LIMITS = { image: 10 * 1024 * 1024, file: 20 * 1024 * 1024 };
const MIN_MEDIA_BYTES = 5;

/**
 * A WeCom self-built app (自建应用): messages arrive on its encrypted 接收消息 callback, answers go
 * out actively through message/send (or appchat/send for the app's group chats). WeCom's passive
 * reply — an encrypted answer in the callback's own response — is not used: the model answers long
 * after the 5 seconds WeCom waits for that response.
 */
export class WecomAdapter implements PlatformAdapter {
  readonly platform = 'wecom' as const;
  readonly botId: string;
  /**
   * WeCom caps markdown content at 2048 bytes of UTF-8, the runtime counts UTF-16 characters. A CJK
   * character is 3 bytes (an astral one 4 bytes, but 2 characters), so 680 characters (2040 bytes) is
   * the most that always fits, Chinese text included.
   */
  readonly textLimit = 680;
  readonly liveSecrets = ['WECOM_SECRET'] as const;
  readonly api: WecomApi;
  private readonly crypto: CallbackCrypto;

  constructor(
    private readonly cfg: WecomConfig,
    private readonly deps: AdapterDeps,
  ) {
    this.botId = `${cfg.WECOM_CORP_ID}:${cfg.WECOM_AGENT_ID}`;
    this.api = new WecomApi({
      baseUrl: cfg.WECOM_API_URL,
      corpId: cfg.WECOM_CORP_ID,
      secret: cfg.WECOM_SECRET,
      agentId: cfg.WECOM_AGENT_ID,
    });
    this.crypto = new CallbackCrypto({
      token: cfg.WECOM_TOKEN,
      encodingAesKey: cfg.WECOM_ENCODING_AES_KEY,
      corpId: cfg.WECOM_CORP_ID,
      maxClockSkewS: cfg.WECOM_MAX_CLOCK_SKEW_S,
    });
  }

  /** WECOM_SECRET rotated in Vault: the next call buys an access_token with it. */
  onSecretsChanged(values: Record<string, string>): void {
    if (values.WECOM_SECRET !== undefined) this.api.setSecret(values.WECOM_SECRET);
  }

  format(markdown: string): string {
    return renderMarkdown(markdown, 'wecom');
  }

  async start({ sink, http }: AdapterStartContext): Promise<void> {
    const normalize = {
      agentId: this.cfg.WECOM_AGENT_ID,
      botName: this.cfg.WECOM_BOT_NAME,
      fetchMedia: (mediaId: string, maxBytes: number) => this.api.downloadMedia(mediaId, maxBytes),
    };
    await http.register(async (scope) =>
      callbackRoutes(scope, { crypto: this.crypto, normalize, sink, log: this.deps.log }),
    );
    // A refused secret is a configuration error: say so now rather than at the first reply.
    try {
      await this.api.token();
    } catch (err) {
      if (err instanceof PlatformApiError && !err.retryable) {
        throw new SwitchboardError(
          ErrorCodes.CONFIG_INVALID,
          `WeCom refused the app's credentials: ${err.message}`,
        );
      }
      this.deps.log.warn('wecom API not reachable at start; replies wait until it is', {
        error: { message: errorMessage(err) },
      });
    }
    this.deps.log.info('wecom callback ready', { labels: { path: CALLBACK_PATH, bot_id: this.botId } });
  }

  async stop(): Promise<void> {
    // Nothing to stop: callbacks arrive over the HTTP server the runtime closes.
  }

  isReady(): boolean {
    // Without traffic nothing would fetch a token again: the readiness probe itself retries.
    if (!this.api.healthy) void this.api.token().catch(() => {});
    return this.api.healthy;
  }

  async sendText(target: ReplyTarget, text: string): Promise<string | undefined> {
    return this.api.sendMarkdown(this.destination(target), text);
  }

  async sendFile(target: ReplyTarget, file: OutgoingFile): Promise<string | undefined> {
    const image = /^image\/(jpeg|png)$/.test(file.mimeType) && file.data.length <= MEDIA_LIMITS.image;
    const type = image ? 'image' : 'file';
    if (file.data.length > MEDIA_LIMITS.file || file.data.length < MIN_MEDIA_BYTES) {
      throw new PlatformApiError(
        'wecom',
        `${file.name} is ${file.data.length} bytes; WeCom takes files of ${MIN_MEDIA_BYTES} bytes to 20 MB`,
        { status: 413, retryable: false },
      );
    }
    const mediaId = await this.api.uploadMedia(type, file);
    return this.api.sendMedia(this.destination(target), type, mediaId);
  }

  private destination(target: ReplyTarget): Destination {
    const c = target.context;
    if (typeof c?.chatid === 'string') return { chatid: c.chatid };
    if (typeof c?.touser === 'string') return { touser: c.touser };
    const d = destinationOf(target.conversationId);
    if (!d) {
      throw new PlatformApiError(
        'wecom',
        `conversation ${target.conversationId} is not a WeCom user or chat`,
        {
          status: 400,
          retryable: false,
        },
      );
    }
    return d;
  }
}
