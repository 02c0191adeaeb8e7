import { auditedChange, type Pool } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actor, needs } from '../auth/auth.ts';
import { parseInput } from '../errors.ts';
import type { ParkingQueue } from '../parking-queue.ts';

const idParam = z.object({ id: z.string().regex(/^[0-9a-f]{24}$/, 'a parked message id (24 hex digits)') });

/** The parking queue: list, inspect, replay to where it came from, discard. */
export function registerParkingRoutes(app: FastifyInstance, o: { parking: ParkingQueue; pool: Pool }): void {
  app.get('/admin/api/parking', needs('viewer'), async () => ({ messages: await o.parking.list() }));

  app.get('/admin/api/parking/:id', needs('viewer'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    return o.parking.get(id);
  });

  // The broker acts inside the audit transaction: a failed replay writes no row, and the row
  // commits right after the broker confirmed.
  app.post('/admin/api/parking/:id/replay', needs('operator'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    const m = await auditedChange(o.pool, actor(req), async () => {
      const r = await o.parking.replay(id);
      return {
        result: r,
        audit: {
          action: 'parking.replay',
          target: id,
          details: { messageId: r.messageId, queue: r.routingKey, reason: r.reason },
        },
      };
    });
    return { replayed: { id, messageId: m.messageId, queue: m.routingKey } };
  });

  app.delete('/admin/api/parking/:id', needs('operator'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'parked message');
    const m = await auditedChange(o.pool, actor(req), async () => {
      const r = await o.parking.discard(id);
      return {
        result: r,
        audit: {
          action: 'parking.discard',
          target: id,
          details: { messageId: r.messageId, queue: r.routingKey, reason: r.reason, body: r.body },
        },
      };
    });
    return { discarded: { id, messageId: m.messageId } };
  });
}
