import type { AuditLog } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { needs } from '../auth/auth.ts';
import { parseInput } from '../errors.ts';

const query = z.object({
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
  before: z.coerce.number().int().min(1).optional(),
  actor: z.string().min(1).max(100).optional(),
  action: z.string().min(1).max(100).optional(),
});

export function registerAuditRoutes(app: FastifyInstance, o: { audit: AuditLog }): void {
  app.get('/admin/api/audit', needs('viewer'), async (req) => ({
    entries: await o.audit.list(parseInput(query, req.query, 'query')),
  }));
}
