import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, deleteBrokerPrefix, uniqueName, waitFor } from '../../../../test/support/infra.ts';
import { ENVELOPE_VERSION, type InboundEnvelope, type OutboundEnvelope } from '../envelope.ts';
import { ErrorCodes, SwitchboardError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { Broker, type BrokerOptions, type Delivery } from './broker.ts';
import { partitionOf } from './partition.ts';
import { Headers, workQueueArgs } from './topology.ts';

const log = createLogger('broker-test', 'error');
const PARTITIONS = 2;
const RETRY_DELAYS = [50, 100];

function inbound(conversationId: string, over: Partial<InboundEnvelope> = {}): InboundEnvelope {
  const id = uniqueName(`web:bot1:${conversationId}:`);
  return {
    v: ENVELOPE_VERSION,
    kind: 'inbound',
    id,
    platform: 'web',
    botId: 'bot1',
    conversationId,
    user: { id: 'u1' },
    text: 'hello',
    attachments: [],
    receivedAt: new Date().toISOString(),
    traceId: `trace-${id}`,
    ...over,
  };
}

describe('Broker against RabbitMQ (quorum queues)', () => {
  let prefix: string;
  let opts: BrokerOptions;
  let broker: Broker;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;

  beforeAll(async () => {
    prefix = uniqueName('sbtbk');
    opts = {
      url: AMQP_URL,
      prefix,
      queueType: 'quorum',
      partitions: PARTITIONS,
      prefetch: 10,
      retryDelaysMs: RETRY_DELAYS,
      maxAttempts: 3,
    };
    broker = new Broker(opts, log);
    await broker.start();
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    ch.on('error', (err) => log.error('test channel failed', { error: { message: String(err) } }));
  });

  afterAll(async () => {
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await broker?.close();
    if (prefix) await deleteBrokerPrefix(prefix, PARTITIONS, RETRY_DELAYS.length);
  });

  /** Runs `fn` on a throwaway channel, since a failed declaration closes the channel it ran on. */
  async function onScratchChannel<T>(fn: (c: amqplib.Channel) => Promise<T>): Promise<T> {
    const c = await amqp.createChannel();
    c.on('error', () => {});
    try {
      return await fn(c);
    } finally {
      await c.close().catch(() => {});
    }
  }

  /** Waits until a message with this id sits in `queue` and takes it (others found meanwhile are dropped). */
  async function takeFrom(queue: string, messageId: string): Promise<amqplib.GetMessage> {
    return waitFor(`${messageId} in ${queue}`, async () => {
      const m = await ch.get(queue, { noAck: true });
      return m !== false && m.properties.messageId === messageId ? m : undefined;
    });
  }

  it('declares every exchange and queue of the topology', async () => {
    const n = broker.names;
    for (const x of [n.inbound, n.outbound, n.unrouted, n.retry, n.requeue, n.parking]) {
      await expect(ch.checkExchange(x)).resolves.toBeDefined();
    }
    const queues = [...n.agentQueues, n.retryQueue(0), n.retryQueue(1), n.parking, n.unrouted];
    for (const q of queues) expect((await ch.checkQueue(q)).queue).toBe(q);
    // A queue that is not part of it does not exist.
    await expect(onScratchChannel((c) => c.checkQueue(n.retryQueue(2)))).rejects.toThrow(/NOT_FOUND/);
  });

  it('makes the partition queues quorum queues: declaring one as classic is refused', async () => {
    const classicArgs = {
      ...workQueueArgs(opts, { 'x-single-active-consumer': true }),
      'x-queue-type': 'classic',
    };
    await expect(
      onScratchChannel((c) =>
        c.assertQueue(broker.names.agentQueue(0), { durable: true, arguments: classicArgs }),
      ),
    ).rejects.toThrow(/PRECONDITION_FAILED.*x-queue-type/);
    // The same declaration with the quorum type is accepted: the topology is idempotent.
    await expect(
      onScratchChannel((c) =>
        c.assertQueue(broker.names.agentQueue(0), {
          durable: true,
          arguments: workQueueArgs(opts, { 'x-single-active-consumer': true }),
        }),
      ),
    ).resolves.toMatchObject({ queue: broker.names.agentQueue(0) });
  });

  it('lets a second service start against the same topology', async () => {
    const other = new Broker(opts, log);
    try {
      await other.start();
      expect(other.isConnected()).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('routes each inbound message to the partition of its conversation', async () => {
    const envs = Array.from({ length: 12 }, (_, i) => inbound(`conv-${i}`));
    const expected = envs.map((e) => partitionOf(`${e.platform}:${e.botId}:${e.conversationId}`, PARTITIONS));
    // Both partitions are exercised.
    expect(new Set(expected).size).toBe(PARTITIONS);
    for (const e of envs) await broker.publishInbound(e);

    // Quorum queues with a single active consumer refuse basic.get: read them as a worker would.
    const got = new Map<string, { partition: number; msg: amqplib.ConsumeMessage }>();
    const tags: string[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const { consumerTag } = await ch.consume(
        broker.names.agentQueue(p),
        (msg) => {
          if (msg) got.set(String(msg.properties.messageId), { partition: p, msg });
        },
        { noAck: true },
      );
      tags.push(consumerTag);
    }
    try {
      await waitFor('every message to be routed', () => envs.every((e) => got.has(e.id)));
    } finally {
      for (const t of tags) await ch.cancel(t);
    }
    envs.forEach((e, i) => {
      const g = got.get(e.id);
      expect(g?.partition, e.conversationId).toBe(expected[i]);
      expect(g?.msg.properties.headers?.[Headers.partition]).toBe(expected[i]);
      expect(g?.msg.properties.headers?.[Headers.traceId]).toBe(e.traceId);
      expect(g?.msg.properties.deliveryMode).toBe(2);
      expect(JSON.parse(g!.msg.content.toString())).toEqual(e);
    });
  });

  it('retries a failing message with delays up to maxAttempts, then parks it with the reason', async () => {
    const env = inbound('conv-retry');
    const queue = broker.names.agentQueue(partitionOf(`web:bot1:${env.conversationId}`, PARTITIONS));
    const seen: Array<{ attempt: number; at: number }> = [];
    const results: string[] = [];
    const consumer = await broker.consume(queue, async (d: Delivery) => {
      if (d.messageId !== env.id) return d.ack();
      seen.push({ attempt: d.attempt, at: Date.now() });
      results.push(await d.retryOrPark(new Error(`model backend down (attempt ${d.attempt})`)));
    });
    try {
      await broker.publishInbound(env);
      const parked = await takeFrom(broker.names.parking, env.id);
      expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
      expect(results).toEqual(['retried', 'retried', 'parked']);
      // A retry is never delivered before its tier's delay has passed.
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(RETRY_DELAYS[0]! - 5);
      expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(RETRY_DELAYS[1]! - 5);

      const h = parked.properties.headers ?? {};
      expect(h[Headers.parkReason]).toBe('model backend down (attempt 3)');
      expect(h[Headers.parkCode]).toBe(ErrorCodes.PROCESSING_FAILED);
      expect(h[Headers.originQueue]).toBe(queue);
      expect(h[Headers.attempts]).toBe(3);
      expect(h[Headers.traceId]).toBe(env.traceId);
      expect(Number.isNaN(Date.parse(String(h[Headers.parkedAt])))).toBe(false);
      // The operator can replay it: the body is the original envelope.
      expect(JSON.parse(parked.content.toString())).toEqual(env);
      // Nothing is left behind in the work or retry queues.
      expect((await ch.checkQueue(queue)).messageCount).toBe(0);
      for (let t = 0; t < RETRY_DELAYS.length; t++) {
        expect((await ch.checkQueue(broker.names.retryQueue(t))).messageCount).toBe(0);
      }
    } finally {
      await consumer.cancel();
    }
  });

  it('parks a non-retryable error at once', async () => {
    const env = inbound('conv-fatal');
    const queue = broker.names.agentQueue(partitionOf(`web:bot1:${env.conversationId}`, PARTITIONS));
    const seen: number[] = [];
    const consumer = await broker.consume(queue, async (d) => {
      if (d.messageId !== env.id) return d.ack();
      seen.push(d.attempt);
      await d.retryOrPark(
        new SwitchboardError(ErrorCodes.ENVELOPE_INVALID, 'invalid inbound envelope: text too long', {
          retryable: false,
        }),
      );
    });
    try {
      await broker.publishInbound(env);
      const parked = await takeFrom(broker.names.parking, env.id);
      expect(seen).toEqual([1]);
      const h = parked.properties.headers ?? {};
      expect(h[Headers.parkCode]).toBe(ErrorCodes.ENVELOPE_INVALID);
      expect(h[Headers.parkReason]).toBe('invalid inbound envelope: text too long');
      expect(h[Headers.attempts]).toBe(1);
      expect(h[Headers.originQueue]).toBe(queue);
    } finally {
      await consumer.cancel();
    }
  });

  it('keeps a reply for a platform nobody consumes in the unrouted queue instead of dropping it', async () => {
    const id = uniqueName('reply:');
    const reply: OutboundEnvelope = {
      v: ENVELOPE_VERSION,
      kind: 'outbound',
      id,
      platform: 'discord',
      botId: 'bot.with.dots',
      conversationId: 'c1',
      inReplyTo: 'web:bot1:x',
      text: 'hi',
      attachments: [],
      status: 'ok',
      createdAt: new Date().toISOString(),
      traceId: `trace-${id}`,
    };
    await broker.publishOutbound(reply);
    const m = await takeFrom(broker.names.unrouted, id);
    expect(m.fields.routingKey).toBe('out.discord.bot_with_dots');
    expect(m.properties.headers?.[Headers.traceId]).toBe(reply.traceId);
    expect(JSON.parse(m.content.toString())).toEqual(reply);
  });
});
