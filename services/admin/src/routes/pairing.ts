import type { AuditLog } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { PairingStore } from '../../../../packages/connector/src/pairing-store.ts';
import { actor } from '../auth/auth.ts';
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
export function registerPairingRoutes(
  app: FastifyInstance,
  o: { store: PairingStore; audit: AuditLog },
): void {
  app.get('/admin/api/pairing', async () => {
    const [pending, blocklist, paired] = await Promise.all([
      o.store.listPending(),
      o.store.listBlocked(),
      o.store.listPaired(),
    ]);
    return {
      pending,
      blocklist: blocklist.map((b) => ({ id: `${b.platform}:${b.externalId}`, ...b })),
      paired,
    };
  });

  app.post('/admin/api/pairing/:id/approve', async (req) => {
    const { id } = parseInput(requestParam, req.params, 'pairing request');
    const who = actor(req).name;
    const before = await o.store.getRequest(id);
    if (!before) throw notFound(`no pairing request ${id}`);
    const after = await o.store.approve(id, who);
    await o.audit.record(who, 'pairing.approve', id, {
      platform: after.platform,
      externalId: after.externalId,
      before: before.status,
      after: after.status,
    });
    return { request: after };
  });

  app.post('/admin/api/pairing/:id/deny', async (req) => {
    const { id } = parseInput(requestParam, req.params, 'pairing request');
    const body = parseInput(denyBody, req.body ?? undefined, 'body');
    const who = actor(req).name;
    const before = await o.store.getRequest(id);
    if (!before) throw notFound(`no pairing request ${id}`);
    const after = await o.store.deny(id, who, { blockSeconds: body?.blockSeconds });
    await o.audit.record(who, 'pairing.deny', id, {
      platform: after.platform,
      externalId: after.externalId,
      before: before.status,
      after: after.status,
    });
    return { request: after };
  });

  app.delete('/admin/api/pairing/blocklist/:id', async (req) => {
    const { id } = parseInput(blockParam, req.params, 'blocklist entry');
    const at = id.indexOf(':');
    const user = { platform: id.slice(0, at), externalId: id.slice(at + 1) };
    if (!(await o.store.unblock(user))) throw notFound(`${id} is not blocked`);
    await o.audit.record(actor(req).name, 'pairing.unblock', id, user);
    return { unblocked: id };
  });
}
