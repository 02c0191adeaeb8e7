/**
 * Queue figures from RabbitMQ's real management API (enabled by scripts/ensure-services.sh): unacked
 * counts and every queue of the prefix — connector reply queues included — which the AMQP fallback
 * cannot give.
 */
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managementApiUrl } from '../../services/admin/src/queue-stats.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { AdminTestbed } from './harness.ts';

const MANAGEMENT_URL = process.env.TEST_RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

describe('queue figures from the management API', () => {
  const bed = new AdminTestbed();
  let conn: amqplib.ChannelModel;

  beforeAll(async () => {
    await bed.start({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL });
    conn = await amqplib.connect(AMQP_URL);
  });
  afterAll(async () => {
    await conn?.close().catch(() => {});
    await bed.stop();
  });

  it('keeps a path prefix such as /rabbitmq (nginx serves the UI and its API there)', () => {
    expect(managementApiUrl('http://rabbitmq:15672/rabbitmq', 'api/queues').href).toBe(
      'http://rabbitmq:15672/rabbitmq/api/queues',
    );
    expect(managementApiUrl('http://127.0.0.1:15672/', '/api/queues').href).toBe(
      'http://127.0.0.1:15672/api/queues',
    );
  });

  it('reports ready, unacked and consumers per queue, a connector reply queue included', async () => {
    const ch = await conn.createChannel();
    const reply = `${bed.prefix}.out.telegram.main`;
    await ch.assertQueue(reply, { durable: false, autoDelete: true });
    ch.sendToQueue(reply, Buffer.from('a'));
    ch.sendToQueue(reply, Buffer.from('b'));
    // One message held unacknowledged by a consumer, one ready behind it.
    await ch.prefetch(1);
    await ch.consume(reply, () => {}, { noAck: false });

    // The management API refreshes its figures every few seconds: wait for them.
    const figures = await waitFor(
      'management figures for the reply queue',
      async () => {
        const r = await bed.call('GET', '/admin/api/status', { as: 'viewer' });
        const queues = r.body.queues as Array<{
          name: string;
          ready: number;
          unacked: number | null;
          consumers: number;
        }>;
        const q = queues.find((x) => x.name === reply);
        // The management API refreshes its figures on its own interval: wait for all three.
        return r.body.queueSource === 'management' && q?.unacked === 1 && q.ready === 1 && q.consumers === 1
          ? q
          : undefined;
      },
      30_000,
      500,
    );
    expect(figures).toMatchObject({ name: reply, ready: 1, unacked: 1, consumers: 1 });
    await ch.close();
  });
});
