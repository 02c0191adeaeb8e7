import {
  ErrorCode,
  LogLevel,
  type Logger as SlackLogger,
  type WebAPICallError,
  WebClient,
  type WebClientOptions,
} from '@slack/web-api';
import { PlatformApiError, readCapped } from '@switchboard/connector';
import { errorMessage, type Logger } from '@switchboard/core';
import { assertSlackFileUrl } from './file-hosts.ts';

/** Slack error codes that mean "try again later" although they arrive as HTTP 200 `ok: false`. */
const TRANSIENT_ERRORS = new Set([
  'ratelimited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

/**
 * WebClient options shared by the bot client and Socket Mode's: our logger, our timeout, and no retries
 * of its own — the connector runtime retries and parks, honouring Retry-After, and two retry layers
 * stacked would hold a failing reply for half an hour.
 */
export function webClientOptions(o: { apiUrl: string; timeoutMs: number; log: Logger }) {
  return {
    slackApiUrl: o.apiUrl,
    timeout: o.timeoutMs,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    logger: slackLogger(o.log),
  } satisfies WebClientOptions;
}

export function createWebClient(token: string, o: { apiUrl: string; timeoutMs: number; log: Logger }) {
  return new WebClient(token, webClientOptions(o));
}

/**
 * Runs one Web API call and turns Slack's failures into the runtime's: 429 with its Retry-After, HTTP
 * 5xx, network errors and Slack's transient codes retryable; anything else (`channel_not_found`,
 * `not_in_channel`, `invalid_auth`…) final, because asking again will not change the answer.
 */
export async function callSlack<T>(method: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toPlatformError(method, err);
  }
}

export function toPlatformError(method: string, err: unknown): PlatformApiError {
  const e = err as Partial<WebAPICallError>;
  switch (e.code) {
    case ErrorCode.RateLimitedError: {
      const retryAfter = (err as { retryAfter: number }).retryAfter;
      return new PlatformApiError('slack', `${method}: rate limited, retry after ${retryAfter} s`, {
        status: 429,
        retryAfterMs: retryAfter * 1000,
        cause: err,
      });
    }
    case ErrorCode.HTTPError: {
      const h = err as { statusCode: number; headers: Record<string, string> };
      const retryAfter = Number(h.headers['retry-after']);
      return new PlatformApiError('slack', `${method}: HTTP ${h.statusCode}`, {
        status: h.statusCode,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
        cause: err,
      });
    }
    case ErrorCode.PlatformError: {
      const data = (err as { data: { error: string; response_metadata?: { retryAfter?: number } } }).data;
      const retryAfter = data.response_metadata?.retryAfter;
      if (data.error === 'ratelimited') {
        return new PlatformApiError('slack', `${method}: ratelimited`, {
          status: 429,
          retryAfterMs: (retryAfter ?? 1) * 1000,
          cause: err,
        });
      }
      return new PlatformApiError('slack', `${method}: ${data.error}`, {
        retryable: TRANSIENT_ERRORS.has(data.error),
        cause: err,
      });
    }
    default:
      // WebAPIRequestError: connection refused, reset, timeout — worth another try.
      return new PlatformApiError('slack', `${method}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Redirects a download may follow (Slack's file host sends none today; a CDN hop is tolerated). */
const MAX_DOWNLOAD_REDIRECTS = 3;

/**
 * Fetches a file's url_private with the bot token, stopping at maxBytes. The token goes only to
 * the allowed origins (see file-hosts.ts): a URL elsewhere is refused before any connection, and
 * a redirect elsewhere is followed without it. Without the files:read scope Slack answers 200 with
 * its sign-in page instead of the file; that is reported, not stored.
 */
export async function downloadPrivateFile(
  url: string,
  o: { token: string; maxBytes: number; name: string; timeoutMs: number; allowedOrigins: Set<string> },
): Promise<Buffer> {
  let target = assertSlackFileUrl(url, o.allowedOrigins, o.name);
  const signal = AbortSignal.timeout(o.timeoutMs);
  let res: Response;
  for (let hop = 0; ; hop++) {
    const withToken = o.allowedOrigins.has(target.origin);
    res = await fetch(target, {
      headers: withToken ? { authorization: `Bearer ${o.token}` } : {},
      redirect: 'manual',
      signal,
    });
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) break;
    await res.body?.cancel();
    if (hop >= MAX_DOWNLOAD_REDIRECTS) {
      throw new PlatformApiError('slack', `download of ${o.name}: too many redirects`, { retryable: false });
    }
    target = new URL(location, target);
    // Outside Slack's origins a hop goes without the token, and only over https.
    if (!o.allowedOrigins.has(target.origin) && target.protocol !== 'https:') {
      throw new PlatformApiError('slack', `download of ${o.name}: redirected to ${target.protocol}`, {
        retryable: false,
      });
    }
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PlatformApiError('slack', `download of ${o.name}: HTTP ${res.status}`, { status: res.status });
  }
  if ((res.headers.get('content-type') ?? '').startsWith('text/html') && !/\.html?$/i.test(o.name)) {
    await res.body.cancel();
    throw new PlatformApiError(
      'slack',
      `download of ${o.name}: Slack sent its sign-in page; does the app have the files:read scope?`,
      {
        retryable: false,
      },
    );
  }
  return readCapped(res.body, o.maxBytes, o.name);
}

const SEVERITY: Record<LogLevel, number> = {
  [LogLevel.ERROR]: 0,
  [LogLevel.WARN]: 1,
  [LogLevel.INFO]: 2,
  [LogLevel.DEBUG]: 3,
};

/**
 * @slack/logger on top of ours, so the library's lines are JSON like every other. It starts at WARN:
 * the SDK's debug lines echo whole event payloads, which are users' messages.
 */
export function slackLogger(log: Logger): SlackLogger {
  let level = LogLevel.WARN;
  const emit =
    (at: LogLevel) =>
    (...msg: unknown[]) => {
      if (SEVERITY[at] > SEVERITY[level]) return;
      const text = msg.map((m) => (typeof m === 'string' ? m : errorMessage(m))).join(' ');
      log.log(at, text, { labels: { component: 'slack-sdk' } });
    };
  return {
    debug: emit(LogLevel.DEBUG),
    info: emit(LogLevel.INFO),
    warn: emit(LogLevel.WARN),
    error: emit(LogLevel.ERROR),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
