import { AdminTokenStore, adminRoleSchema, auditedChange, type Pool, parseTokenTtl } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actor, needs } from '../auth/auth.ts';
import { notFound, parseInput } from '../errors.ts';

const createBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  role: adminRoleSchema,
  expire: z.string().min(1).max(20),
});
const idParam = z.object({ id: z.string().regex(/^[a-z0-9]{12}$/, 'a token id (12 characters)') });
const listQuery = z.object({ all: z.enum(['true', 'false']).default('false') });

/** The CLI's token store over HTTP; a new token's secret is returned once and never logged. */
export function registerTokenRoutes(app: FastifyInstance, o: { pool: Pool; tokens: AdminTokenStore }): void {
  app.get('/admin/api/tokens', needs('admin'), async (req) => {
    const { all } = parseInput(listQuery, req.query, 'query');
    return { tokens: await o.tokens.list({ includeInactive: all === 'true' }) };
  });

  app.post('/admin/api/tokens', needs('admin'), async (req, reply) => {
    const body = parseInput(createBody, req.body, 'token');
    const ttlMs = parseTokenTtl(body.expire);
    const who = actor(req);
    const made = await auditedChange(o.pool, who, async (db) => {
      const m = await new AdminTokenStore(db).create({
        name: body.name,
        role: body.role,
        ttlMs,
        createdBy: `${who.name} (${who.id})`,
      });
      return {
        result: m,
        audit: {
          action: 'token.create',
          target: m.record.id,
          details: { name: m.record.name, role: m.record.role, expiresAt: m.record.expiresAt },
        },
      };
    });
    return reply.status(201).send({ token: made.token, record: made.record });
  });

  app.delete('/admin/api/tokens/:id', needs('admin'), async (req) => {
    const { id } = parseInput(idParam, req.params, 'token');
    await auditedChange(o.pool, actor(req), async (db) => {
      if (!(await new AdminTokenStore(db).revoke(id))) throw notFound(`no token ${id}`);
      return { result: null, audit: { action: 'token.revoke', target: id } };
    });
    return { revoked: id };
  });
}
