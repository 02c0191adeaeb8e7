import { request } from 'undici';
import type { Parsed } from './args.ts';
import { CliError, ExitCode, exitCodeForStatus, networkErrorCode } from './errors.ts';
import { adminToken, adminUrl, backupToken, backupUrl, requestTimeoutMs } from './settings.ts';

/** The `{"error": {"code", "message"}}` body every Switchboard service answers errors with. */
function apiError(json: unknown): { code?: string; message?: string } {
  const e = (json as { error?: unknown } | null)?.error;
  if (e && typeof e === 'object') {
    const { code, message } = e as { code?: unknown; message?: unknown };
    return {
      code: typeof code === 'string' ? code : undefined,
      message: typeof message === 'string' ? message : undefined,
    };
  }
  return {};
}

/**
 * A JSON client of one Switchboard HTTP API with a bearer token. Every failure becomes a CliError
 * whose exit status says what kind it was (see errors.ts).
 */
export class ApiClient {
  constructor(
    private readonly o: {
      baseUrl: string;
      token: string;
      /** Named in error messages: "admin API", "backup service". */
      what: string;
      timeoutMs: number;
    },
  ) {}

  get baseUrl(): string {
    return this.o.baseUrl;
  }

  async get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const url = `${this.o.baseUrl}${path}`;
    let status: number;
    let text: string;
    try {
      const res = await request(url, {
        method,
        headers: {
          authorization: `Bearer ${this.o.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.o.timeoutMs,
        bodyTimeout: this.o.timeoutMs,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      const code = networkErrorCode(err);
      throw new CliError(
        code ? ExitCode.unreachable : ExitCode.failed,
        `cannot reach the ${this.o.what} at ${this.o.baseUrl}: ${code ?? (err as Error).message}`,
        { cause: err },
      );
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) {
      if (json === undefined)
        throw new CliError(ExitCode.failed, `the ${this.o.what} answered ${method} ${path} without JSON`);
      return json as T;
    }
    const e = apiError(json);
    const exit = exitCodeForStatus(status);
    let message = e.message ?? `the ${this.o.what} answered HTTP ${status} to ${method} ${path}`;
    if (status === 401) message = `not authorised by the ${this.o.what}: ${message}`;
    throw new CliError(exit, message, { code: e.code });
  }
}

export function adminClient(p: Parsed, env = process.env): ApiClient {
  return new ApiClient({
    baseUrl: adminUrl(p, env),
    token: adminToken(p, env),
    what: 'admin API',
    timeoutMs: requestTimeoutMs(env),
  });
}

export function backupClient(env = process.env): ApiClient {
  return new ApiClient({
    baseUrl: backupUrl(env),
    token: backupToken(env),
    what: 'backup service',
    timeoutMs: Math.max(requestTimeoutMs(env), 3_600_000),
  });
}

/** A path segment from user input, so an id can never reach another route. */
export const seg = (s: string) => encodeURIComponent(s);
