import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { addLogSink } from './logger.ts';
import { counter, type MetricsRegistry } from './metrics.ts';

/** The topic exchange every service's log lines fan in to; routing key `<service>.<level>`. */
export function logExchangeName(prefix: string): string {
  return `${prefix}.logs`;
}

/** Declared the same way by the shipper and by every reader, or the broker refuses the second. */
export async function declareLogExchange(ch: Channel, prefix: string): Promise<string> {
  const name = logExchangeName(prefix);
  await ch.assertExchange(name, 'topic', { durable: true });
  return name;
}

export interface LogShipperOptions {
  url: string;
  prefix: string;
  service: string;
  registry?: MetricsRegistry;
  /** Lines kept while the broker is away; beyond, the oldest are dropped (and counted). */
  maxBuffered?: number;
  reconnectMs?: number;
}

/**
 * Copies every log line of this process to `<prefix>.logs` for the admin console's live view.
 * Best effort by design: stdout stays the record (Filebeat reads it), so lines are non-persistent,
 * unconfirmed, buffered in memory (bounded) while the broker is away and dropped beyond that.
 * NOTE: nothing here logs through the logger: a line about shipping would be shipped, and a
 * broker outage would feed itself.
 */
export class LogShipper {
  private conn: ChannelModel | undefined;
  private ch: Channel | undefined;
  private exchange: string;
  private readonly buffer: Array<{ key: string; line: string }> = [];
  private readonly maxBuffered: number;
  private removeSink: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private connecting = false;
  private stopped = false;
  private readonly dropped: { inc(n?: number): void };
  private readonly service: string;

  constructor(private readonly o: LogShipperOptions) {
    this.exchange = logExchangeName(o.prefix);
    this.maxBuffered = o.maxBuffered ?? 1_000;
    // Routing keys are dot-separated words: a service name with dots would shift the level.
    this.service = o.service.replaceAll('.', '_');
    this.dropped = o.registry
      ? counter(
          o.registry,
          'log_shipper_dropped_total',
          'Log lines not shipped to the live log view (broker away and buffer full)',
        )
      : { inc: () => {} };
  }

  /** Starts observing the logger at once; connects in the background and keeps reconnecting. */
  start(): this {
    this.removeSink ??= addLogSink((line, { level }) => this.ship(line, level));
    void this.connect();
    return this;
  }

  get connected(): boolean {
    return this.ch !== undefined;
  }

  private ship(line: string, level: string): void {
    const key = `${this.service}.${level}`;
    if (this.ch && this.buffer.length === 0) {
      if (this.publish(key, line)) return;
    }
    this.buffer.push({ key, line });
    if (this.buffer.length > this.maxBuffered) {
      this.buffer.shift();
      this.dropped.inc();
    }
  }

  private publish(key: string, line: string): boolean {
    const ch = this.ch;
    if (!ch) return false;
    try {
      ch.publish(this.exchange, key, Buffer.from(line), {
        persistent: false,
        contentType: 'application/json',
      });
      return true;
    } catch {
      return false;
    }
  }

  private flush(): void {
    while (this.buffer.length && this.ch) {
      const next = this.buffer[0]!;
      if (!this.publish(next.key, next.line)) return;
      this.buffer.shift();
    }
  }

  private async connect(): Promise<void> {
    if (this.connecting || this.stopped) return;
    this.connecting = true;
    try {
      const conn = await amqplib.connect(this.o.url, {
        clientProperties: { connection_name: `${this.o.service}-log-shipper` },
      });
      conn.on('error', () => {});
      conn.on('close', () => this.lost(conn));
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await declareLogExchange(ch, this.o.prefix);
      if (this.stopped) {
        await conn.close().catch(() => {});
        return;
      }
      this.conn = conn;
      this.ch = ch;
      this.flush();
    } catch {
      this.retryLater();
    } finally {
      this.connecting = false;
    }
  }

  private lost(conn: ChannelModel): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ch = undefined;
    this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, this.o.reconnectMs ?? 2_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.removeSink?.();
    if (this.timer) clearTimeout(this.timer);
    const conn = this.conn;
    this.conn = undefined;
    this.ch = undefined;
    await conn?.close().catch(() => {});
  }
}

/** The one call a service adds after creating its logger: `startLogShipper(cfg, 'agent-worker', registry)`. */
export function startLogShipper(
  cfg: { AMQP_URL: string; BROKER_PREFIX: string },
  service: string,
  registry?: MetricsRegistry,
): LogShipper {
  return new LogShipper({ url: cfg.AMQP_URL, prefix: cfg.BROKER_PREFIX, service, registry }).start();
}
