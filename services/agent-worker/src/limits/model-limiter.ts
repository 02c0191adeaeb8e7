import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, type Logger } from '@switchboard/core';
import type { Redis } from 'ioredis';
import type { ModelLimitRule } from './config.ts';
import { LimitError, LimitErrorCode } from './errors.ts';
import { LuaScript } from './redis.ts';

/**
 * Both budgets checked and taken in one step, on Redis's clock (so workers' clocks never matter):
 * a sliding-window log of admissions (KEYS[1]) and a semaphore of leases scored by their expiry
 * (KEYS[2]). Returns {1, now} when admitted, else {0, now, waitMs} with waitMs -1 when only a
 * release (or an expiring lease) can free a slot.
 */
const ACQUIRE = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate, window, conc, lease, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local wait = 0
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then wait = -1 end
end
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= rate and wait == 0 then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    wait = math.max(1, tonumber(oldest[2]) + window - now)
  end
end
-- Strings: Redis truncates Lua numbers to integers, and tostring() keeps only 14 digits.
if wait ~= 0 then return {0, string.format('%.3f', now), string.format('%.3f', wait)} end
if rate > 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window) + 1000)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], now + lease, id)
  redis.call('PEXPIRE', KEYS[2], lease * 2)
end
return {1, string.format('%.3f', now)}
`);

/** Extends a held lease; 0 when it had expired (its slot may have gone to someone else). */
const RENEW = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
`);

/** Ends a call: frees its slot. Calling it again does nothing. */
export type Release = (() => Promise<void>) & {
  /** When the call was admitted, on Redis's clock (ms since the epoch); 0 when no limit applied. */
  readonly admittedAtMs: number;
  /** How long the call waited for its budget. */
  readonly waitedMs: number;
};

export interface AcquireOptions {
  signal?: AbortSignal;
  /** Overrides the limiter's default wait. */
  maxWaitMs?: number;
}

export interface ModelLimiterOptions {
  /** Namespaces the keys of one deployment (BROKER_PREFIX does nicely). */
  prefix: string;
  rules: ModelLimitRule[];
  maxWaitMs: number;
  leaseMs: number;
  log: Logger;
  onWait?: (budget: string, waitedMs: number) => void;
}

const MIN_POLL_MS = 10;
const MAX_POLL_MS = 100;

/**
 * Per-model limits on calls per second and calls in flight, shared by every worker through Redis,
 * so three workers never exceed one provider quota. A saturated model makes the caller wait (up to
 * a deadline), not fail. A worker that dies holding slots loses them when their leases expire;
 * live holders renew theirs. If Redis is unreachable the call goes ahead unlimited (logged): the
 * provider's own 429s and the model chain's backoff still apply, and users keep getting answers.
 */
export class ModelLimiter {
  private readonly exact = new Map<string, ModelLimitRule>();
  private readonly globs: Array<{ re: RegExp; rule: ModelLimitRule }> = [];

  constructor(
    private readonly redis: Redis,
    private readonly o: ModelLimiterOptions,
  ) {
    for (const rule of o.rules) {
      if (!rule.pattern.includes('*')) {
        this.exact.set(rule.pattern, rule);
        continue;
      }
      const re = new RegExp(`^${rule.pattern.split('*').map(escapeRegExp).join('.*')}$`);
      this.globs.push({ re, rule });
    }
    // The most specific pattern wins: `openai/gpt-4o*` before `openai/*` before `*`.
    this.globs.sort(
      (a, b) => b.rule.pattern.replaceAll('*', '').length - a.rule.pattern.replaceAll('*', '').length,
    );
  }

  /** The budget a model label falls under: an exact line, else the most specific matching pattern. */
  ruleFor(label: string): ModelLimitRule | undefined {
    return this.exact.get(label) ?? this.globs.find((g) => g.re.test(label))?.rule;
  }

  async acquire(label: string, opts: AcquireOptions = {}): Promise<Release> {
    const rule = this.ruleFor(label);
    if (!rule) return released(0, 0);
    const started = performance.now();
    const deadline = started + (opts.maxWaitMs ?? this.o.maxWaitMs);
    const base = `${this.o.prefix}:modellimit:${rule.pattern}`;
    const keys = [`${base}:rate`, `${base}:inflight`];
    const id = randomUUID();
    let poll = MIN_POLL_MS;
    for (;;) {
      opts.signal?.throwIfAborted();
      let reply: [number, string, string?];
      try {
        reply = (await ACQUIRE.run(this.redis, keys, [
          rule.rate ?? 0,
          rule.windowMs ?? 1_000,
          rule.concurrency ?? 0,
          this.o.leaseMs,
          id,
        ])) as [number, string, string?];
      } catch (err) {
        this.o.log.warn('model limit not applied: redis unavailable', {
          labels: { model: label },
          error: { message: errorMessage(err) },
        });
        return released(0, performance.now() - started);
      }
      if (reply[0] === 1) {
        const waited = performance.now() - started;
        if (waited >= 1) this.o.onWait?.(rule.pattern, waited);
        return rule.concurrency
          ? this.lease(keys[1]!, id, Number(reply[1]), waited)
          : released(Number(reply[1]), waited);
      }
      const hint = Number(reply[2]);
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw new LimitError(
          LimitErrorCode.waitExceeded,
          `model ${label}: its limit (${describe(rule)}) stayed saturated for ${Math.round(performance.now() - started)} ms`,
          label,
        );
      }
      // A rate wait is known exactly; a free slot is not, so poll with backoff and jitter.
      const delay = hint > 0 ? hint : poll * (0.5 + Math.random());
      poll = Math.min(poll * 2, MAX_POLL_MS);
      await sleep(Math.min(delay, remaining), undefined, { signal: opts.signal }).catch((err) => {
        // The caller's reason (a turn's timeout, a shutdown), not a generic AbortError.
        throw opts.signal?.aborted ? opts.signal.reason : err;
      });
    }
  }

  /** Holds a concurrency slot, renewing its lease until released. */
  private lease(key: string, id: string, admittedAtMs: number, waitedMs: number): Release {
    const renewal = setInterval(
      () => {
        RENEW.run(this.redis, [key], [id, this.o.leaseMs])
          .then((ok) => {
            if (ok === 0) {
              this.o.log.warn(
                'model call outlived its concurrency lease; the limit may be exceeded briefly',
                {
                  labels: { budget: key },
                },
              );
            }
          })
          .catch(() => {});
      },
      Math.max(250, this.o.leaseMs / 3),
    );
    renewal.unref();
    let done = false;
    const release = async () => {
      if (done) return;
      done = true;
      clearInterval(renewal);
      // If this fails the lease expires on its own.
      await this.redis.zrem(key, id).catch(() => {});
    };
    return Object.assign(release, { admittedAtMs, waitedMs });
  }
}

function released(admittedAtMs: number, waitedMs: number): Release {
  return Object.assign(async () => {}, { admittedAtMs, waitedMs });
}

function describe(rule: ModelLimitRule): string {
  const parts: string[] = [];
  if (rule.rate) parts.push(`${rule.rate} per ${rule.windowMs} ms`);
  if (rule.concurrency) parts.push(`${rule.concurrency} at once`);
  return parts.join(', ');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
