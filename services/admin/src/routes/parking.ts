import type { AuditLog } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actor } from '../auth/auth.ts';
import { parseInput } from '../errors.ts';
import type { ParkingQueue } from '../parking-queue.ts';

const idParam = z.object({ id: z.string().regex(/^[0-9a-f]{24}$/, 'a parked message id (24 hex digits)') });

/** The parking queue: list, inspect, replay to where it came from, discard. */
export function registerParkingRoutes(
  app: FastifyInstance,
  o: { parking: ParkingQueue; audit: AuditLog },
): void {
  app.get('/admin/api/parking', async () => ({ messages: await o.parking.list() }));

  app.get('/admin/api/parking/:id', async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    return o.parking.get(id);
  });

  app.post('/admin/api/parking/:id/replay', async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    const m = await o.parking.replay(id);
    await o.audit.record(actor(req).name, 'parking.replay', id, {
      messageId: m.messageId,
      queue: m.routingKey,
      reason: m.reason,
    });
    return { replayed: { id, messageId: m.messageId, queue: m.routingKey } };
  });

  app.delete('/admin/api/parking/:id', async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    const m = await o.parking.discard(id);
    await o.audit.record(actor(req).name, 'parking.discard', id, {
      messageId: m.messageId,
      queue: m.routingKey,
      reason: m.reason,
      body: m.body,
    });
    return { discarded: { id, messageId: m.messageId } };
  });
}
