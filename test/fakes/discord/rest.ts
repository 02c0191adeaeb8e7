import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { APIMessage } from 'discord-api-types/v10';
import type { DiscordWorld, UserFile } from './state.ts';

export const API_VERSION = 10;
/** Discord's message length limit, in characters. */
export const MAX_CONTENT = 2_000;
/** Discord's upload limit for a bot without boosts (10 MiB since 2024). */
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

export type SendFailure = 'rate_limit' | 'server_error';

export interface RestOptions {
  token: string;
  world: DiscordWorld;
  /** Public base of this server (`http://127.0.0.1:<port>`), for attachment URLs. */
  base(): string;
  /** ws:// URL handed out by GET /gateway/bot. */
  gatewayUrl(): string;
  /** Per-channel bucket of POST /channels/{id}/messages; exceeding it answers a real 429. */
  bucket: { limit: number; windowMs: number };
  /** retry_after (seconds) of 429s, injected or earned. */
  retryAfterSec: number;
  /** Called with each message the bot created, to echo it on the gateway as Discord does. */
  onBotMessage(msg: APIMessage): void;
}

interface Bucket {
  remaining: number;
  resetAt: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.message));
  }
}

const unauthorized = () => new HttpError(401, { message: '401: Unauthorized', code: 0 });
const notFound = () => new HttpError(404, { message: '404: Not Found', code: 0 });
const unknownChannel = () => new HttpError(404, { message: 'Unknown Channel', code: 10003 });
const formError = (field: string, code: string, message: string) =>
  new HttpError(400, {
    message: 'Invalid Form Body',
    code: 50035,
    errors: { [field]: { _errors: [{ code, message }] } },
  });

