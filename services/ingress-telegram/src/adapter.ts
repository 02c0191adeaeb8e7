import { timingSafeEqual } from 'node:crypto';
import {
  type AdapterDeps,
  type AdapterStartContext,
  type InboundSink,
  type OutgoingFile,
  type PlatformAdapter,
  PlatformApiError,
  type ReplyTarget,
  readCapped,
  renderMarkdown,
  SignatureError,
} from '@switchboard/connector';
import { errorMessage, type Logger } from '@switchboard/core';
import { Api, Bot, GrammyError, HttpError, InputFile } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import { request } from 'undici';
import { type TelegramConfig, telegramConfigShape } from './config.ts';
import { normalizeUpdate } from './normalize.ts';
import { Poller } from './polling.ts';

export const WEBHOOK_PATH = '/telegram/webhook';

/** Telegram through grammY's API client; updates arrive by webhook or by our own long-polling loop. */
export class TelegramAdapter implements PlatformAdapter {
  readonly platform = 'telegram' as const;
  /** Counted after entity parsing; our HTML tags are not counted by Telegram, so this is conservative. */
  readonly textLimit = 4096;
  readonly liveSecrets = ['TELEGRAM_BOT_TOKEN'] as const;
  private readonly bot: Bot;
  /** The client every call goes through; replaced when the token rotates (grammY binds one token). */
  private api: Api;
  private token: string;
  private me!: UserFromGetMe;
  private poller: Poller | undefined;
  private readonly log: Logger;

  constructor(
    private readonly cfg: TelegramConfig,
    deps: AdapterDeps,
  ) {
    this.log = deps.log;
    this.bot = new Bot(cfg.TELEGRAM_BOT_TOKEN, { client: { apiRoot: cfg.TELEGRAM_API_ROOT } });
    this.api = this.bot.api;
    this.token = cfg.TELEGRAM_BOT_TOKEN;
  }

  /**
   * A token rotated in Vault: sends, file downloads and the next getUpdates use it. A poll already
   * waiting finishes with the old token, which Telegram honours until it answers.
   */
  onSecretsChanged(values: Record<string, string>): void {
    const token = values.TELEGRAM_BOT_TOKEN;
    if (token === undefined) return;
    if (!telegramConfigShape.TELEGRAM_BOT_TOKEN.safeParse(token).success)
      throw new Error('the new TELEGRAM_BOT_TOKEN does not look like a bot token; keeping the current one');
    this.api = new Api(token, { apiRoot: this.cfg.TELEGRAM_API_ROOT });
    this.token = token;
  }

  get botId(): string {
    return String(this.me.id);
  }

  format(markdown: string): string {
    return renderMarkdown(markdown, 'telegram-html');
  }

  async start({ sink, http }: AdapterStartContext): Promise<void> {
    try {
      await this.bot.init();
    } catch (err) {
      throw apiError(err, 'getMe failed — check TELEGRAM_BOT_TOKEN');
    }
    this.me = this.bot.botInfo;
    this.log.info('telegram bot identified', {
      labels: { bot_username: this.me.username, bot_id: this.botId },
    });
    if (this.cfg.TELEGRAM_MODE === 'webhook') {
      this.registerWebhook(sink, http);
      if (this.cfg.TELEGRAM_WEBHOOK_URL) {
        await this.api.setWebhook(this.cfg.TELEGRAM_WEBHOOK_URL, {
          secret_token: this.cfg.TELEGRAM_WEBHOOK_SECRET,
          allowed_updates: ['message'],
        });
        this.log.info('telegram webhook registered', {
          labels: { webhook_url: this.cfg.TELEGRAM_WEBHOOK_URL },
        });
      }
      return;
    }
    // getUpdates is refused while a webhook is set, so polling clears it, as grammY's bot.start() does.
    await this.api.deleteWebhook();
    this.poller = new Poller(
      () => this.api,
      (u) => this.handle(u, sink),
      this.log,
      this.cfg.TELEGRAM_POLL_TIMEOUT_S,
    );
    this.poller.start();
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
  }

  isReady(): boolean {
    return this.me !== undefined && (this.poller?.healthy ?? true);
  }

