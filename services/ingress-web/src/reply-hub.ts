import { type Broker, errorMessage, type Logger, parseOutbound } from '@switchboard/core';
import { type ReplyStore, replyFromEnvelope, type StoredReply } from './replies.ts';

type Listener = (reply: StoredReply) => void;

interface Subscription {
  key: string;
  /** createdAt of the newest reply handed to this listener; resync starts from here. */
  cursor: string;
  listener: Listener;
}

/**
 * Delivers replies to whoever on this instance waits for them: web-chat sockets by conversation,
 * OpenAI-style requests by message id. Each instance has its own exclusive queue bound to the web
 * platforms' outbound keys. The database is the record: after a broker reconnect every subscriber
 * is resynchronised from it, and a short memory of delivered reply ids drops the duplicates that
 * the outbox's at-least-once publishing may produce.
 */
export class ReplyHub {
  private readonly byConversation = new Map<string, Set<Subscription>>();
  private readonly byMessage = new Map<string, Listener>();
  private readonly giveUp = new Map<string, () => void>();
  private readonly seen = new Map<string, true>();
  private readonly queue: string;

  constructor(
    private readonly broker: Broker,
    private readonly store: ReplyStore,
    private readonly log: Logger,
    private readonly o: { instanceId: string; platforms: string[]; seenMax?: number },
  ) {
    this.queue = `${broker.names.outbound}.ingress-web.${o.instanceId}`;
  }

  static conversationKey(platform: string, botId: string, conversationId: string): string {
    return `${platform}:${botId}:${conversationId}`;
  }

  async start(): Promise<void> {
    let first = true;
    await this.broker.addSetup(async (ch) => {
      // Exclusive: the queue lives and dies with this instance's connection.
      await ch.assertQueue(this.queue, { exclusive: true, autoDelete: true, durable: false });
      for (const p of this.o.platforms)
        await ch.bindQueue(this.queue, this.broker.names.outbound, `out.${p}.#`);
      if (!first) setImmediate(() => void this.resync());
      first = false;
    });
    await this.broker.consume(
      this.queue,
      (d) => {
        try {
          const env = parseOutbound(d.json());
          this.dispatch(replyFromEnvelope(env), env);
        } catch (err) {
          this.log.warn('unreadable reply ignored', { error: { message: errorMessage(err) } });
        }
        d.ack();
      },
      { prefetch: 256, exclusive: true },
    );
  }

  private dispatch(
    reply: StoredReply,
    env: { platform: string; botId: string; conversationId: string },
  ): void {
    if (this.seen.has(reply.id)) return;
    this.seen.set(reply.id, true);
    if (this.seen.size > (this.o.seenMax ?? 50_000)) this.seen.delete(this.seen.keys().next().value!);
    const waiter = this.byMessage.get(reply.inReplyTo);
    if (waiter) {
      this.byMessage.delete(reply.inReplyTo);
      waiter(reply);
    }
    const subs = this.byConversation.get(
      ReplyHub.conversationKey(env.platform, env.botId, env.conversationId),
    );
    for (const s of subs ?? []) {
      if (reply.createdAt > s.cursor) s.cursor = reply.createdAt;
      s.listener(reply);
    }
  }

  /** Follows a conversation; returns the unsubscribe function. */
  subscribe(
    platform: string,
    botId: string,
    conversationId: string,
    cursor: string,
    listener: Listener,
  ): () => void {
    const key = ReplyHub.conversationKey(platform, botId, conversationId);
    const sub: Subscription = { key, cursor, listener };
    const set = this.byConversation.get(key) ?? new Set();
    set.add(sub);
    this.byConversation.set(key, set);
    return () => {
      set.delete(sub);
      if (set.size === 0) this.byConversation.delete(key);
    };
  }

  /** Resolves with the reply to one message. Register before publishing so a fast reply is not missed. */
  waitFor(
    messageId: string,
    timeoutMs: number,
  ): { reply: Promise<StoredReply | undefined>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const reply = new Promise<StoredReply | undefined>((resolve) => {
      this.byMessage.set(messageId, resolve);
      this.giveUp.set(messageId, () => resolve(undefined));
      timer = setTimeout(() => {
        this.byMessage.delete(messageId);
        resolve(undefined);
      }, timeoutMs);
    }).finally(() => {
      clearTimeout(timer);
      this.byMessage.delete(messageId);
      this.giveUp.delete(messageId);
    });
    return {
      reply,
      cancel: () => {
        clearTimeout(timer);
        this.byMessage.delete(messageId);
      },
    };
  }

  /**
   * On shutdown: ends every wait at once (the requests answer "not yet, fetch it later by id")
   * instead of holding the process until each one times out.
   */
  releaseWaiters(): void {
    for (const giveUp of [...this.giveUp.values()]) giveUp();
  }

  /** Hands every subscriber what it missed while the broker was away. */
  async resync(): Promise<void> {
    try {
      for (const messageId of [...this.byMessage.keys()]) {
        const { reply } = await this.store.forMessage(messageId);
        const waiter = this.byMessage.get(messageId);
        if (reply && waiter && !this.seen.has(reply.id)) {
          this.byMessage.delete(messageId);
          this.seen.set(reply.id, true);
          waiter(reply);
        }
      }
      for (const [key, subs] of this.byConversation) {
        const [platform, botId, ...rest] = key.split(':');
        for (const s of subs) {
          const missed = await this.store.since(platform!, botId!, rest.join(':'), s.cursor);
          for (const r of missed) {
            if (r.createdAt > s.cursor) s.cursor = r.createdAt;
            if (this.seen.has(r.id)) continue;
            this.seen.set(r.id, true);
            s.listener(r);
          }
        }
      }
      this.log.info('replies resynchronised after reconnect');
    } catch (err) {
      this.log.warn('reply resync failed', { error: { message: errorMessage(err) } });
    }
  }
}
