import { PairingStore } from '@switchboard/connector';
import { auditedChange, type Pool } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actor, needs } from '../auth/auth.ts';
import { notFound, parseInput } from '../errors.ts';

const requestParam = z.object({ id: z.string().regex(/^\d{1,18}$/, 'a pairing request number') });
const denyBody = z
  .object({
    blockSeconds: z
      .number()
      .int()
      .min(1)
      .max(365 * 86_400)
      .optional(),
  })
  .optional();
/** A blocklist entry is `<platform>:<external id>` (the id may itself contain colons). */
const blockParam = z.object({ id: z.string().regex(/^[a-z0-9_-]{1,64}:.{1,256}$/, 'platform:external id') });

/** Pending pairing requests and the blocklist; approve, deny, unblock. */
export function registerPairingRoutes(app: FastifyInstance, o: { pool: Pool }): void {
  const store = new PairingStore(o.pool);
  app.get('/admin/api/pairing', needs('viewer'), async () => {
    const [pending, blocklist, paired] = await Promise.all([
      store.listPending(),
      store.listBlocked(),
      store.listPaired(),
    ]);
    return {
      pending,
      blocklist: blocklist.map((b) => ({ id: `${b.platform}:${b.externalId}`, ...b })),
      paired,
    };
  });

  app.post('/admin/api/pairing/:id/approve', needs('operator'), async (req) => {
    const { id } = parseInput(requestParam, req.params, 'pairing request');
    const who = actor(req);
    const after = await auditedChange(o.pool, who, async (db) => {
      const tx = new PairingStore(db);
      const before = await tx.getRequest(id);
      if (!before) throw notFound(`no pairing request ${id}`);
      const result = await tx.approve(id, who.name);
      return {
        result,
        audit: {
          action: 'pairing.approve',
          target: id,
          details: {
            platform: result.platform,
            externalId: result.externalId,
            before: before.status,
            after: result.status,
          },
        },
      };
    });
    return { request: after };
  });

  app.post('/admin/api/pairing/:id/deny', needs('operator'), async (req) => {
    const { id } = parseInput(requestParam, req.params, 'pairing request');
    const body = parseInput(denyBody, req.body ?? undefined, 'body');
    const who = actor(req);
    const after = await auditedChange(o.pool, who, async (db) => {
      const tx = new PairingStore(db);
      const before = await tx.getRequest(id);
      if (!before) throw notFound(`no pairing request ${id}`);
      const result = await tx.deny(id, who.name, { blockSeconds: body?.blockSeconds });
      return {
        result,
        audit: {
          action: 'pairing.deny',
          target: id,
          details: {
            platform: result.platform,
            externalId: result.externalId,
            before: before.status,
            after: result.status,
          },
        },
      };
    });
    return { request: after };
  });

  app.delete('/admin/api/pairing/blocklist/:id', needs('operator'), async (req) => {
    const { id } = parseInput(blockParam, req.params, 'blocklist entry');
    const at = id.indexOf(':');
    const user = { platform: id.slice(0, at), externalId: id.slice(at + 1) };
    await auditedChange(o.pool, actor(req), async (db) => {
      if (!(await new PairingStore(db).unblock(user))) throw notFound(`${id} is not blocked`);
      return { result: null, audit: { action: 'pairing.unblock', target: id, details: user } };
    });
    return { unblocked: id };
  });
}
