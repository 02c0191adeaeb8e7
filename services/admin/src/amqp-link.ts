import { declareTopology, errorMessage, type Logger, type TopologyOptions } from '@switchboard/core';
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { unavailable } from './errors.ts';

/**
 * The admin service's own broker connection. Opened on first use and again after a loss; each
 * operation takes a short-lived confirm channel, so a channel error (a queue that does not exist)
 * costs that operation only, and closing a channel hands back whatever it still held unacked.
 */
export class AmqpLink {
  private conn: ChannelModel | undefined;
  private opening: Promise<ChannelModel> | undefined;
  private closed = false;

  constructor(private readonly o: { url: string; topology: TopologyOptions; log: Logger; name: string }) {}

  get connected(): boolean {
    return this.conn !== undefined;
  }

  readonly readiness = async (): Promise<void> => {
    await this.connection();
  };

  async connection(): Promise<ChannelModel> {
    if (this.conn) return this.conn;
    if (this.closed) throw unavailable('shutting down');
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<ChannelModel> {
    let conn: ChannelModel;
    try {
      conn = await amqplib.connect(this.o.url, { clientProperties: { connection_name: this.o.name } });
    } catch (err) {
      throw unavailable(`broker unreachable: ${errorMessage(err)}`);
    }
    conn.on('error', (err) =>
      this.o.log.warn('broker connection error', { error: { message: errorMessage(err) } }),
    );
    conn.on('close', () => {
      if (this.conn === conn) this.conn = undefined;
    });
    // The parking and requeue exchanges must exist before anything is read or replayed.
    const ch = await conn.createChannel();
    await declareTopology(ch, this.o.topology);
    await ch.close();
    this.conn = conn;
    return conn;
  }

  /** Runs `fn` on a fresh confirm channel, closed afterwards whatever happens. */
  async withChannel<T>(fn: (ch: ConfirmChannel) => Promise<T>): Promise<T> {
    const conn = await this.connection();
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    await c?.close().catch(() => {});
  }
}
