import { PlatformApiError, readCapped } from '@switchboard/connector';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { FormData, request } from 'undici';

/** Every WeCom API answer carries these; errcode 0 is success, the HTTP status is 200 either way. */
interface ApiResult {
  errcode?: number;
  errmsg?: string;
}

export interface WecomApiOptions {
  baseUrl: string;
  corpId: string;
  secret: string;
  agentId: number;
  now?: () => number;
}

export type Destination = { touser: string } | { chatid: string };
export type MediaType = 'image' | 'voice' | 'video' | 'file';

/** Codes meaning "this access_token is no good": fetch a new one and try once more. */
const TOKEN_REJECTED = new Set([40014, 42001]);
/** Frequency limits (接口调用超过限制, 并发调用超过限制): wait and try again. */
const RATE_LIMITED = new Set([45009, 45033]);
/** gettoken refusing the corp or the secret: no retry helps, the configuration is wrong. */
const CREDENTIALS_REFUSED = new Set([40001, 40013, 40091, 41002, 41004]);
/** WeCom counts its limits per minute; a second spreads the retry without stalling the bot. */
const RATE_LIMIT_WAIT_MS = 1_000;
const TIMEOUTS = { headersTimeout: 10_000, bodyTimeout: 30_000 };

const apiError = (endpoint: string, r: ApiResult) =>
  `${endpoint} failed: errcode ${r.errcode} (${(r.errmsg ?? '').slice(0, 200)})`;

/**
 * Our client of the WeCom server API (qyapi): the access_token cached until shortly before it
 * expires and fetched once for all concurrent callers, and WeCom's in-body errors turned into
 * PlatformApiErrors the runtime knows how to retry. The token travels in the query string, so no
 * URL is ever put into an error message or a log line.
 */
export class WecomApi {
  private cached: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly now: () => number;
  /** False once gettoken failed, until it works again; feeds readiness. */
  healthy = true;

  constructor(private readonly o: WecomApiOptions) {
    this.now = o.now ?? Date.now;
  }

  /** A secret rotated in Vault: the cached access_token was bought with the old one, so drop it. */
  setSecret(secret: string): void {
    this.o.secret = secret;
    this.cached = undefined;
  }

