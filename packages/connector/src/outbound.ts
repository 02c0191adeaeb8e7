import {
  type Broker,
  type ConsumerHandle,
  type Delivery,
  errorMessage,
  isSwitchboardError,
  type Logger,
  messageLogFields,
  type OutboundEnvelope,
  parseOutbound,
  SerialByKey,
  type TopologyOptions,
  workQueueArgs,
} from '@switchboard/core';
import type { Channel } from 'amqplib';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import type { PlatformAdapter, ReplyTarget } from './adapter.ts';
import type { AttachmentStore } from './attachments.ts';
import { PlatformApiError } from './errors.ts';
import { splitMarkdown } from './markdown.ts';
import type { OutboundParts } from './outbound-parts.ts';
import type { ReplyContexts } from './reply-contexts.ts';

export interface OutboundOptions {
  topology: TopologyOptions;
  sendAttempts: number;
  sendRatePerSec: number;
  maxRetryAfterMs: number;
  typingIndicator: boolean;
  prefetch: number;
}

export interface OutboundDeps {
  broker: Broker;
  adapter: PlatformAdapter;
  log: Logger;
  contexts: ReplyContexts;
  parts: OutboundParts;
  attachments: AttachmentStore;
  onSend?: (outcome: 'ok' | 'retried' | 'failed') => void;
  onSettled?: (outcome: 'delivered' | 'retried' | 'parked') => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This bot's reply queue: quorum, bound to its routing key and to the retry path. */
export function outboundQueueName(prefix: string, platform: string, botId: string): string {
  return `${prefix}.out.${platform}.${botId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/**
 * Delivers replies to the platform: formats, splits at the platform's limit, paces the bot, waits out
 * 429s as the platform asks, and hands a reply that keeps failing to the broker's delayed retries and
 * finally to the parking queue with the reason. Replies of one conversation go out in order.
 */
export class OutboundConsumer {
  private readonly serial = new SerialByKey();
  private readonly pace: PQueue;
  private handle: ConsumerHandle | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  readonly queue: string;

  constructor(
    private readonly o: OutboundOptions,
    private readonly d: OutboundDeps,
  ) {
    this.queue = outboundQueueName(o.topology.prefix, d.adapter.platform, d.adapter.botId);
    // Spread over 100 ms windows so a burst does not use a whole second's budget at once.
    const perWindow = Math.max(1, Math.round(o.sendRatePerSec / 10));
    this.pace = new PQueue({ intervalCap: perWindow, interval: 100, carryoverConcurrencyCount: true });
  }

  async start(): Promise<void> {
    const { broker, adapter } = this.d;
    const topo = this.o.topology;
    const queue = this.queue;
    await broker.addSetup(async (ch: Channel) => {
      await ch.assertQueue(queue, { durable: true, arguments: workQueueArgs(topo) });
      await ch.bindQueue(
        queue,
        broker.names.outbound,
        broker.names.outboundKey(adapter.platform, adapter.botId),
      );
      await ch.bindQueue(queue, broker.names.requeue, queue);
    });
    this.handle = await broker.consume(queue, (d) => this.track(this.onDelivery(d)), {
      prefetch: this.o.prefetch,
    });
  }

  /** Stops taking replies and waits for those being sent. */
  async stop(): Promise<void> {
    await this.handle?.cancel().catch(() => {});
    await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async onDelivery(d: Delivery): Promise<void> {
    let env: OutboundEnvelope;
    try {
      env = parseOutbound(d.json());
    } catch (err) {
      this.d.log.error('invalid outbound envelope parked', { error: { message: errorMessage(err) } });
      await d.park(err);
      this.d.onSettled?.('parked');
      return;
    }
    await this.serial.run(env.conversationId, () => this.deliver(d, env));
  }

  private async deliver(d: Delivery, env: OutboundEnvelope): Promise<void> {
    const fields = { ...messageLogFields(env), labels: { message_id: env.id, in_reply_to: env.inReplyTo } };
    try {
      const target: ReplyTarget = {
        conversationId: env.conversationId,
        inReplyTo: env.inReplyTo,
        context: await this.d.contexts.get(env.inReplyTo),
      };
      const { adapter } = this.d;
      const links: string[] = [];
      const files = [];
      for (const a of env.attachments) {
        const file = adapter.sendFile ? await this.d.attachments.load(a.url) : undefined;
        if (file) files.push(file);
        else if (/^https?:\/\//.test(a.url)) links.push(`[${a.name ?? a.url}](${a.url})`);
        // Never drop a file without a word: the user learns it exists and where to ask for it.
        else links.push(`(${a.name ?? `a ${a.kind}`} could not be sent here; ask an operator for it.)`);
      }
      const markdown = links.length > 0 ? `${env.text}\n\n${links.join('\n')}` : env.text;
      const chunks = splitMarkdown(markdown, adapter.textLimit, (md) => adapter.format(md)).map((md) =>
        adapter.format(md),
      );
      const done = await this.d.parts.sent(env.id);
      if (this.o.typingIndicator && adapter.sendTyping && done.size === 0) {
        // Best effort: a failed indicator must never hold up the answer.
        await adapter
          .sendTyping(target)
          .catch((err) =>
            this.d.log.debug('typing indicator failed', { ...fields, error: { message: errorMessage(err) } }),
          );
      }
      let part = 0;
      for (const chunk of chunks) {
        if (!done.has(part)) {
          const platformId = await this.send(() => adapter.sendText(target, chunk), fields);
          await this.d.parts.markSent(env.id, part, platformId);
        }
        part++;
      }
      for (const file of files) {
        if (!done.has(part)) {
          const platformId = await this.send(() => adapter.sendFile!(target, file), fields);
          await this.d.parts.markSent(env.id, part, platformId);
        }
        part++;
      }
      d.ack();
      this.d.onSettled?.('delivered');
      this.d.log.info('reply delivered', { ...fields, labels: { ...fields.labels, parts: String(part) } });
    } catch (err) {
      const outcome = await d.retryOrPark(err).catch((e) => {
        // Could not even reach the retry queue: leave it unacked; the broker redelivers.
        this.d.log.error('could not schedule a retry', { ...fields, error: { message: errorMessage(e) } });
        return undefined;
      });
      if (!outcome) return;
      this.d.onSettled?.(outcome);
      const level = outcome === 'parked' ? 'error' : 'warn';
      this.d.log.log(level, outcome === 'parked' ? 'reply parked' : 'reply failed; retrying later', {
        ...fields,
        error: {
          message: errorMessage(err),
          code: isSwitchboardError(err) ? err.code : undefined,
        },
        labels: { ...fields.labels, attempt: String(d.attempt) },
      });
    }
  }

  /** Retried here: 429s with a wait we are willing to sit out, 5xx and network errors. */
  private worthRetrying(error: unknown): boolean {
    if (!(error instanceof PlatformApiError)) return isSwitchboardError(error) ? error.retryable : true;
    return error.retryable && (error.retryAfterMs ?? 0) <= this.o.maxRetryAfterMs;
  }

  /** One platform call, paced, with the in-process retries (honouring the platform's retry-after). */
  private async send<T>(call: () => Promise<T>, fields: Record<string, unknown>): Promise<T> {
    return pRetry(
      async () => {
        const result = (await this.pace.add(call, { throwOnTimeout: true })) as T;
        this.d.onSend?.('ok');
        return result;
      },
      {
        retries: this.o.sendAttempts - 1,
        minTimeout: 200,
        maxTimeout: 5_000,
        randomize: true,
        shouldRetry: ({ error }) => this.worthRetrying(error),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          const again = retriesLeft > 0 && this.worthRetrying(error);
          this.d.onSend?.(again ? 'retried' : 'failed');
          const wait = error instanceof PlatformApiError ? error.retryAfterMs : undefined;
          this.d.log.warn('platform send failed', {
            ...fields,
            error: { message: error.message },
            labels: { ...(fields.labels as object), retries_left: String(retriesLeft) },
          });
          // The platform said how long to wait: pause the whole bot, not just this chat, as the
          // limit it hit is usually the bot's.
          if (again && wait !== undefined) {
            this.pace.pause();
            await sleep(wait);
            this.pace.start();
          }
        },
      },
    );
  }
}
