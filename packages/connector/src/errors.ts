import { ErrorCodes, SwitchboardError } from '@switchboard/core';

/**
 * A platform API call that failed. The runtime decides from it whether to wait and try again
 * (429 with its retry-after, 5xx, network errors) or to park the reply at once (other 4xx:
 * a bot removed from the chat will not be let back in by retrying).
 */
export class PlatformApiError extends SwitchboardError {
  readonly platform: string;
  /** HTTP status, or the platform's own error code where it reports errors in a 200 body. */
  readonly status: number | undefined;
  /** How long the platform asked us to wait (Telegram retry_after, Retry-After, Discord retry_after). */
  readonly retryAfterMs: number | undefined;

  constructor(
    platform: string,
    message: string,
    o: { status?: number; retryAfterMs?: number; retryable?: boolean; cause?: unknown } = {},
  ) {
    const rateLimited = o.status === 429 || o.retryAfterMs !== undefined;
    const retryable = o.retryable ?? (o.status === undefined || rateLimited || o.status >= 500);
    super(
      rateLimited ? ErrorCodes.PLATFORM_RATE_LIMITED : ErrorCodes.PLATFORM_API_FAILED,
      `${platform}: ${message}`,
      { retryable, statusCode: 502, cause: o.cause },
    );
    this.name = 'PlatformApiError';
    this.platform = platform;
    this.status = o.status;
    this.retryAfterMs = o.retryAfterMs;
  }
}

/** A webhook whose signature, secret token or timestamp does not check out: answered 401, nothing published. */
export class SignatureError extends SwitchboardError {
  constructor(message: string) {
    super(ErrorCodes.SIGNATURE_INVALID, message, { statusCode: 401 });
    this.name = 'SignatureError';
  }
}
