/**
 * At most `limit` acquisitions in any sliding window of `windowMs`; callers beyond that wait their
 * turn in order. The robots count a minute per webhook and answer "too fast" past 20 messages, after
 * which they refuse everything for a while: waiting here is cheaper than being refused there.
 */
export class SlidingWindowLimiter {
  private readonly sent: number[] = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((r) => setTimeout(r, ms).unref()),
  ) {}

  /** Resolves when one more message may be sent, and counts it as sent. */
  acquire(): Promise<void> {
    const turn = this.tail.then(() => this.take());
    this.tail = turn.catch(() => {});
    return turn;
  }

  /** Messages the window holds now; for tests and metrics. */
  inWindow(): number {
    this.prune();
    return this.sent.length;
  }

  private async take(): Promise<void> {
    for (;;) {
      this.prune();
      if (this.sent.length < this.limit) {
        this.sent.push(this.now());
        return;
      }
      await this.sleep(this.sent[0]! + this.windowMs - this.now());
    }
  }

  private prune(): void {
    const cutoff = this.now() - this.windowMs;
    while (this.sent.length > 0 && this.sent[0]! <= cutoff) this.sent.shift();
  }
}
