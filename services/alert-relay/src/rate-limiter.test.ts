import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from './rate-limiter.ts';

/** A clock the test moves; `sleep` advances it instead of waiting, and records each wait. */
function fakeClock() {
  const c = { now: 0, waits: [] as number[] };
  return {
    c,
    now: () => c.now,
    sleep: async (ms: number) => {
      c.waits.push(ms);
      c.now += ms;
    },
  };
}

describe('SlidingWindowLimiter', () => {
  it('lets `limit` through at once, then holds the next until the oldest leaves the window', async () => {
    const clock = fakeClock();
    const limiter = new SlidingWindowLimiter(20, 60_000, clock.now, clock.sleep);
    for (let i = 0; i < 20; i++) {
      clock.c.now = i * 100;
      await limiter.acquire();
    }
    expect(clock.c.waits).toEqual([]);
    await limiter.acquire();
    // The first went at t=0; the 21st may go once t=0 is a full minute old.
    expect(clock.c.waits).toEqual([60_000 - 1_900]);
    expect(clock.c.now).toBe(60_000);
    expect(limiter.inWindow()).toBe(20);
  });

  it('never lets more than `limit` into any window, however many wait at once', async () => {
    const clock = fakeClock();
    const limiter = new SlidingWindowLimiter(3, 1_000, clock.now, clock.sleep);
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, () => limiter.acquire().then(() => times.push(clock.c.now))),
    );
    expect(times).toHaveLength(10);
    for (const t of times) expect(times.filter((u) => u > t - 1_000 && u <= t).length).toBeLessThanOrEqual(3);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });
});
