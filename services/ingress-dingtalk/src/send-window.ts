/**
 * DingTalk lets one robot send 20 messages a minute through webhooks and answers errcode 130101
 * beyond that, without saying when to come back. We remember our own recent sends to work out when
 * the oldest one leaves the minute; when someone else (another replica) filled the window we cannot
 * know, and wait the minimum.
 */
export class SendWindow {
  private readonly sent: number[] = [];

  constructor(
    private readonly limit = 20,
    private readonly windowMs = 60_000,
    private readonly minWaitMs = 1_000,
  ) {}

  record(now = Date.now()): void {
    this.sent.push(now);
    this.prune(now);
  }

  /** How long to wait before the next send can fit into the window. */
  retryAfterMs(now = Date.now()): number {
    this.prune(now);
    if (this.sent.length < this.limit) return this.minWaitMs;
    const oldestCounted = this.sent[this.sent.length - this.limit]!;
    return Math.max(this.minWaitMs, oldestCounted + this.windowMs - now);
  }

  private prune(now: number): void {
    while (this.sent.length > 0 && this.sent[0]! <= now - this.windowMs) this.sent.shift();
  }
}
