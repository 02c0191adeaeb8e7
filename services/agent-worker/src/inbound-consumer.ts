import {
  type Broker,
  type ConsumerHandle,
  type Delivery,
  ENVELOPE_VERSION,
  errorMessage,
  type InboundEnvelope,
  type Logger,
  messageLogFields,
  type OutboundEnvelope,
  parseInbound,
  SerialByKey,
} from '@switchboard/core';
import type { LeaseCallbacks } from './partition-leases.ts';
import type { TurnProcessor } from './turn.ts';

export const FAILURE_REPLY =
  'Sorry — your message could not be processed and has been set aside for an operator to look at.';

export interface ConsumerHooks {
  onSettled?(result: 'acked' | 'retried' | 'parked' | 'returned'): void;
}

/**
 * Consumes the partitions this worker holds. Deliveries of one conversation run one after another;
 * each is acknowledged only after its turn committed (or it was scheduled for retry or parked).
 */
export class InboundConsumer implements LeaseCallbacks {
  private readonly consumers = new Map<number, ConsumerHandle>();
  private readonly inFlight = new Map<number, Set<Promise<void>>>();
  private readonly serial = new SerialByKey();
  private stopping = false;

  constructor(
    private readonly broker: Broker,
    private readonly turns: TurnProcessor,
    private readonly log: Logger,
    private readonly hooks: ConsumerHooks = {},
  ) {}

  get inFlightCount(): number {
    let n = 0;
    for (const s of this.inFlight.values()) n += s.size;
    return n;
  }

  async acquire(partition: number): Promise<void> {
    const handle = await this.broker.consume(this.broker.names.agentQueue(partition), (d) =>
      this.onDelivery(partition, d),
    );
    this.consumers.set(partition, handle);
    this.log.info('consuming partition', { labels: { partition: String(partition) } });
  }

  async release(partition: number): Promise<void> {
    const handle = this.consumers.get(partition);
    this.consumers.delete(partition);
    await handle?.cancel().catch(() => {});
    // After cancel no new deliveries arrive; wait for the ones in hand so order survives the hand-over.
    const pending = this.inFlight.get(partition);
    if (pending) await Promise.allSettled([...pending]);
  }

  /** Stop starting turns: deliveries not yet started go back to the queue when the channel closes. */
  beginShutdown(): void {
    this.stopping = true;
  }

  private onDelivery(partition: number, d: Delivery): void {
    let key: string;
    let env: InboundEnvelope;
    try {
      env = parseInbound(d.json());
      key = `${env.platform}:${env.botId}:${env.conversationId}`;
    } catch (err) {
      // Nothing will ever make a malformed message valid: park it with the reason straight away.
      this.log.warn('unreadable inbound message parked', {
        error: { message: errorMessage(err) },
        labels: { queue: d.queue },
      });
      void d
        .park(err)
        .then(() => this.hooks.onSettled?.('parked'))
        .catch((e) => this.log.error('could not park message', { error: { message: errorMessage(e) } }));
      return;
    }
    const set = this.inFlight.get(partition) ?? new Set();
    this.inFlight.set(partition, set);
    const p = this.serial.run(key, () => this.process(d, env));
    set.add(p);
    void p.finally(() => set.delete(p));
  }

  private async process(d: Delivery, env: InboundEnvelope): Promise<void> {
    if (this.stopping) {
      // Left unacknowledged: closing the channel returns it to the queue in order (a nack per
      // message after the consumer was cancelled is not reliably returned by quorum queues).
      this.hooks.onSettled?.('returned');
      return;
    }
    try {
      await this.turns.handle(env);
      d.ack();
      this.hooks.onSettled?.('acked');
    } catch (err) {
      const trace = messageLogFields(env);
      try {
        const result = await d.retryOrPark(err);
        this.log[result === 'parked' ? 'error' : 'warn'](`turn failed; message ${result}`, {
          ...trace,
          error: { message: errorMessage(err) },
          event: { attempt: d.attempt },
        });
        this.hooks.onSettled?.(result);
        if (result === 'parked') await this.tellUser(env);
      } catch (e) {
        // Left unacknowledged: the broker redelivers it after the channel closes.
        this.log.error('turn failed and could not be rescheduled', {
          ...trace,
          error: { message: errorMessage(e) },
        });
      }
    }
  }

  /** Nothing is dropped silently: the user learns their message could not be served, with a reference. */
  private async tellUser(env: InboundEnvelope): Promise<void> {
    const reply: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      // Not `reply:<id>`: a later replay of the parked message must still be able to deliver its answer.
      id: `failure:${env.id}`,
      platform: env.platform,
      botId: env.botId,
      conversationId: env.conversationId,
      inReplyTo: env.id,
      text: `${FAILURE_REPLY} (reference ${env.traceId})`,
      attachments: [],
      status: 'error',
      createdAt: new Date().toISOString(),
      traceId: env.traceId,
    };
    await this.broker.publishOutbound(reply).catch((err) =>
      this.log.error('could not tell the user about a parked message', {
        ...messageLogFields(env),
        error: { message: errorMessage(err) },
      }),
    );
  }

  /** Waits for every delivery in hand to be settled. */
  async drain(): Promise<void> {
    const all = [...this.inFlight.values()].flatMap((s) => [...s]);
    await Promise.allSettled(all);
  }
}