  /** A valid access_token, from the cache while it lasts. */
  async token(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return this.cached.token;
    this.pending ??= this.fetchToken().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchToken(): Promise<string> {
    const url = this.url('/cgi-bin/gettoken', { corpid: this.o.corpId, corpsecret: this.o.secret });
    let r: ApiResult & { access_token?: string; expires_in?: number };
    try {
      r = await this.json('gettoken', url, { method: 'GET' });
    } catch (err) {
      this.healthy = false;
      throw err;
    }
    if (r.errcode !== undefined && r.errcode !== 0) {
      this.healthy = false;
      if (CREDENTIALS_REFUSED.has(r.errcode)) {
        throw new PlatformApiError(
          'wecom',
          `${apiError('gettoken', r)}: check WECOM_CORP_ID and WECOM_SECRET`,
          {
            status: 401,
            retryable: false,
          },
        );
      }
      throw this.errorFor('gettoken', r);
    }
    if (!r.access_token || !r.expires_in)
      throw new PlatformApiError('wecom', 'gettoken answered without a token');
    this.healthy = true;
    const ttlMs = r.expires_in * 1000;
    // Renew ahead of expiry so a send never races the deadline: 5 minutes, or a tenth of short lifetimes.
    this.cached = { token: r.access_token, refreshAt: this.now() + ttlMs - Math.min(300_000, ttlMs / 10) };
    return r.access_token;
  }

  /** Sends a Markdown message to a user (message/send) or an app group chat (appchat/send). */
  async sendMarkdown(to: Destination, content: string): Promise<string | undefined> {
    return this.send(to, 'markdown', { content });
  }

  /** Sends an uploaded file or image. */
  async sendMedia(to: Destination, type: 'image' | 'file', mediaId: string): Promise<string | undefined> {
    return this.send(to, type, { media_id: mediaId });
  }

  private async send(to: Destination, msgtype: string, payload: object): Promise<string | undefined> {
    if ('chatid' in to) {
      await this.call(
        'appchat/send',
        'POST',
        {},
        { chatid: to.chatid, msgtype, [msgtype]: payload, safe: 0 },
      );
      return undefined;
    }
    const r = await this.call<{ msgid?: string; invaliduser?: string }>(
      'message/send',
      'POST',
      {},
      { touser: to.touser, msgtype, agentid: this.o.agentId, [msgtype]: payload, safe: 0 },
    );
    // errcode 0 with the user listed as invalid: not delivered (left the corp, outside the app's range).
    if (r.invaliduser) {
      throw new PlatformApiError(
        'wecom',
        `message/send: user ${r.invaliduser} cannot receive messages from this app`,
        {
          status: 400,
          retryable: false,
        },
      );
    }
    return r.msgid;
  }

  /** Uploads a temporary file (media/upload, valid three days) and returns its media_id. */
  async uploadMedia(
    type: MediaType,
    file: { name: string; mimeType: string; data: Buffer },
  ): Promise<string> {
    const r = await this.call<{ media_id?: string }>('media/upload', 'POST', { type }, () => {
      const form = new FormData();
      // The copy gives Blob the plain ArrayBuffer-backed view its types insist on.
      form.append('media', new Blob([new Uint8Array(file.data)], { type: file.mimeType }), file.name);
      return form;
    });
    if (!r.media_id) throw new PlatformApiError('wecom', 'media/upload answered without a media_id');
    return r.media_id;
  }

  /** Downloads a media_id (media/get), refusing more than maxBytes. */
  async downloadMedia(
    mediaId: string,
    maxBytes: number,
  ): Promise<{ data: Buffer; mimeType?: string; name?: string }> {
    for (let attempt = 0; ; attempt++) {
      const url = this.url('/cgi-bin/media/get', { access_token: await this.token(), media_id: mediaId });
      const res = await this.request('media/get', url, { method: 'GET' });
      const type = String(res.headers['content-type'] ?? '');
      // Errors come as JSON in a 200; a file comes as an attachment (a .json or .txt file included).
      if (res.statusCode === 200 && res.headers['content-disposition']) {
        const length = Number(res.headers['content-length']);
        if (length > maxBytes) {
          // Destroying a body undici is reading emits an abort error of its own: expected here.
          res.body.on('error', () => {});
          res.body.destroy();
          throw new SwitchboardError(
            ErrorCodes.ATTACHMENT_TOO_LARGE,
            `media is ${length} bytes, over ${maxBytes}`,
            {
              statusCode: 413,
            },
          );
        }
        const data = await readCapped(res.body, maxBytes, 'media');
        return {
          data,
          mimeType: type.split(';')[0] || undefined,
          name: filenameOf(res.headers['content-disposition']),
        };
      }
      const r = await this.parse<ApiResult>('media/get', res);
      if (!r.errcode) throw new PlatformApiError('wecom', 'media/get answered neither a file nor an error');
      if (attempt === 0 && this.tokenRejected(r)) continue;
      throw this.errorFor('media/get', r);
    }
  }

  /**
   * One API call with the access_token. A token WeCom says is invalid or expired (revoked, or the
   * secret was reset) is replaced once; `body` is rebuilt for the second try as a stream is spent.
   */
  private async call<T extends object>(
    endpoint: string,
    method: 'GET' | 'POST',
    query: Record<string, string>,
    body?: object | (() => FormData),
  ): Promise<T & ApiResult> {
    for (let attempt = 0; ; attempt++) {
      const url = this.url(`/cgi-bin/${endpoint}`, { access_token: await this.token(), ...query });
      const r = await this.json<T>(endpoint, url, {
        method,
        ...(typeof body === 'function'
          ? { body: body() }
          : body
            ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
            : {}),
      });
      if (!r.errcode) return r;
      if (attempt === 0 && this.tokenRejected(r)) continue;
      throw this.errorFor(endpoint, r);
    }
  }

  private tokenRejected(r: ApiResult): boolean {
    if (r.errcode === undefined || !TOKEN_REJECTED.has(r.errcode)) return false;
    this.cached = undefined;
    return true;
  }

  private errorFor(endpoint: string, r: ApiResult): PlatformApiError {
    const message = apiError(endpoint, r);
    if (r.errcode !== undefined && RATE_LIMITED.has(r.errcode)) {
      return new PlatformApiError('wecom', message, { status: 429, retryAfterMs: RATE_LIMIT_WAIT_MS });
    }
    // -1: 系统繁忙, WeCom's own "try again".
    if (r.errcode === -1) return new PlatformApiError('wecom', message, { status: 503, retryable: true });
    // Everything else is about the request (bad user, chat, media, agent): retrying sends the same.
    return new PlatformApiError('wecom', message, { status: 400, retryable: false });
  }

  private async json<T>(
    endpoint: string,
    url: string,
    opts: Parameters<typeof request>[1],
  ): Promise<T & ApiResult> {
    return this.parse<T>(endpoint, await this.request(endpoint, url, opts));
  }

  private async request(endpoint: string, url: string, opts: Parameters<typeof request>[1]) {
    try {
      return await request(url, { ...opts, ...TIMEOUTS });
    } catch (err) {
      // undici's messages do not quote the URL, but the cause chain is not ours to vouch for.
      const code = (err as { code?: string }).code ?? (err as Error).name;
      throw new PlatformApiError('wecom', `${endpoint}: network error (${code})`);
    }
  }

  private async parse<T>(endpoint: string, res: Awaited<ReturnType<typeof request>>): Promise<T & ApiResult> {
    if (res.statusCode >= 300) {
      await res.body.dump();
      throw new PlatformApiError('wecom', `${endpoint}: HTTP ${res.statusCode}`, { status: res.statusCode });
    }
    try {
      return (await res.body.json()) as T & ApiResult;
    } catch {
      throw new PlatformApiError('wecom', `${endpoint}: answer is not JSON`, { status: 502 });
    }
  }

  private url(path: string, query: Record<string, string>): string {
    return `${this.o.baseUrl}${path}?${new URLSearchParams(query)}`;
  }
}

/** The file name in `Content-Disposition: attachment; filename="x.jpg"` (or the RFC 5987 form). */
function filenameOf(header: string | string[] | undefined): string | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h) return undefined;
  const ext = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(h);
  if (ext?.[1]) {
    try {
      return decodeURIComponent(ext[1].trim());
    } catch {}
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/.exec(h);
  return plain?.[1]?.trim() || undefined;
}
