import { PlatformApiError } from '@switchboard/connector';
import { errorMessage } from '@switchboard/core';
import { DiscordAPIError, HTTPError, type RateLimitData, RateLimitError } from 'discord.js';

/**
 * discord.js' REST errors as the runtime's: a 429 with Discord's retry-after, 5xx, Discord's own
 * JSON errors (4xx, not worth retrying) and network failures (worth retrying).
 */
export function apiError(err: unknown, what: string): PlatformApiError {
  if (err instanceof RateLimitError) {
    const scope = err.global ? 'global' : err.scope;
    return new PlatformApiError('discord', `${what}: rate limited (${scope} limit on ${err.route})`, {
      status: 429,
      retryAfterMs: err.retryAfter > 0 ? err.retryAfter : undefined,
      cause: err,
    });
  }
  if (err instanceof DiscordAPIError) {
    return new PlatformApiError('discord', `${what}: ${err.status} ${err.message} (code ${err.code})`, {
      status: err.status,
      cause: err,
    });
  }
  if (err instanceof HTTPError) {
    return new PlatformApiError('discord', `${what}: ${err.status} ${err.message}`, {
      status: err.status,
      cause: err,
    });
  }
  return new PlatformApiError('discord', `${what}: ${errorMessage(err)}`, { cause: err });
}

/**
 * Which requests Discord actually answered with 429. discord.js calls its `rejectOnRateLimit` hook
 * both for those and for its own pre-emptive waits on a bucket it knows is empty; only the first kind
 * is handed to the runtime (which counts attempts and parks), the short pre-emptive waits stay with
 * discord.js so they never use up an attempt.
 */
export class Answered429s {
  private readonly pending: Array<{ method: string; path: string }> = [];

  /** From the REST `response` event, which fires before the hook for the same request. */
  record(method: string, path: string, status: number): void {
    if (status !== 429) return;
    this.pending.push({ method: method.toUpperCase(), path });
    if (this.pending.length > 100) this.pending.shift();
  }

  /** The `rejectOnRateLimit` hook: true (throw a RateLimitError) only for an answered 429. */
  readonly take = (data: RateLimitData): boolean => {
    const pathname = new URL(data.url).pathname;
    const i = this.pending.findIndex(
      (p) => p.method === data.method.toUpperCase() && pathname.endsWith(p.path),
    );
    if (i < 0) return false;
    this.pending.splice(i, 1);
    return true;
  };
}
