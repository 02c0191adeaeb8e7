import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A Telegram Bot API server on 127.0.0.1 for grammY to talk to (`client.apiRoot`). It answers the
 * methods a bot uses with Telegram's own JSON shapes and errors, serves getUpdates as a long poll
 * with offset confirmation, delivers webhooks with the secret-token header, checks that HTML
 * messages parse and fit the 4096-character limit as Telegram does, and can be told to fail sends.
 */

export const FAKE_BOT = {
  id: 7_000_001,
  is_bot: true as const,
  first_name: 'Switchboard Test',
  username: 'sb_test_bot',
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
};

export interface TgSent {
  method: string;
  chatId: string;
  text: string;
  threadId?: number;
  replyTo?: number;
  parseMode?: string;
  fileName?: string;
  /** The bot token in the request path. */
  token: string;
}

type Failure = 'rate_limit' | 'server_error';

// Tags Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
const ALLOWED_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);

/** Parses Telegram HTML like the server does; returns the visible text or the error Telegram gives. */
export function parseTelegramHtml(html: string): { text: string } | { error: string } {
  const stack: string[] = [];
  let text = '';
  const re = /<(\/?)([a-z-]+)([^>]*)>|&(lt|gt|amp|quot|#\d+);|([<>])|([^<&]+)|&/g;
  for (const m of html.matchAll(re)) {
    if (m[2]) {
      const [, closing, tag] = m;
      if (!ALLOWED_TAGS.has(tag!))
        return { error: `Unsupported start tag "${tag}" at byte offset ${m.index}` };
      if (closing) {
        if (stack.pop() !== tag)
          return { error: `Unmatched end tag at byte offset ${m.index}, expected "</${tag}>"` };
      } else stack.push(tag!);
    } else if (m[4]) text += { lt: '<', gt: '>', amp: '&', quot: '"' }[m[4]] ?? '?';
    else if (m[5]) return { error: `Unexpected character "${m[5]}" at byte offset ${m.index}` };
    else if (m[6]) text += m[6];
    else return { error: `Unsupported entity at byte offset ${m.index}` };
  }
  if (stack.length > 0) return { error: `Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  return { text };
}

export interface FakeTelegram {
  /** For grammY's `client.apiRoot`. */
  apiRoot: string;
  /** The one token accepted; assigning a new one revokes the old, as BotFather's /revoke does. */
  token: string;
  sent: TgSent[];
  typing: string[];
  sendCalls: number;
  /** Queues an update for getUpdates (polling mode). */
  pushUpdate(update: Record<string, unknown>): void;
  /** POSTs an update to the registered (or given) webhook as Telegram does; resolves with the status. */
  deliverWebhook(update: Record<string, unknown>, o?: { url?: string; secret?: string }): Promise<number>;
  webhook: { url: string; secret?: string } | undefined;
  /** Offset the bot has confirmed through getUpdates. */
  confirmedOffset: number;
  failNextSends(n: number, kind: Failure): void;
  /** A file the bot can fetch with getFile + /file/bot<token>/<path>. */
  addFile(fileId: string, data: Buffer): void;
  close(): Promise<void>;
}

export async function startFakeTelegram(o: { token?: string } = {}): Promise<FakeTelegram> {
  const token = o.token ?? `${FAKE_BOT.id}:AAFakeTokenForTestsOnly_0123456789`;
  const updates: Array<Record<string, unknown> & { update_id: number }> = [];
  const waiters = new Set<() => void>();
  const files = new Map<string, Buffer>();
  const sockets = new Set<Socket>();
  let failures: { n: number; kind: Failure } = { n: 0, kind: 'server_error' };
  let nextMessageId = 1000;

  const fake: FakeTelegram = {
    apiRoot: '',
    token,
    sent: [],
    typing: [],
    sendCalls: 0,
    webhook: undefined,
    confirmedOffset: 0,
    pushUpdate(update) {
      updates.push(update as Record<string, unknown> & { update_id: number });
      for (const w of waiters) w();
    },
    async deliverWebhook(update, d = {}) {
      const url = d.url ?? fake.webhook?.url;
      if (!url) throw new Error('no webhook registered');
      const secret = d.secret ?? fake.webhook?.secret;
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(secret !== undefined ? { 'x-telegram-bot-api-secret-token': secret } : {}),
        },
        body: JSON.stringify(update),
      });
      await res.arrayBuffer();
      return res.status;
    },
    failNextSends(n, kind) {
      failures = { n, kind };
    },
    addFile(fileId, data) {
      files.set(fileId, data);
    },
    close: async () => {
      for (const w of waiters) w();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const ok = (res: ServerResponse, result: unknown) => reply(res, 200, { ok: true, result });
  const fail = (res: ServerResponse, code: number, description: string, parameters?: unknown) =>
    reply(res, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

  async function params(req: IncomingMessage, url: URL): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const type = req.headers['content-type'] ?? '';
    const out: Record<string, unknown> = Object.fromEntries(url.searchParams);
    if (type.includes('application/json') && body.length > 0) Object.assign(out, JSON.parse(body.toString()));
    else if (type.includes('multipart/form-data')) Object.assign(out, parseMultipart(body, type));
    return out;
  }

  /**
   * Multipart as the Bot API reads it: fields by name, files by their filename. (undici's FormData
   * parser refuses grammY's stream, which ends without the CRLF after the closing boundary.)
   */
  function parseMultipart(body: Buffer, type: string): Record<string, unknown> {
    const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
    if (!boundary) throw new Error('multipart without boundary');
    const out: Record<string, unknown> = {};
    for (const part of body.toString('latin1').split(`--${boundary}`)) {
      const sep = part.indexOf('\r\n\r\n');
      if (sep < 0) continue;
      const head = part.slice(0, sep);
      const content = part.slice(sep + 4).replace(/\r\n$/, '');
      const name = /[^e]name="([^"]*)"/.exec(head)?.[1];
      if (!name) continue;
      // grammY writes `filename=report.csv` without quotes; browsers quote it.
      const fileName = /filename="?([^";\r\n]*)"?/.exec(head)?.[1];
      out[name] =
        fileName !== undefined
          ? { fileName, size: Buffer.from(content, 'latin1').length }
          : Buffer.from(content, 'latin1').toString('utf8');
    }
    return out;
  }

  const asNumber = (v: unknown) => (v === undefined ? undefined : Number(v));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const fileMatch = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (fileMatch) {
      const data = fileMatch[1] === fake.token ? files.get(fileMatch[2]!.replace(/^files\//, '')) : undefined;
      if (!data) return fail(res, 404, 'Not Found');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
      res.end(data);
      return;
    }
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(url.pathname);
    if (!m) return fail(res, 404, 'Not Found');
    if (m[1] !== fake.token) return fail(res, 401, 'Unauthorized');
    const method = m[2]!;
    const p = await params(req, url);

    switch (method) {
      case 'getMe':
        return ok(res, FAKE_BOT);
      case 'setWebhook':
        fake.webhook = { url: String(p.url), secret: p.secret_token as string | undefined };
        return ok(res, true);
      case 'deleteWebhook':
        fake.webhook = undefined;
        return ok(res, true);
      case 'getUpdates': {
        if (fake.webhook) {
          return fail(
            res,
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
          );
        }
        const offset = asNumber(p.offset) ?? 0;
        if (offset > 0) {
          fake.confirmedOffset = Math.max(fake.confirmedOffset, offset);
          while (updates.length > 0 && updates[0]!.update_id < offset) updates.shift();
        }
        const timeoutMs = Math.min((asNumber(p.timeout) ?? 0) * 1000, 10_000);
        if (updates.length === 0 && timeoutMs > 0) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              waiters.delete(done);
              resolve();
            };
            const t = setTimeout(done, timeoutMs);
            waiters.add(done);
            req.on('close', done);
          });
        }
        if (res.destroyed) return;
        return ok(res, updates.slice(0, asNumber(p.limit) ?? 100));
      }
      case 'getFile': {
        const id = String(p.file_id);
        const data = files.get(id);
        if (!data) return fail(res, 400, 'Bad Request: invalid file_id');
        return ok(res, {
          file_id: id,
          file_unique_id: `u${id}`,
          file_size: data.length,
          file_path: `files/${id}`,
        });
      }
      case 'sendChatAction':
        fake.typing.push(String(p.chat_id));
        return ok(res, true);
      case 'sendMessage':
      case 'sendDocument':
      case 'sendPhoto': {
        fake.sendCalls++;
        if (failures.n > 0) {
          failures.n--;
          if (failures.kind === 'rate_limit') {
            return fail(res, 429, 'Too Many Requests: retry after 1', { retry_after: 1 });
          }
          return fail(res, 500, 'Internal Server Error');
        }
        const chatId = p.chat_id === undefined ? '' : String(p.chat_id);
        if (!chatId) return fail(res, 400, 'Bad Request: chat_id is empty');
        let text = String(p.text ?? p.caption ?? '');
        if (method === 'sendMessage') {
          if (!text.trim()) return fail(res, 400, 'Bad Request: message text is empty');
          if (p.parse_mode === 'HTML') {
            const parsed = parseTelegramHtml(text);
            if ('error' in parsed)
              return fail(res, 400, `Bad Request: can't parse entities: ${parsed.error}`);
            if (parsed.text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
          } else if (text.length > 4096) return fail(res, 400, 'Bad Request: message is too long');
        }
        // grammY, like the Bot API allows, sends the file as its own part named by `attach://<name>`.
        let file = p.document ?? p.photo;
        if (typeof file === 'string' && file.startsWith('attach://'))
          file = p[file.slice('attach://'.length)];
        const upload = file as { fileName?: string } | undefined;
        if (method !== 'sendMessage') text = text || '';
        const replyParams = (p.reply_parameters ?? {}) as { message_id?: number };
        fake.sent.push({
          method,
          chatId,
          text,
          threadId: asNumber(p.message_thread_id),
          replyTo: replyParams.message_id,
          parseMode: p.parse_mode as string | undefined,
          fileName: typeof upload === 'object' ? upload?.fileName : undefined,
          token: fake.token,
        });
        return ok(res, {
          message_id: nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(chatId), type: Number(chatId) < 0 ? 'supergroup' : 'private' },
          from: FAKE_BOT,
          text,
        });
      }
      default:
        return fail(res, 404, 'Not Found: method not found');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) fail(res, 500, `fake telegram: ${(err as Error).message}`);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.apiRoot = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
