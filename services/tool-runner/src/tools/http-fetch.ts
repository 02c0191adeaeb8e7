import { errorMessage } from '@switchboard/core';
import { findRefusal } from '@switchboard/egress';
import { type HttpFetchArgs, httpFetchArgs } from '@switchboard/tools';
import { type Dispatcher, request } from 'undici';
import { budgetMs, refused, type Tool, ToolError, type ToolRunContext, truncationMarker } from '../tool.ts';

export interface HttpFetchOptions {
  timeoutMs: number;
  /** Response body bytes read; the rest is not downloaded. */
  maxBytes: number;
  maxRedirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers shown to the model besides the body; the rest is noise or tracking. */
const SHOWN_HEADERS = [
  'content-type',
  'content-length',
  'location',
  'last-modified',
  'etag',
  'cache-control',
  'date',
  'server',
  'retry-after',
  'www-authenticate',
];
/** Set by us or by the HTTP layer; a model setting them could smuggle requests or confuse a proxy. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'keep-alive',
  'expect',
  'accept-encoding',
  'proxy-authorization',
  'proxy-connection',
]);
/**
 * What may follow a redirect to another origin: the headers that describe the client and what it
 * accepts, nothing that could identify or authorise it. An allowlist, because credential headers
 * have no fixed names (`x-api-key`, `private-token`, `x-auth-token`, …).
 */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'accept-language', 'accept-encoding', 'user-agent']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TEXTUAL =
  /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|yaml|x-yaml|toml|csv)\b|image\/svg\+xml)/i;

/** Parses a URL the tools may open: http(s) only, no credentials in it. */
export function parseToolUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ToolError('TOOL_BAD_ARGUMENTS', `"${raw.slice(0, 200)}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw refused(`only http:// and https:// URLs can be opened, not ${url.protocol}`);
  }
  if (url.username || url.password) throw refused('URLs with a user name or password are not allowed');
  return url;
}

function requestHeaders(extra: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {
    'user-agent': 'Switchboard-http_fetch/1',
    accept: '*/*',
    // Bodies are shown as text; undici.request does not decompress.
    'accept-encoding': 'identity',
  };
  for (const [rawName, value] of Object.entries(extra ?? {})) {
    const name = rawName.toLowerCase();
    if (!TOKEN.test(name) || FORBIDDEN_HEADERS.has(name) || name.startsWith('proxy-')) {
      throw new ToolError('TOOL_BAD_ARGUMENTS', `the header "${rawName.slice(0, 64)}" cannot be set`);
    }
    if (/[\r\n\0]/.test(value)) {
      throw new ToolError('TOOL_BAD_ARGUMENTS', `the header "${name}" has a line break or NUL in its value`);
    }
    out[name] = value;
  }
  return out;
}

function charsetOf(contentType: string): string {
  const m = /charset="?([\w-]+)"?/i.exec(contentType);
  return m?.[1]?.toLowerCase() ?? 'utf-8';
}

function decode(body: Buffer, contentType: string): string {
  try {
    return new TextDecoder(charsetOf(contentType)).decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body);
  }
}

/**
 * http_fetch: one GET or POST with size and time caps. Connections go through the guarded agent,
 * which judges every address after DNS resolution; redirects are followed here, one hop at a time
 * (at most maxRedirects), so each hop is judged again when it connects.
 */
export class HttpFetchTool implements Tool<typeof httpFetchArgs> {
  readonly name = 'http_fetch' as const;
  readonly args = httpFetchArgs;

  constructor(
    private readonly agent: Dispatcher,
    private readonly o: HttpFetchOptions,
  ) {}

