import { errorMessage, type Logger } from '@switchboard/core';
import type { Api } from 'grammy';
import type { Update } from 'grammy/types';

/**
 * Long polling that advances the offset only past updates we have taken. grammY's bot.start()
 * moves on after a failed handler, which would lose the message while the broker is down; here the
 * same update is offered again, with backoff, until it is published.
 */
export class Poller {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private offset = 0;
  private failures = 0;

  constructor(
    /** Read at every poll, so a rotated token is used from the next getUpdates on. */
    private readonly api: () => Api,
    private readonly handle: (u: Update) => Promise<void>,
    private readonly log: Logger,
    private readonly timeoutS: number,
  ) {}

  /** False while getUpdates keeps failing, so /readyz tells the operator. */
  get healthy(): boolean {
    return this.failures < 3;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let updates: Update[];
      try {
        updates = await this.api().getUpdates(
          { offset: this.offset, timeout: this.timeoutS, allowed_updates: ['message'] },
          // grammY types the signal with the abort-controller polyfill's class; Node's is compatible.
          signal as never,
        );
      } catch (err) {
        if (signal.aborted) return;
        await this.backoff('getUpdates failed', err);
        continue;
      }
      for (const update of updates) {
        while (!signal.aborted) {
          try {
            await this.handle(update);
            this.failures = 0;
            break;
          } catch (err) {
            await this.backoff('update not taken; offering it again', err);
          }
        }
        if (signal.aborted) return;
        this.offset = update.update_id + 1;
      }
    }
  }

  private async backoff(what: string, err: unknown): Promise<void> {
    this.failures++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
    this.log.warn(`telegram polling: ${what}`, {
      error: { message: errorMessage(err) },
      labels: { retry_in_ms: String(delay) },
    });
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delay);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
