import { ErrorCodes, errorMessage, type Logger, SwitchboardError } from '@switchboard/core';
import pRetry, { AbortError } from 'p-retry';
import { request } from 'undici';
import type { SlidingWindowLimiter } from './rate-limiter.ts';

export type RobotName = 'wecom' | 'dingtalk';

export interface RobotOptions {
  name: RobotName;
  /** Builds the URL for one attempt: DingTalk's signature is time-bound, so it is made afresh each try. */
  url: () => string;
  limiter: SlidingWindowLimiter;
  maxAttempts: number;
  retryMinMs: number;
  timeoutMs: number;
  log: Logger;
  onAttemptFailed?: (reason: string) => void;
}

/**
 * Posts one message to a group robot. Both robots answer HTTP 200 with `{errcode, errmsg}`, so
 * success is errcode 0, not the status. Every attempt counts against the robot's per-minute quota.
 */
export class RobotClient {
  constructor(private readonly o: RobotOptions) {}

  get name(): RobotName {
    return this.o.name;
  }

  async send(body: unknown): Promise<void> {
    const payload = JSON.stringify(body);
    await pRetry(() => this.attempt(payload), {
      retries: this.o.maxAttempts - 1,
      minTimeout: this.o.retryMinMs,
      factor: 2,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        this.o.onAttemptFailed?.(error instanceof SwitchboardError ? error.code : 'network');
        this.o.log.warn(`${this.o.name} robot refused a notification`, {
          error: { message: error.message },
          labels: { robot: this.o.name, attempt: attemptNumber, retries_left: retriesLeft },
        });
      },
    });
  }

  private async attempt(payload: string): Promise<void> {
    await this.o.limiter.acquire();
    let status: number;
    let text: string;
    try {
      const res = await request(this.o.url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
        headersTimeout: this.o.timeoutMs,
        bodyTimeout: this.o.timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      // NOTE: undici's messages name host and port, never the query holding the key.
      throw new SwitchboardError(ErrorCodes.PLATFORM_API_FAILED, `request failed: ${errorMessage(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (status >= 500) {
      throw new SwitchboardError(ErrorCodes.PLATFORM_API_FAILED, `HTTP ${status}`, { retryable: true });
    }
    if (status >= 400) {
      // A 4xx means the URL or the request is wrong: the same request will fail the same way.
      throw new AbortError(new SwitchboardError(ErrorCodes.PLATFORM_API_FAILED, `HTTP ${status}`));
    }
    let reply: { errcode?: unknown; errmsg?: unknown };
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      throw new SwitchboardError(
        ErrorCodes.PLATFORM_API_FAILED,
        `HTTP ${status} with a body that is not JSON`,
        {
          retryable: true,
        },
      );
    }
    if (reply.errcode !== 0) {
      const code =
        reply.errcode === 45009 || reply.errcode === 130101
          ? ErrorCodes.PLATFORM_RATE_LIMITED
          : ErrorCodes.PLATFORM_API_FAILED;
      throw new SwitchboardError(code, `errcode ${String(reply.errcode)}: ${String(reply.errmsg ?? '')}`, {
        retryable: true,
      });
    }
  }
}
