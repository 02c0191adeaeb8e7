import { formatBytes, PlatformApiError, readCapped } from '@switchboard/connector';
import { ErrorCodes, SwitchboardError } from '@switchboard/core';
import { request } from 'undici';

const PLATFORM = 'dingtalk';
const REQUEST_TIMEOUT_MS = 15_000;
/** Tokens live 7200 s; we buy a new one this long before DingTalk would refuse the old one. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;
/** DingTalk's QPS limits are per second: one second is what its docs say to wait. */
const QPS_RETRY_AFTER_MS = 1_000;
/** Error codes of the OpenAPI that mean "too many calls"; they arrive as HTTP 403. */
const THROTTLE_CODES = /QpsLimit|Throttling|RateLimit/i;

export interface DingtalkApiOptions {
  apiUrl: string;
  appKey: string;
  appSecret: string;
  robotCode: string;
}

export interface MarkdownMessage {
  title: string;
  text: string;
}

/** A session webhook answered with an error code other than throttling (expired, invalid session…). */
export class SessionWebhookError extends Error {
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
  ) {
    super(`session webhook refused the message: ${errcode} ${errmsg}`);
    this.name = 'SessionWebhookError';
  }
}

/** The session webhook throttled us (errcode 130101); the caller decides how long to wait. */
export class SessionThrottledError extends Error {
  constructor(readonly errmsg: string) {
    super(`session webhook throttled: ${errmsg}`);
    this.name = 'SessionThrottledError';
  }
}

/**
 * Our own small client of DingTalk's robot APIs: the OpenAPI (api.dingtalk.com/v1.0, access-token
 * header) and the session webhooks callbacks carry. Every failure leaves as a {@link PlatformApiError}
 * carrying what the runtime needs to retry or park.
 */
export class DingtalkApi {
  private token: { value: string; refreshAt: number } | undefined;
  private pendingToken: Promise<string> | undefined;

  constructor(private readonly o: DingtalkApiOptions) {}

  get robotCode(): string {
    return this.o.robotCode;
  }

  /** DINGTALK_APP_SECRET rotated in Vault: the cached token was bought with the old one, so drop it. */
  setAppSecret(secret: string): void {
    this.o.appSecret = secret;
    this.token = undefined;
  }

  get appSecret(): string {
    return this.o.appSecret;
  }