/** The REST half of the fake, under `/api/v10` like discord.com; attachments under `/attachments/…`. */
export class FakeRest {
  sendCalls = 0;
  private failing: { n: number; kind: SendFailure } = { n: 0, kind: 'server_error' };
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly o: RestOptions) {}

  /** The next n message creations fail with `kind`; 0 stops failing. */
  failNextSends(n: number, kind: SendFailure): void {
    this.failing = { n, kind };
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://fake');
      if (req.method === 'GET' && url.pathname.startsWith('/attachments/'))
        return this.cdn(url.pathname, res);
      const m = /^\/api\/v(\d+)(\/.*)$/.exec(url.pathname);
      if (!m) throw notFound();
      if (Number(m[1]) !== API_VERSION)
        throw new HttpError(400, { message: 'Invalid API version', code: 50041 });
      await this.route(req, res, m[2]!);
    } catch (err) {
      if (err instanceof HttpError) return json(res, err.status, err.body);
      json(res, 500, { message: '500: Internal Server Error', code: 0 });
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/gateway' && method === 'GET') return json(res, 200, { url: this.o.gatewayUrl() });
    if (req.headers.authorization !== `Bot ${this.o.token}`) throw unauthorized();
    if (path === '/gateway/bot' && method === 'GET') {
      return json(res, 200, {
        url: this.o.gatewayUrl(),
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      });
    }
    if (path === '/users/@me' && method === 'GET') return json(res, 200, this.o.world.bot);
    const ch = /^\/channels\/(\d+)(\/messages|\/typing)?$/.exec(path);
    if (!ch) throw notFound();
    const channel = this.o.world.channels.get(ch[1]!);
    const sub = ch[2];
    if (!sub && method === 'GET') {
      if (!channel) throw unknownChannel();
      return json(res, 200, channel);
    }
    if (sub === '/typing' && method === 'POST') {
      if (!channel) throw unknownChannel();
      this.o.world.typing.push({ channelId: channel.id, at: Date.now() });
      res.writeHead(204).end();
      return;
    }
    if (sub === '/messages' && method === 'POST') return this.createMessage(req, res, ch[1]!);
    throw new HttpError(405, { message: '405: Method Not Allowed', code: 0 });
  }

  private async createMessage(req: IncomingMessage, res: ServerResponse, channelId: string): Promise<void> {
    this.sendCalls++;
    const bucketHeaders = this.take(channelId);
    const injected = this.failing.n > 0 ? this.failing.kind : undefined;
    if (injected) this.failing.n--;
    if (injected === 'server_error')
      return json(res, 500, { message: '500: Internal Server Error', code: 0 });
    if (injected === 'rate_limit' || bucketHeaders === undefined) return this.tooManyRequests(res, channelId);
    const channel = this.o.world.channels.get(channelId);
    if (!channel) throw unknownChannel();
    const { payload, files } = await readMessageBody(req);
    const content = payload.content === undefined || payload.content === null ? '' : payload.content;
    if (typeof content !== 'string') throw formError('content', 'BASE_TYPE_BAD_TYPE', 'Must be a string.');
    if ([...content].length > MAX_CONTENT) {
      throw formError('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`);
    }
    const hasEmbeds = Array.isArray(payload.embeds) && payload.embeds.length > 0;
    if (content.trim() === '' && files.length === 0 && !hasEmbeds) {
      throw new HttpError(400, { message: 'Cannot send an empty message', code: 50006 });
    }
    if (files.reduce((n, f) => n + f.data.length, 0) > MAX_UPLOAD_BYTES) {
      throw new HttpError(413, { message: 'Request entity too large', code: 40005 });
    }
    const ref = payload.message_reference as
      | { message_id?: string; fail_if_not_exists?: boolean }
      | undefined;
    let replyTo: string | undefined;
    if (ref?.message_id) {
      if (this.o.world.messages.has(ref.message_id)) replyTo = ref.message_id;
      else if (ref.fail_if_not_exists !== false) {
        throw formError('message_reference', 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE', 'Unknown message');
      }
    }
    const msg = this.o.world.createBotMessage(channelId, content, files, replyTo, this.o.base());
    this.o.world.botPosts.push({
      id: msg.id,
      channelId,
      content,
      ...(replyTo ? { replyTo } : {}),
      files: files.map((f) => f.name),
      allowedMentions: payload.allowed_mentions,
    });
    json(res, 200, msg, bucketHeaders);
    this.o.onBotMessage(msg);
  }

  /** Spends one request of the channel's bucket; undefined when it is empty (a real 429). */
  private take(channelId: string): OutgoingHttpHeaders | undefined {
    const now = Date.now();
    let b = this.buckets.get(channelId);
    if (!b || now >= b.resetAt) {
      b = { remaining: this.o.bucket.limit, resetAt: now + this.o.bucket.windowMs };
      this.buckets.set(channelId, b);
    }
    if (b.remaining <= 0) return undefined;
    b.remaining--;
    return this.bucketHeaders(b, now);
  }

  private bucketHeaders(b: Bucket, now: number): OutgoingHttpHeaders {
    return {
      'x-ratelimit-limit': String(this.o.bucket.limit),
      'x-ratelimit-remaining': String(b.remaining),
      'x-ratelimit-reset': (b.resetAt / 1000).toFixed(3),
      'x-ratelimit-reset-after': ((b.resetAt - now) / 1000).toFixed(3),
      'x-ratelimit-bucket': createHash('sha1')
        .update('POST /channels/:id/messages')
        .digest('hex')
        .slice(0, 32),
    };
  }

  private tooManyRequests(res: ServerResponse, channelId: string): void {
    const now = Date.now();
    const retryAfter = this.o.retryAfterSec;
    // The bucket stays empty until retry_after has passed, as Discord's does.
    const b: Bucket = { remaining: 0, resetAt: now + retryAfter * 1000 };
    this.buckets.set(channelId, b);
    json(
      res,
      429,
      { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
      { ...this.bucketHeaders(b, now), 'retry-after': String(retryAfter), 'x-ratelimit-scope': 'user' },
    );
  }

  private cdn(path: string, res: ServerResponse): void {
    const f = this.o.world.files.get(path);
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    res
      .writeHead(200, {
        'content-type': f.contentType ?? 'application/octet-stream',
        'content-length': f.data.length,
      })
      .end(f.data);
  }
}

interface MessageBody {
  payload: Record<string, unknown>;
  files: UserFile[];
}

/** JSON, or multipart with `payload_json` and `files[n]` parts, as Discord accepts both. */
async function readMessageBody(req: IncomingMessage): Promise<MessageBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_UPLOAD_BYTES + 1024 * 1024) {
      throw new HttpError(413, { message: 'Request entity too large', code: 40005 });
    }
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    return { payload: parseJson(body.toString('utf8')), files: [] };
  }
  if (type.startsWith('multipart/form-data')) {
    const form = await new Request('http://fake/', {
      method: 'POST',
      headers: { 'content-type': type },
      body,
    })
      .formData()
      .catch(() => {
        throw new HttpError(400, { message: 'Invalid multipart body', code: 50035 });
      });
    const payloadJson = form.get('payload_json');
    const payload = typeof payloadJson === 'string' ? parseJson(payloadJson) : {};
    const files: UserFile[] = [];
    for (const [key, value] of form.entries()) {
      if (!/^files\[\d+\]$/.test(key) || typeof value === 'string') continue;
      files.push({ name: value.name, contentType: value.type, data: Buffer.from(await value.arrayBuffer()) });
    }
    if (typeof form.get('content') === 'string') payload.content ??= form.get('content');
    return { payload, files };
  }
  throw new HttpError(400, { message: 'The request body contains invalid JSON.', code: 50109 });
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {}
  throw new HttpError(400, { message: 'The request body contains invalid JSON.', code: 50109 });
}

function json(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
