import { createHash } from 'node:crypto';
import { errorMessage, type Logger } from '@switchboard/core';
import { Redis } from 'ioredis';

/**
 * The worker's Redis connection. A command fails after one reconnect attempt instead of queueing
 * for long: the limits and the cache treat Redis trouble as "no limit / no cache" and go on.
 */
export function createRedis(url: string, log: Logger, name = 'agent-worker'): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });
  let down = false;
  redis.on('error', (err) => {
    // Logged once per outage, not once per reconnect attempt.
    if (down) return;
    down = true;
    log.warn('redis unavailable; model limits and the response cache are bypassed', {
      error: { message: errorMessage(err) },
    });
  });
  redis.on('ready', () => {
    if (down) log.info('redis reachable again');
    down = false;
  });
  return redis;
}

/** A Lua script run by its digest, loaded on first use and again after a Redis restart. */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
