import pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../logger.ts';

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

/**
 * LISTENs on some channels over a dedicated connection (a pooled one would lose the LISTEN when
 * returned). A lost connection is reopened with backoff and LISTEN issued again; since
 * notifications sent meanwhile are lost, `onConnected` runs after every (re)connect so the owner
 * can re-read what it watches, and `onLost` when the connection goes (a cache must stop trusting
 * itself then). `connected` says whether a change would be heard now.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = MIN_BACKOFF_MS;
  private stopped = false;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly o: {
      databaseUrl: string;
      channels: string[];
      /** What is watched, for log lines ("routing changes"). */
      what: string;
      log: Logger;
      applicationName?: string;
      onNotify: (channel: string, payload: string | undefined) => void;
      onConnected: () => void;
      onLost?: () => void;
    },
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Resolves after the first attempt; when that failed, retries go on in the background. */
  async start(): Promise<void> {
    await this.connect();
  }

  private connect(): Promise<void> {
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.o.databaseUrl,
      application_name: this.o.applicationName,
      connectionTimeoutMillis: 5_000,
      // Idle for hours between changes: keepalives let the OS notice a dead peer.
      keepAlive: true,
    });
    client.on('notification', (n) => {
      if (this.o.channels.includes(n.channel)) this.o.onNotify(n.channel, n.payload);
    });
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      for (const ch of this.o.channels) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      this.o.log.warn(`cannot listen for ${this.o.what}; retrying`, {
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
    this.o.onConnected();
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.o.onLost?.();
    client.removeAllListeners('end');
    void client.end().catch(() => {});
    if (this.stopped) return;
    this.o.log.warn(`the listener for ${this.o.what} lost its connection; reconnecting`, {
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
      void this.connect();
    }, delay);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.connecting;
    const c = this.client;
    this.client = undefined;
    c?.removeAllListeners('end');
    await c?.end().catch(() => {});
  }
}
