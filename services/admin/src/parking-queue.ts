import { createHash } from 'node:crypto';
import { Headers } from '@switchboard/core';
import type { ConfirmChannel, GetMessage } from 'amqplib';
import type { AmqpLink } from './amqp-link.ts';
import { conflict, notFound } from './errors.ts';

/** Bodies longer than this are shown cut (the message itself is never changed). */
const BODY_PREVIEW_BYTES = 16_384;

export interface ParkedMessage {
  /** Stable while the message sits in parking: a digest of its id, origin, parking time and body. */
  id: string;
  messageId: string | null;
  traceId: string | null;
  reason: string;
  errorCode: string | null;
  /** The queue it was taken from, which is also its routing key on the requeue exchange. */
  routingKey: string | null;
  parkedAt: string | null;
  attempts: number | null;
  body: unknown;
}

type XDeath = { queue?: string; reason?: string; time?: { value?: number } | Date; count?: number };

function firstDeath(headers: Record<string, unknown>): XDeath | undefined {
  const d = headers['x-death'];
  return Array.isArray(d) ? (d[0] as XDeath) : undefined;
}

function deathTime(d: XDeath | undefined): string | null {
  const t = d?.time;
  if (t instanceof Date) return t.toISOString();
  if (t && typeof t.value === 'number') return new Date(t.value * 1000).toISOString();
  return null;
}

function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/** Where a parked message came from: our own park() says so; the broker's dead-lettering leaves x-death. */
function origin(m: GetMessage): string | null {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  return str(h[Headers.originQueue]) ?? str(firstDeath(h)?.queue) ?? null;
}

export function parkedId(m: GetMessage): string {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  return createHash('sha256')
    .update(
      `${m.properties.messageId ?? ''}\0${origin(m) ?? ''}\0${str(h[Headers.parkedAt]) ?? deathTime(firstDeath(h)) ?? ''}\0`,
    )
    .update(m.content)
    .digest('hex')
    .slice(0, 24);
}

function describe(m: GetMessage): ParkedMessage {
  const h = (m.properties.headers ?? {}) as Record<string, unknown>;
  const death = firstDeath(h);
  let body: unknown;
  const text = m.content.subarray(0, BODY_PREVIEW_BYTES).toString('utf8');
  try {
    body =
      m.content.length > BODY_PREVIEW_BYTES
        ? { truncated: true, bytes: m.content.length, preview: text }
        : JSON.parse(text);
  } catch {
    body = { unparsed: true, bytes: m.content.length, preview: text };
  }
  const attempts = h[Headers.attempts] ?? death?.count;
  return {
    id: parkedId(m),
    messageId: str(m.properties.messageId),
    traceId: str(h[Headers.traceId]),
    reason:
      str(h[Headers.parkReason]) ??
      (death ? `dead-lettered by the broker (${str(death.reason)})` : 'unknown'),
    errorCode: str(h[Headers.parkCode]),
    routingKey: origin(m),
    parkedAt: str(h[Headers.parkedAt]) ?? deathTime(death),
    attempts: attempts === undefined ? null : Number(attempts),
    body,
  };
}

/** Headers a replayed copy starts afresh without: attempts, retry tier, parking and dead-letter marks. */
const RESET = new Set<string>([
  Headers.attempts,
  Headers.retryTier,
  Headers.originQueue,
  Headers.parkReason,
  Headers.parkCode,
  Headers.parkedAt,
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
]);

/**
 * The parking queue, read without losing anything: messages are taken with manual ack, looked at,
 * and handed back (nack + requeue, or the channel's close) unless an operator's action settles one.
 * A replay is acked in parking only after the broker confirmed the copy on its way back.
 */
export class ParkingQueue {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly o: { link: AmqpLink; queue: string; requeueExchange: string; scanLimit: number },
  ) {}

  /** One operation at a time: a listing holding every message would hide them from a replay. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private scan<T>(
    stop: ((m: GetMessage) => boolean) | undefined,
    fn: (held: GetMessage[], ch: ConfirmChannel) => Promise<T>,
  ): Promise<T> {
    return this.serial(() =>
      this.o.link.withChannel(async (ch) => {
        const held: GetMessage[] = [];
        try {
          while (held.length < this.o.scanLimit) {
            const m = await ch.get(this.o.queue, { noAck: false });
            if (!m) break;
            held.push(m);
            if (stop?.(m)) break;
          }
          return await fn(held, ch);
        } finally {
          // Whatever fn settled was removed from `held`; the rest goes back where it was.
          try {
            for (const m of held) ch.nack(m, false, true);
          } catch {
            // The channel is gone; the broker requeued what it held when it closed.
          }
        }
      }),
    );
  }

  async list(): Promise<ParkedMessage[]> {
    return this.scan(undefined, async (held) => held.map(describe));
  }

  async get(
    id: string,
  ): Promise<ParkedMessage & { headers: Record<string, unknown>; properties: Record<string, unknown> }> {
    return this.scan(
      (m) => parkedId(m) === id,
      async (held) => {
        const m = held.find((x) => parkedId(x) === id);
        if (!m) throw notFound(`no parked message ${id}`);
        const { headers, ...properties } = m.properties;
        return {
          ...describe(m),
          headers: plain(headers ?? {}) as Record<string, unknown>,
          properties: plain(properties) as Record<string, unknown>,
        };
      },
    );
  }

  /** Republishes to the queue it came from with fresh attempts, then removes the parked copy. */
  async replay(id: string): Promise<ParkedMessage> {
    return this.scan(
      (m) => parkedId(m) === id,
      async (held, ch) => {
        const i = held.findIndex((x) => parkedId(x) === id);
        const m = held[i];
        if (!m) throw notFound(`no parked message ${id}`);
        const queue = origin(m);
        if (!queue) throw conflict(`parked message ${id} does not say which queue it came from`);
        const headers: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(m.properties.headers ?? {})) if (!RESET.has(k)) headers[k] = v;
        headers['x-sb-replayed-at'] = new Date().toISOString();
        let returned = false;
        const onReturn = (r: { properties: { messageId?: string } }) => {
          if (r.properties.messageId === m.properties.messageId) returned = true;
        };
        ch.on('return', onReturn);
        // mandatory: a queue that no longer exists must not swallow the message silently.
        ch.publish(this.o.requeueExchange, queue, m.content, {
          mandatory: true,
          persistent: true,
          contentType: m.properties.contentType,
          messageId: m.properties.messageId,
          correlationId: m.properties.correlationId,
          replyTo: m.properties.replyTo,
          timestamp: Math.floor(Date.now() / 1000),
          headers,
        });
        await ch.waitForConfirms();
        ch.off('return', onReturn);
        if (returned)
          throw conflict(
            `queue ${queue} is not bound to ${this.o.requeueExchange} any more; the message stays parked`,
          );
        ch.ack(m);
        held.splice(i, 1);
        return describe(m);
      },
    );
  }

  async discard(id: string): Promise<ParkedMessage> {
    return this.scan(
      (m) => parkedId(m) === id,
      async (held, ch) => {
        const i = held.findIndex((x) => parkedId(x) === id);
        const m = held[i];
        if (!m) throw notFound(`no parked message ${id}`);
        ch.ack(m);
        held.splice(i, 1);
        return describe(m);
      },
    );
  }
}

/** Headers as JSON can show them: buffers as text, AMQP timestamps as dates. */
function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object' && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}
