import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { errorMessage, type Logger } from '@switchboard/core';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * bull-board over the scheduler's BullMQ queue. The auth hook guards the whole prefix: viewers
 * read, the board's actions (retry, clean, promote: every non-GET) need an operator.
 */
export async function mountBullBoard(
  app: FastifyInstance,
  o: { redisUrl: string; prefix: string; queue: string; log: Logger },
): Promise<Queue> {
  const queue = new Queue(o.queue, {
    connection: { url: o.redisUrl, connectionName: 'admin-bull-board', maxRetriesPerRequest: null },
    prefix: o.prefix,
  });
  queue.on('error', (err) =>
    o.log.warn('bull-board: redis error', { error: { message: errorMessage(err) } }),
  );
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter });
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  return queue;
}
