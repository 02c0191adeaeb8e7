import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { errorMessage, type Logger } from '@switchboard/core';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * bull-board over the scheduler's BullMQ queue, its every route declared like ours.
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
  await app.register(async (scope) => {
    // bull-board's routes are declared here, as each of ours is on its own route: viewers read,
    // the board's actions (retry, clean, promote: every non-GET) need an operator.
    scope.addHook('onRoute', (route) => {
      const methods = [route.method].flat();
      const reads = methods.every((m) => m === 'GET' || m === 'HEAD');
      route.config = { ...route.config, access: { role: reads ? 'viewer' : 'operator' } };
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
  return queue;
}
