import { describe, expect, it } from 'vitest';
import { SendWindow } from './send-window.ts';

describe('SendWindow', () => {
  it('waits the minimum when the window is not full (someone else used the robot)', () => {
    const w = new SendWindow(20, 60_000, 1_000);
    for (let i = 0; i < 5; i++) w.record(i * 1_000);
    expect(w.retryAfterMs(6_000)).toBe(1_000);
  });

  it('waits until the oldest counted send leaves the minute', () => {
    const w = new SendWindow(20, 60_000, 1_000);
    for (let i = 0; i < 20; i++) w.record(10_000 + i * 100);
    // The first of the 20 was at 10 000 ms: the window has room again at 70 000 ms.
    expect(w.retryAfterMs(12_000)).toBe(58_000);
    expect(w.retryAfterMs(69_500)).toBe(1_000);
  });

  it('forgets sends older than the window', () => {
    const w = new SendWindow(3, 1_000, 10);
    w.record(0);
    w.record(1);
    w.record(2);
    expect(w.retryAfterMs(500)).toBe(500);
    expect(w.retryAfterMs(5_000)).toBe(10);
  });
});