  private registerWebhook(sink: InboundSink, http: AdapterStartContext['http']): void {
    const expected = Buffer.from(this.cfg.TELEGRAM_WEBHOOK_SECRET ?? '');
    const access = { verifiedBy: "Telegram's secret-token header, checked before the update is read" };
    http.post(WEBHOOK_PATH, { config: { access } }, async (req, reply) => {
      const given = Buffer.from(String(req.headers['x-telegram-bot-api-secret-token'] ?? ''));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new SignatureError('telegram webhook: missing or wrong X-Telegram-Bot-Api-Secret-Token');
      }
      const update = req.body as Update;
      if (typeof update?.update_id !== 'number') {
        return reply
          .status(400)
          .send({ error: { code: 'SB_ERR_BAD_REQUEST', message: 'not a Telegram update' } });
      }
      // Answered only after the broker confirmed; an error answers 5xx and Telegram redelivers.
      await this.handle(update, sink);
      return reply.status(200).send({ ok: true });
    });
  }

  private async handle(update: Update, sink: InboundSink): Promise<void> {
    const msg = normalizeUpdate(update, this.me, (fileId, max) => this.download(fileId, max));
    if (msg) await sink(msg);
  }

  private async download(fileId: string, maxBytes: number): Promise<Buffer> {
    const file = await this.api.getFile(fileId).catch((err) => {
      throw apiError(err, 'getFile failed');
    });
    if (!file.file_path) throw new PlatformApiError('telegram', 'getFile returned no file_path');
    const url = `${this.cfg.TELEGRAM_API_ROOT}/file/bot${this.token}/${file.file_path}`;
    const res = await request(url, { maxRedirections: 0 } as never);
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new PlatformApiError('telegram', `file download answered ${res.statusCode}`, {
        status: res.statusCode,
      });
    }
    return readCapped(res.body, maxBytes, file.file_path);
  }

  async sendText(target: ReplyTarget, text: string): Promise<string | undefined> {
    const { chatId, threadId, messageId } = this.where(target);
    try {
      const sent = await this.api.sendMessage(chatId, text, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(threadId ? { message_thread_id: threadId } : {}),
        ...(messageId
          ? { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } }
          : {}),
      });
      return String(sent.message_id);
    } catch (err) {
      throw apiError(err, 'sendMessage failed');
    }
  }

  async sendFile(target: ReplyTarget, file: OutgoingFile): Promise<string | undefined> {
    const { chatId, threadId } = this.where(target);
    try {
      const input = new InputFile(file.data, file.name);
      const sent = file.mimeType.startsWith('image/')
        ? await this.api.sendPhoto(chatId, input, threadId ? { message_thread_id: threadId } : {})
        : await this.api.sendDocument(chatId, input, threadId ? { message_thread_id: threadId } : {});
      return String(sent.message_id);
    } catch (err) {
      throw apiError(err, 'sending a file failed');
    }
  }

  async sendTyping(target: ReplyTarget): Promise<void> {
    const { chatId, threadId } = this.where(target);
    await this.api.sendChatAction(chatId, 'typing', threadId ? { message_thread_id: threadId } : {});
  }

  /** Where to answer: the stored context, or the conversation id (`chat` or `chat:thread`) alone. */
  private where(target: ReplyTarget): { chatId: string; threadId?: number; messageId?: number } {
    const c = target.context as { chatId?: string; threadId?: number; messageId?: number } | undefined;
    if (c?.chatId) return { chatId: c.chatId, threadId: c.threadId, messageId: c.messageId };
    const [chatId, thread] = target.conversationId.split(':');
    return { chatId: chatId ?? target.conversationId, threadId: thread ? Number(thread) : undefined };
  }
}

/** grammY's errors as the runtime's: Telegram's error_code and its retry_after, in milliseconds. */
export function apiError(err: unknown, what: string): PlatformApiError {
  if (err instanceof GrammyError) {
    const retryAfter = err.parameters?.retry_after;
    return new PlatformApiError('telegram', `${what}: ${err.error_code} ${err.description}`, {
      status: err.error_code,
      retryAfterMs: retryAfter !== undefined ? retryAfter * 1000 : undefined,
      cause: err,
    });
  }
  if (err instanceof HttpError) {
    return new PlatformApiError('telegram', `${what}: ${errorMessage(err.error)}`, { cause: err });
  }
  return new PlatformApiError('telegram', `${what}: ${errorMessage(err)}`, { cause: err });
}
