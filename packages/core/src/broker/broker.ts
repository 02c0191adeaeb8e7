import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { CommonConfig } from '../config.ts';
import type { InboundEnvelope, OutboundEnvelope } from '../envelope.ts';
import { ErrorCodes, errorMessage, isSwitchboardError, SwitchboardError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { partitionOf } from './partition.ts';
import { checkExchanges, declareTopology, Headers, type TopologyOptions, topologyNames } from './topology.ts';

export interface BrokerOptions extends TopologyOptions {
  url: string;
  prefetch: number;
  /** Shown in the management UI's connection list. */
  connectionName?: string;
  /** How long a publish may wait for a (re)connection and the broker's confirm. */
  publishTimeoutMs?: number;
  /** Upper bound of the reconnect backoff. */
  maxReconnectDelayMs?: number;
  /** False: check the shared exchanges exist instead of declaring the topology (BROKER_DECLARE_TOPOLOGY). */
  declareTopology?: boolean;
}

/** Broker options from the shared settings, so every service configures the broker the same way. */
export function brokerOptions(
  cfg: Pick<
    CommonConfig,
    | 'AMQP_URL'
    | 'BROKER_PREFIX'
    | 'BROKER_QUEUE_TYPE'
    | 'BROKER_PARTITIONS'
    | 'BROKER_PREFETCH'
    | 'RETRY_DELAYS_MS'
    | 'MAX_ATTEMPTS'
  > &
    Partial<Pick<CommonConfig, 'BROKER_DECLARE_TOPOLOGY'>>,
  extra: Partial<BrokerOptions> = {},
): BrokerOptions {
  return {
    url: cfg.AMQP_URL,
    prefix: cfg.BROKER_PREFIX,
    queueType: cfg.BROKER_QUEUE_TYPE,
    partitions: cfg.BROKER_PARTITIONS,
    prefetch: cfg.BROKER_PREFETCH,
    retryDelaysMs: cfg.RETRY_DELAYS_MS,
    maxAttempts: cfg.MAX_ATTEMPTS,
    declareTopology: cfg.BROKER_DECLARE_TOPOLOGY ?? true,
    ...extra,
  };
}

export interface PublishOptions {
  messageId: string;
  traceId: string;
  headers?: Record<string, unknown>;
  timeoutMs?: number;
  /** Request/reply (the tool RPC): where the answer goes and which request it answers. */
  replyTo?: string;
  correlationId?: string;
  /** Per-message TTL in milliseconds: a request nobody took before its deadline is not run late. */
  expiration?: number;
}

/** One delivery handed to a consumer. Settle it exactly once with ack, retryOrPark or park. */
export interface Delivery {
  readonly queue: string;
  readonly body: Buffer;
  readonly messageId: string | undefined;
  readonly headers: Record<string, unknown>;
  readonly redelivered: boolean;
  /** 1 for the first delivery through our retry path; the broker's redeliveries do not count here. */
  readonly attempt: number;
  /** AMQP properties a request/reply exchange needs. */
  readonly properties: { replyTo?: string; correlationId?: string };
  json(): unknown;
  ack(): void;
  /** Schedules a delayed retry, or parks the message once MAX_ATTEMPTS is reached. */
  retryOrPark(err: unknown): Promise<'retried' | 'parked'>;
  park(err: unknown): Promise<void>;
}

export type DeliveryHandler = (d: Delivery) => Promise<void> | void;

export interface ConsumerHandle {
  cancel(): Promise<void>;
}

/**
 * RabbitMQ access for every service: one connection, a confirm channel for publishing, a channel for
 * consuming. amqp-connection-manager reconnects and re-runs topology and consumer setup; we add
 * exponential backoff and guard acks so a delivery from a dead channel is never acked on its successor
 * (delivery tags restart per channel, so that would ack some other message).
 */
export class Broker {
  readonly names: ReturnType<typeof topologyNames>;
  private conn!: AmqpConnectionManager;
  private pub!: ChannelWrapper;
  private sub!: ChannelWrapper;
  private subChannel: Channel | undefined;
  private reconnectDelay = 100;
  private closing = false;
  private readonly onConnectHooks: Array<() => void> = [];

  constructor(
    private readonly opts: BrokerOptions,
    private readonly log: Logger,
  ) {
    this.names = topologyNames(opts.prefix, opts.partitions);
  }

  async start(): Promise<void> {
    const maxDelay = this.opts.maxReconnectDelayMs ?? 10_000;
    this.conn = amqp.connect([this.opts.url], {
      heartbeatIntervalInSeconds: 10,
      reconnectTimeInSeconds: 0.05,
      // findServers runs before every (re)connect attempt: the place to wait with backoff.
      findServers: async () => {
        if (this.reconnectDelay > 100) await new Promise((r) => setTimeout(r, this.reconnectDelay));
        this.reconnectDelay = Math.min(this.reconnectDelay * 2, maxDelay);
        return [this.opts.url];
      },
      // Without TCP_NODELAY small frames (a publish, its confirm) wait on Nagle's algorithm.
      connectionOptions: {
        noDelay: true,
        clientProperties: { connection_name: this.opts.connectionName ?? 'switchboard' },
      },
    });
    this.conn.on('connect', () => {
      this.reconnectDelay = 100;
      this.log.info('broker connected');
      for (const h of this.onConnectHooks) h();
    });
    this.conn.on('disconnect', ({ err }) => {
      if (!this.closing)
        this.log.warn('broker disconnected; reconnecting', { error: { message: errorMessage(err) } });
    });
    this.conn.on('connectFailed', ({ err }) => {
      if (!this.closing)
        this.log.warn('broker connect failed; retrying', { error: { message: errorMessage(err) } });
    });

    const topo: TopologyOptions = this.opts;
    const setupTopology = (ch: Channel) =>
      this.opts.declareTopology === false ? checkExchanges(ch, topo.prefix) : declareTopology(ch, topo);
    this.pub = this.conn.createChannel({
      confirm: true,
      publishTimeout: this.opts.publishTimeoutMs ?? 15_000,
      setup: setupTopology,
    });
    this.sub = this.conn.createChannel({
      confirm: false,
      // Declared here too so consumers re-registered after a reconnect never race the publisher's setup.
      setup: async (ch: Channel) => {
        await setupTopology(ch);
        this.subChannel = ch;
      },
    });
    await Promise.all([this.pub.waitForConnect(), this.sub.waitForConnect()]);
  }

  isConnected(): boolean {
    return this.conn?.isConnected() ?? false;
  }

  /** A readiness check for createServiceHttp: throws while the connection is down. */
  readonly readiness = (): void => {
    if (!this.isConnected()) throw new Error('not connected');
  };

  /** Runs after every successful (re)connect; consumers use it to resubscribe bookkeeping. */
  onConnect(hook: () => void): void {
    this.onConnectHooks.push(hook);
  }

  /** Publishes a JSON body, persistent, and resolves only once the broker confirmed it. */
  async publish(exchange: string, routingKey: string, body: unknown, o: PublishOptions): Promise<void> {
    const content = Buffer.from(JSON.stringify(body));
    await this.publishRaw(exchange, routingKey, content, o);
  }

  async publishRaw(exchange: string, routingKey: string, content: Buffer, o: PublishOptions): Promise<void> {
    try {
      await this.pub.publish(exchange, routingKey, content, {
        persistent: true,
        contentType: 'application/json',
        messageId: o.messageId,
        timestamp: Math.floor(Date.now() / 1000),
        headers: { [Headers.traceId]: o.traceId, ...o.headers },
        timeout: o.timeoutMs,
        replyTo: o.replyTo,
        correlationId: o.correlationId,
        expiration: o.expiration,
      });
    } catch (err) {
      throw new SwitchboardError(
        ErrorCodes.PUBLISH_FAILED,
        `publish to ${exchange} failed: ${errorMessage(err)}`,
        {
          retryable: true,
          statusCode: 503,
          cause: err,
        },
      );
    }
  }

  /** Routes an inbound envelope to its conversation's partition. */
  async publishInbound(env: InboundEnvelope, timeoutMs?: number): Promise<void> {
    const p = partitionOf(`${env.platform}:${env.botId}:${env.conversationId}`, this.opts.partitions);
    await this.publish(this.names.inbound, this.names.inboundKey(p, env.platform), env, {
      messageId: env.id,
      traceId: env.traceId,
      headers: { [Headers.partition]: p },
      timeoutMs,
    });
  }

  async publishOutbound(env: OutboundEnvelope, timeoutMs?: number): Promise<void> {
    await this.publish(this.names.outbound, this.names.outboundKey(env.platform, env.botId), env, {
      messageId: env.id,
      traceId: env.traceId,
      timeoutMs,
    });
  }

  /** Declares something on the consumer channel now and after every reconnect (e.g. a per-instance queue). */
  async addSetup(setup: (ch: Channel) => Promise<void>): Promise<void> {
    await this.sub.addSetup(setup);
  }

  async consume(
    queue: string,
    handler: DeliveryHandler,
    opts: { prefetch?: number; exclusive?: boolean } = {},
  ): Promise<ConsumerHandle> {
    const { consumerTag } = await this.sub.consume(
      queue,
      (msg: ConsumeMessage) => {
        const delivery = this.toDelivery(queue, msg);
        Promise.resolve()
          .then(() => handler(delivery))
          .catch((err) => {
            this.log.error('consumer handler failed', {
              error: { message: errorMessage(err) },
              labels: { queue },
            });
          });
      },
      { prefetch: opts.prefetch ?? this.opts.prefetch, noAck: false, exclusive: opts.exclusive },
    );
    return { cancel: () => this.sub.cancel(consumerTag) };
  }

  private toDelivery(queue: string, msg: ConsumeMessage): Delivery {
    // Settle on the channel that delivered it; if that channel is gone the broker has already
    // requeued the message, and settling on the new channel would hit the wrong delivery tag.
    const ch = this.subChannel;
    let settled = false;
    const settle = (fn: (c: Channel) => void) => {
      if (settled) return;
      settled = true;
      if (!ch || ch !== this.subChannel) return;
      try {
        fn(ch);
      } catch (err) {
        this.log.warn('could not settle delivery; the broker will redeliver it', {
          error: { message: errorMessage(err) },
        });
      }
    };
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    const attempt = Number(headers[Headers.attempts] ?? 1) || 1;
    const self = this;
    return {
      queue,
      body: msg.content,
      messageId: msg.properties.messageId as string | undefined,
      headers,
      redelivered: msg.fields.redelivered,
      attempt,
      properties: {
        replyTo: msg.properties.replyTo as string | undefined,
        correlationId: msg.properties.correlationId as string | undefined,
      },
      json: () => JSON.parse(msg.content.toString('utf8')),
      ack: () => settle((c) => c.ack(msg)),
      async retryOrPark(err: unknown) {
        const retryable = !isSwitchboardError(err) || err.retryable;
        if (!retryable || attempt >= self.opts.maxAttempts) {
          await this.park(err);
          return 'parked';
        }
        const tier = Math.min(attempt - 1, self.opts.retryDelaysMs.length - 1);
        await self.publishRaw(self.names.retry, queue, msg.content, {
          messageId: msg.properties.messageId ?? 'unknown',
          traceId: String(headers[Headers.traceId] ?? ''),
          headers: { ...headers, [Headers.attempts]: attempt + 1, [Headers.retryTier]: tier },
        });
        settle((c) => c.ack(msg));
        return 'retried';
      },
      async park(err: unknown) {
        await self.publishRaw(self.names.parking, queue, msg.content, {
          messageId: msg.properties.messageId ?? 'unknown',
          traceId: String(headers[Headers.traceId] ?? ''),
          headers: {
            ...headers,
            [Headers.originQueue]: queue,
            [Headers.parkReason]: errorMessage(err).slice(0, 1000),
            [Headers.parkCode]: isSwitchboardError(err) ? err.code : ErrorCodes.PROCESSING_FAILED,
            [Headers.parkedAt]: new Date().toISOString(),
            [Headers.attempts]: attempt,
          },
        });
        settle((c) => c.ack(msg));
      },
    };
  }

  /** Stops all consumers; in-flight deliveries may still be settled until close(). */
  async stopConsuming(): Promise<void> {
    await this.sub.cancelAll();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.sub?.close().catch(() => {});
    await this.pub?.close().catch(() => {});
    await this.conn?.close().catch(() => {});
  }
}
