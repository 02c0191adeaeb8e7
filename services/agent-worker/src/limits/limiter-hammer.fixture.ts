/**
 * A worker stand-in for the shared-limit tests: its own process and Redis connection, running
 * CALLERS concurrent loops of CALLS acquisitions each, holding every slot HOLD_MS. Prints `ready`,
 * starts on a `go` line on stdin, prints one JSON line per call, then `done`. With HOLD_FOREVER it
 * takes CALLERS slots, prints `held` and waits to be killed (a crashed worker).
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@switchboard/core';
import { parseModelLimits } from './config.ts';
import { ModelLimiter } from './model-limiter.ts';
import { createRedis } from './redis.ts';

const env = process.env;
const log = createLogger('limiter-hammer', 'error');
const redis = createRedis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', log, 'limiter-hammer');
await redis.connect();
const limiter = new ModelLimiter(redis, {
  prefix: env.PREFIX!,
  rules: parseModelLimits(env.LIMITS!),
  maxWaitMs: 60_000,
  leaseMs: Number(env.LEASE_MS ?? 15_000),
  log,
});
const model = env.MODEL!;
const callers = Number(env.CALLERS ?? 1);
const calls = Number(env.CALLS ?? 1);
const holdMs = Number(env.HOLD_MS ?? 0);
const now = () => performance.timeOrigin + performance.now();

if (env.HOLD_FOREVER) {
  for (let i = 0; i < callers; i++) await limiter.acquire(model);
  console.log('held');
  await new Promise(() => {});
}

console.log('ready');
const lines = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
await Promise.all(
  Array.from({ length: callers }, async () => {
    for (let i = 0; i < calls; i++) {
      const release = await limiter.acquire(model);
      // Recorded inside the held slot: the interval lies within the time the slot was taken.
      const start = now();
      if (holdMs > 0) await sleep(holdMs);
      const end = now();
      await release();
      console.log(JSON.stringify({ admittedAt: release.admittedAtMs, start, end, waited: release.waitedMs }));
    }
  }),
);
console.log('done');
lines.close();
redis.disconnect();
