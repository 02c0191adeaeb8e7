import type { ConnectorHarness, FakePlatform, UserMessage } from '../../connectors/harness.ts';
import type { ServiceProcess } from '../../support/stack.ts';
import { FAKE_BOT, type FakeTelegram, startFakeTelegram } from './server.ts';

const SECRET = 'fake-webhook-secret-0123456789';

/** Builds Telegram updates as the Bot API sends them: private chats and supergroups, mention entities. */
export class TelegramUpdates {
  private nextUpdate = 500_000;
  private nextMessage = 1;
  readonly byId = new Map<string, Record<string, unknown>>();

  message(m: UserMessage, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const userId = numericId(m.userId);
    const chatId =
      m.chat === 'direct'
        ? m.chatId
          ? numericId(m.chatId)
          : userId
        : -(m.chatId ? numericId(m.chatId) : 100_777);
    const mention = `@${FAKE_BOT.username}`;
    const text = m.chat === 'group' && m.mention ? `${mention} ${m.text}` : m.text;
    const update = {
      update_id: this.nextUpdate++,
      message: {
        message_id: this.nextMessage++,
        date: Math.floor(Date.now() / 1000),
        from: {
          id: userId,
          is_bot: false,
          first_name: `User ${m.userId}`,
          username: m.userId.replace(/\W/g, '_'),
        },
        chat:
          m.chat === 'direct'
            ? { id: chatId, type: 'private', first_name: `User ${m.userId}` }
            : { id: chatId, type: 'supergroup', title: 'Ops' },
        text,
        ...(m.chat === 'group' && m.mention
          ? { entities: [{ type: 'mention', offset: 0, length: mention.length }] }
          : {}),
        ...extra,
      },
    };
    this.byId.set(String(update.update_id), update);
    return update;
  }
}

/** Telegram ids are numbers; tests name users with words, so map each word to a stable number. */
export function numericId(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) % 1_000_000_007;
  return 10_000 + h;
}

/** The Telegram harness in webhook mode (the mode with a secret to forge). */
export const telegramHarness: ConnectorHarness = {
  platform: 'telegram',
  textLimit: 4096,
  bold: (w) => `<b>${w}</b>`,
  async startFake(): Promise<FakePlatform> {
    const tg: FakeTelegram = await startFakeTelegram();
    const updates = new TelegramUpdates();
    let webhookUrl = '';
    return {
      serviceEnv: () => ({
        TELEGRAM_BOT_TOKEN: tg.token,
        TELEGRAM_API_ROOT: tg.apiRoot,
        TELEGRAM_MODE: 'webhook',
        TELEGRAM_WEBHOOK_SECRET: SECRET,
      }),
      async attach(svc: ServiceProcess) {
        webhookUrl = `${svc.url}/telegram/webhook`;
      },
      async sendUserMessage(m) {
        const update = updates.message(m);
        const status = await tg.deliverWebhook(update, { url: webhookUrl, secret: SECRET });
        return { id: String(update.update_id), status };
      },
      async redeliver(id) {
        const update = updates.byId.get(id);
        if (!update) throw new Error(`no update ${id}`);
        return { id, status: await tg.deliverWebhook(update, { url: webhookUrl, secret: SECRET }) };
      },
      async sendWithBadSignature(m) {
        const update = updates.message(m);
        const wrong = await tg.deliverWebhook(update, {
          url: webhookUrl,
          secret: 'not-the-secret-0123456789',
        });
        const missing = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(update),
        }).then((r) => r.status);
        return wrong === missing ? wrong : -1;
      },
      sent: () =>
        tg.sent.map((s) => ({
          conversation: s.chatId,
          text: s.text,
          thread: s.threadId !== undefined ? String(s.threadId) : undefined,
          files: s.fileName ? [s.fileName] : [],
        })),
      failNextSends: (n, kind) => tg.failNextSends(n, kind),
      sendCalls: () => tg.sendCalls,
      typing: () => tg.typing,
      close: () => tg.close(),
    };
  },
};
