import { errorMessage, type Logger } from '@switchboard/core';
import pg from 'pg';

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

/**
 * LISTENs on the routing and workflow channels over one dedicated connection, so cached grants are
 * dropped the moment a rule, profile or workflow changes. `connected` is false whenever a change
 * could go unheard (before the first LISTEN, after a lost connection): the owner must not serve
 * from its cache then. Reconnects with backoff.
 */
export class ChangeListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = MIN_BACKOFF_MS;
  private stopped = false;
  private opening: Promise<void> | undefined;

  constructor(
    private readonly o: {
      databaseUrl: string;
      channels: string[];
      log: Logger;
      applicationName?: string;
      /** Runs on every notification and after every (re)connect. */
      onChange: () => void;
    },
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Resolves after the first attempt; a failed one is retried in the background. */
  start(): Promise<void> {
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.o.databaseUrl,
      application_name: this.o.applicationName,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    });
    client.on('notification', (n) => {
      if (this.o.channels.includes(n.channel)) this.o.onChange();
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      for (const ch of this.o.channels) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      this.o.log.warn('cannot listen for grant changes; reading grants uncached until it can', {
        error: { message: errorMessage(err) },
      });
      this.retryLater();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.backoffMs = MIN_BACKOFF_MS;
    // Whatever changed while nobody listened is unknown: start from nothing.
    this.o.onChange();
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.o.onChange();
    client.removeAllListeners('end');
    void client.end().catch(() => {});
    if (this.stopped) return;
    this.o.log.warn('grant change listener lost its connection; reconnecting', {
      error: { message: errorMessage(err) },
    });
    this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped || this.timer) return;
    const delay = this.backoffMs * (0.5 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.start();
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.opening;
    const c = this.client;
    this.client = undefined;
    c?.removeAllListeners('end');
    await c?.end().catch(() => {});
  }
}
