import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel } from 'amqplib';
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
  /** Lines kept while the broker is away; beyond, new lines are dropped (and counted). */
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
  private readonly exchange: string;
  private readonly maxBuffered: number;
  private readonly dropped: { inc(n?: number): void };
  private readonly service: string;
  private manager: AmqpConnectionManager | undefined;
  private channel: ChannelWrapper | undefined;
  private removeSink: (() => void) | undefined;

  constructor(private readonly o: LogShipperOptions) {
    this.exchange = logExchangeName(o.prefix);
    this.maxBuffered = o.maxBuffered ?? 1_000;
    this.service = o.service.replaceAll('.', '_');
    this.dropped = o.registry
      ? counter(
          o.registry,
          'log_shipper_dropped_total',
          'Log lines not shipped to the live log view (broker away and buffer full)',
        )
      : { inc: () => {} };
  }

  /**
   * Starts observing the logger at once. amqp-connection-manager (as the Broker) connects in the
   * background, reconnects, and holds publishes while the broker is away; we only bound that.
   */
  start(): this {
    if (this.manager) return this;
    this.manager = amqp.connect([this.o.url], {
      reconnectTimeInSeconds: (this.o.reconnectMs ?? 2_000) / 1000,
      connectionOptions: { clientProperties: { connection_name: `${this.o.service}-log-shipper` } },
    });
    this.manager.on('connectFailed', () => {});
    this.manager.on('disconnect', () => {});
    this.channel = this.manager.createChannel({
      confirm: false,
      setup: (ch: Channel) => declareLogExchange(ch, this.o.prefix),
    });
    this.channel.on('error', () => {});
    this.removeSink = addLogSink((line, { level }) => this.ship(line, level));
    return this;
  }

  get connected(): boolean {
    return this.manager?.isConnected() ?? false;
  }

  private ship(line: string, level: string): void {
    const channel = this.channel;
    if (!channel) return;
    // Lines waiting for a connection sit in the wrapper's queue; past the bound, new ones are dropped.
    if (!this.connected && channel.queueLength() >= this.maxBuffered) {
      this.dropped.inc();
      return;
    }
    channel
      .publish(this.exchange, `${this.service}.${level}`, Buffer.from(line), {
        persistent: false,
        contentType: 'application/json',
      })
      .catch(() => this.dropped.inc());
  }

  async close(): Promise<void> {
    this.removeSink?.();
    this.removeSink = undefined;
    await this.channel?.close().catch(() => {});
    await this.manager?.close().catch(() => {});
    this.channel = undefined;
    this.manager = undefined;
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