  async run(args: HttpFetchArgs, ctx: ToolRunContext) {
    let url = parseToolUrl(args.url);
    let method: 'GET' | 'POST' = args.method;
    let body = method === 'POST' ? (args.body ?? '') : undefined;
    const headers = requestHeaders(args.headers);
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'text/plain; charset=utf-8';
    const limitMs = budgetMs(ctx, this.o.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(limitMs)]);
    const hops: string[] = [];

    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          dispatcher: this.agent,
          method,
          headers,
          body,
          signal,
          headersTimeout: limitMs,
          bodyTimeout: limitMs,
        });
      } catch (err) {
        throw this.failure(err, url, hop > 0, signal, limitMs);
      }
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode) && typeof location === 'string') {
        await res.body.dump().catch(() => {});
        if (hop >= this.o.maxRedirects) {
          throw new ToolError(
            'TOOL_FAILED',
            `stopped after ${this.o.maxRedirects} redirects (last: ${url.href})`,
          );
        }
        let next: URL;
        try {
          next = parseToolUrl(new URL(location, url).href);
        } catch (err) {
          throw new ToolError('TOOL_REFUSED', `redirect from ${url.href} refused: ${errorMessage(err)}`);
        }
        if (res.statusCode === 303 || (res.statusCode <= 302 && method === 'POST')) {
          method = 'GET';
          body = undefined;
          delete headers['content-type'];
        }
        // Headers set for one origin are not handed to another (and stay dropped if a later hop
        // comes back); the body's content-type goes along only with the body (307/308).
        if (next.origin !== url.origin) {
          for (const name of Object.keys(headers)) {
            const keep = CROSS_ORIGIN_HEADERS.has(name) || (name === 'content-type' && body !== undefined);
            if (!keep) delete headers[name];
          }
        }
        hops.push(next.href);
        url = next;
        continue;
      }
      return this.readResponse(res, url, hops, signal, limitMs);
    }
  }

  private async readResponse(
    res: Dispatcher.ResponseData,
    url: URL,
    hops: string[],
    signal: AbortSignal,
    limitMs: number,
  ) {
    const chunks: Buffer[] = [];
    let size = 0;
    let truncated = false;
    try {
      for await (const chunk of res.body) {
        const c = chunk as Buffer;
        if (size + c.length > this.o.maxBytes) {
          chunks.push(c.subarray(0, this.o.maxBytes - size));
          size = this.o.maxBytes;
          truncated = true;
          res.body.destroy();
          break;
        }
        chunks.push(c);
        size += c.length;
      }
    } catch (err) {
      throw this.failure(err, url, false, signal, limitMs);
    }
    const contentType = String(res.headers['content-type'] ?? '');
    const lines = [`HTTP ${res.statusCode}`];
    if (hops.length > 0) lines.push(`final url: ${url.href} (after ${hops.length} redirect(s))`);
    for (const name of SHOWN_HEADERS) {
      const v = res.headers[name];
      if (v !== undefined) lines.push(`${name}: ${Array.isArray(v) ? v.join(', ') : v}`);
    }
    const data = Buffer.concat(chunks);
    let text: string;
    if (data.length === 0) text = '(empty body)';
    else if (!contentType || TEXTUAL.test(contentType)) text = decode(data, contentType);
    else text = `(${contentType} body of ${truncated ? `more than ${size}` : size} bytes, not shown)`;
    return {
      output: `${lines.join('\n')}\n\n${text}${truncated ? truncationMarker(this.o.maxBytes) : ''}`,
      truncated,
    };
  }

  private failure(
    err: unknown,
    url: URL,
    redirected: boolean,
    signal: AbortSignal,
    limitMs: number,
  ): ToolError {
    if (err instanceof ToolError) return err;
    const refusal = findRefusal(err);
    if (refusal) {
      const code = refusal.addressClass === 'unresolvable' ? 'TOOL_FAILED' : 'TOOL_REFUSED';
      return new ToolError(
        code,
        redirected ? `redirect to ${url.href} refused: ${refusal.message}` : refusal.message,
      );
    }
    if (signal.aborted)
      return new ToolError('TOOL_TIMEOUT', `${url.href} did not answer within ${limitMs} ms`);
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
    return new ToolError('TOOL_FAILED', `${url.href}: ${errorMessage(err)}${cause ? ` (${cause})` : ''}`);
  }
}
