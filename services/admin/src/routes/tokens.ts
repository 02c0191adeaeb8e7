import { type AdminTokenStore, type AuditLog, adminRoleSchema, parseTokenTtl } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actor } from '../auth/auth.ts';
import { notFound, parseInput } from '../errors.ts';

const createBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  role: adminRoleSchema,
  expire: z.string().min(1).max(20),
});
const idParam = z.object({ id: z.string().regex(/^[a-z0-9]{12}$/, 'a token id (12 characters)') });
const listQuery = z.object({ all: z.enum(['true', 'false']).default('false') });

/** The CLI's token store over HTTP; a new token's secret is returned once and never logged. */
export function registerTokenRoutes(
  app: FastifyInstance,
  o: { tokens: AdminTokenStore; audit: AuditLog },
): void {
  app.get('/admin/api/tokens', async (req) => {
    const { all } = parseInput(listQuery, req.query, 'query');
    return { tokens: await o.tokens.list({ includeInactive: all === 'true' }) };
  });

  app.post('/admin/api/tokens', async (req, reply) => {
    const body = parseInput(createBody, req.body, 'token');
    const ttlMs = parseTokenTtl(body.expire);
    const who = actor(req).name;
    const { token, record } = await o.tokens.create({
      name: body.name,
      role: body.role,
      ttlMs,
      createdBy: who,
    });
    await o.audit.record(who, 'token.create', record.id, {
      name: record.name,
      role: record.role,
      expiresAt: record.expiresAt,
    });
    return reply.status(201).send({ token, record });
  });

  app.delete('/admin/api/tokens/:id', async (req) => {
    const { id } = parseInput(idParam, req.params, 'token');
    if (!(await o.tokens.revoke(id))) throw notFound(`no token ${id}`);
    await o.audit.record(actor(req).name, 'token.revoke', id);
    return { revoked: id };
  });
}