  /** An app access token, cached until shortly before it expires; concurrent callers share one fetch. */
  async accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.refreshAt) return this.token.value;
    this.pendingToken ??= this.fetchToken().finally(() => {
      this.pendingToken = undefined;
    });
    return this.pendingToken;
  }

  private async fetchToken(): Promise<string> {
    const body = await this.call('/v1.0/oauth2/accessToken', {
      appKey: this.o.appKey,
      appSecret: this.o.appSecret,
    });
    const value = typeof body.accessToken === 'string' ? body.accessToken : '';
    const expireIn = typeof body.expireIn === 'number' ? body.expireIn : 7200;
    if (!value) throw new PlatformApiError(PLATFORM, 'oauth2/accessToken returned no accessToken');
    const lifetimeMs = expireIn * 1000;
    this.token = {
      value,
      refreshAt: Date.now() + Math.max(lifetimeMs - TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2),
    };
    return value;
  }

  /** Replies through a callback's session webhook (no token needed, valid about 90 minutes). */
  async sendBySession(webhook: string, md: MarkdownMessage): Promise<void> {
    const res = await send(webhook, { msgtype: 'markdown', markdown: md });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw httpError('session webhook', res.statusCode, res.headers, text);
    const body = parseJson(text);
    const errcode = typeof body.errcode === 'number' ? body.errcode : Number(body.errcode ?? 0);
    const errmsg = typeof body.errmsg === 'string' ? body.errmsg : '';
    if (errcode === 0) return;
    if (errcode === 130101 || /too fast/i.test(errmsg)) throw new SessionThrottledError(errmsg);
    // -1 is DingTalk's "system busy": the message was not taken, trying again later is right.
    if (errcode === -1) {
      throw new PlatformApiError(PLATFORM, `session webhook: system busy (${errmsg})`, { status: 503 });
    }
    throw new SessionWebhookError(errcode, errmsg);
  }

  /** Sends a markdown message to users' direct chats with the robot; returns the processQueryKey. */
  async sendToUsers(userIds: string[], md: MarkdownMessage): Promise<string | undefined> {
    const body = await this.authed('/v1.0/robot/oToMessages/batchSend', {
      robotCode: this.o.robotCode,
      userIds,
      msgKey: 'sampleMarkdown',
      msgParam: JSON.stringify(md),
    });
    // NOTE: batchSend answers 200 even when it refused the recipient; the lists say why.
    const flowControlled = stringList(body.flowControlledStaffIdList);
    if (userIds.some((u) => flowControlled.includes(u))) {
      throw new PlatformApiError(PLATFORM, 'oToMessages/batchSend: recipient is flow-controlled', {
        status: 429,
        retryAfterMs: QPS_RETRY_AFTER_MS,
      });
    }
    const invalid = stringList(body.invalidStaffIdList);
    if (userIds.every((u) => invalid.includes(u))) {
      throw new PlatformApiError(PLATFORM, `oToMessages/batchSend: invalid staff id ${userIds.join(',')}`, {
        status: 400,
      });
    }
    return typeof body.processQueryKey === 'string' ? body.processQueryKey : undefined;
  }

  /** Sends a markdown message to a group the robot is in; returns the processQueryKey. */
  async sendToGroup(openConversationId: string, md: MarkdownMessage): Promise<string | undefined> {
    const body = await this.authed('/v1.0/robot/groupMessages/send', {
      robotCode: this.o.robotCode,
      openConversationId,
      msgKey: 'sampleMarkdown',
      msgParam: JSON.stringify(md),
    });
    return typeof body.processQueryKey === 'string' ? body.processQueryKey : undefined;
  }

  /** Asks DingTalk's Stream gateway for a WebSocket endpoint and a one-time ticket. */
  async openStreamConnection(subscriptions: { type: string; topic: string }[], ua: string) {
    const body = await this.call('/v1.0/gateway/connections/open', {
      clientId: this.o.appKey,
      clientSecret: this.o.appSecret,
      subscriptions,
      ua,
    });
    if (typeof body.endpoint !== 'string' || typeof body.ticket !== 'string') {
      throw new PlatformApiError(PLATFORM, 'gateway/connections/open returned no endpoint or ticket');
    }
    return { endpoint: body.endpoint, ticket: body.ticket };
  }

  /** Exchanges a callback's downloadCode for a short-lived download URL. */
  async downloadUrl(downloadCode: string): Promise<string> {
    const body = await this.authed('/v1.0/robot/messageFiles/download', {
      downloadCode,
      robotCode: this.o.robotCode,
    });
    if (typeof body.downloadUrl !== 'string' || !body.downloadUrl) {
      throw new PlatformApiError(PLATFORM, 'messageFiles/download returned no downloadUrl');
    }
    return body.downloadUrl;
  }

  /** Fetches a file, refusing (and cutting the transfer) once more than maxBytes arrive. */
  async fetchFile(url: string, maxBytes: number, name?: string): Promise<Buffer> {
    const res = await request(url, { method: 'GET', signal: AbortSignal.timeout(60_000) }).catch((err) => {
      throw new PlatformApiError(PLATFORM, `file download failed: ${errText(err)}`, { cause: err });
    });
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      throw httpError('file download', res.statusCode, res.headers, text);
    }
    const announced = Number(res.headers['content-length']);
    if (Number.isFinite(announced) && announced > maxBytes) {
      discard(res.body);
      throw new SwitchboardError(
        ErrorCodes.ATTACHMENT_TOO_LARGE,
        `${name ?? 'attachment'} is ${formatBytes(announced)}, over the ${formatBytes(maxBytes)} limit`,
        { statusCode: 413 },
      );
    }
    try {
      return await readCapped(res.body, maxBytes, name);
    } finally {
      discard(res.body);
    }
  }

  private async authed(path: string, payload: unknown): Promise<Record<string, unknown>> {
    const token = await this.accessToken();
    try {
      return await this.call(path, payload, token);
    } catch (err) {
      // A token revoked early (secret reset, app re-authorised): buy a new one on the next try.
      if (err instanceof PlatformApiError && err.status === 401) this.token = undefined;
      throw err;
    }
  }

  private async call(path: string, payload: unknown, token?: string): Promise<Record<string, unknown>> {
    const res = await send(
      `${this.o.apiUrl.replace(/\/+$/, '')}${path}`,
      payload,
      token ? { 'x-acs-dingtalk-access-token': token } : {},
    );
    const text = await res.body.text();
    if (res.statusCode >= 300)
      throw httpError(path.replace(/^\/v1\.0\//, ''), res.statusCode, res.headers, text);
    return parseJson(text);
  }
}

type ResponseHeaders = Record<string, string | string[] | undefined>;

async function send(url: string, payload: unknown, headers: Record<string, string> = {}) {
  try {
    return await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    // Never quote the URL: a session webhook URL is a credential for its conversation.
    throw new PlatformApiError(PLATFORM, `request failed: ${errText(err)}`, { cause: err });
  }
}

/** Maps an OpenAPI error answer ({code, message, requestid}) or a bare HTTP error to a PlatformApiError. */
function httpError(what: string, status: number, headers: ResponseHeaders, text: string): PlatformApiError {
  const body = parseJson(text);
  const code = typeof body.code === 'string' ? body.code : '';
  const message = typeof body.message === 'string' ? body.message : text.slice(0, 200);
  const detail = `${what}: HTTP ${status}${code ? ` ${code}` : ''}${message ? ` — ${message}` : ''}`;
  if (status === 429 || THROTTLE_CODES.test(code)) {
    return new PlatformApiError(PLATFORM, detail, {
      status: 429,
      retryAfterMs: retryAfter(headers) ?? QPS_RETRY_AFTER_MS,
    });
  }
  if (status === 401) return new PlatformApiError(PLATFORM, detail, { status, retryable: true });
  return new PlatformApiError(PLATFORM, detail, { status });
}

function retryAfter(headers: ResponseHeaders): number | undefined {
  const raw = headers['retry-after'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return undefined;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Drops the rest of a response; undici reports the abort as an error nobody needs to hear about. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

function parseJson(text: string): Record<string, unknown> {
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function errText(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.name;
  return String(err);
}
