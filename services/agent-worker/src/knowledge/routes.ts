import { ErrorCodes, type Logger, SwitchboardError } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminGuard } from '../admin-auth.ts';
import type { KnowledgeBase } from './knowledge-base.ts';
import { documentTypeSchema } from './types.ts';

export interface KnowledgeRoutesOptions {
  kb: KnowledgeBase;
  /** ADMIN_TOKEN: every request must carry `Authorization: Bearer <adminToken>`. */
  adminToken: string;
  /** Largest document accepted, in bytes (KB_MAX_DOCUMENT_BYTES). */
  maxDocumentBytes: number;
  log: Logger;
}

export { MIN_ADMIN_TOKEN_CHARS } from '../admin-auth.ts';

const postBodySchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\p{Cc}]+$/u, 'no control characters')
    .refine((n) => n.trim() === n, 'no leading or trailing spaces'),
  content: z.string().min(1, 'empty document'),
  type: documentTypeSchema.optional(),
});

const idSchema = z.string().regex(/^[1-9]\d{0,17}$/, 'a document id (a positive integer)');
const searchQuerySchema = z.strictObject({
  q: z.string().min(1).max(1_000),
  limit: z.coerce.number().int().min(1).max(50).optional(),
});

function badRequest(error: z.ZodError): SwitchboardError {
  const reason = error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  return new SwitchboardError(ErrorCodes.BAD_REQUEST, reason, { statusCode: 400 });
}

/**
 * The knowledge-base admin API, for the agent-worker's HTTP server (errors in the shape of
 * createServiceHttp's handler):
 *
 * - `POST   /admin/knowledge`        `{ name, content, type? }` → 201 created, 200 updated/unchanged
 * - `GET    /admin/knowledge`        documents
 * - `GET    /admin/knowledge/search` `?q=…&limit=…` → the passages a question would get
 * - `DELETE /admin/knowledge/:id`    204, or 404
 *
 * Usable with `app.register(knowledgeRoutes, opts)` or called directly; the token check is on
 * each route, so it never leaks onto other routes of the server.
 */
export async function knowledgeRoutes(app: FastifyInstance, o: KnowledgeRoutesOptions): Promise<void> {
  const requireAdmin = adminGuard(o.adminToken, '/admin/knowledge');
  // JSON escapes can double a document's size on the wire; the exact limit is checked on the content.
  const bodyLimit = o.maxDocumentBytes * 2 + 64 * 1024;

  app.post('/admin/knowledge', { onRequest: requireAdmin, bodyLimit }, async (req, reply) => {
    const parsed = postBodySchema.safeParse(req.body);
    if (!parsed.success) throw badRequest(parsed.error);
    const { name, content, type } = parsed.data;
    const result = await o.kb.ingestDocument(name, content, type);
    o.log.info(`knowledge: document ${result.status} through the admin API`, {
      kb: { source: name, status: result.status, chunks: result.document.chunkCount },
      client: { ip: req.ip },
    });
    return reply.status(result.status === 'created' ? 201 : 200).send(result);
  });

  app.get('/admin/knowledge', { onRequest: requireAdmin }, async () => ({
    documents: await o.kb.listDocuments(),
  }));

  app.get('/admin/knowledge/search', { onRequest: requireAdmin }, async (req) => {
    const parsed = searchQuerySchema.safeParse(req.query);
    if (!parsed.success) throw badRequest(parsed.error);
    return { passages: await o.kb.search(parsed.data.q, { limit: parsed.data.limit }) };
  });

  app.delete<{ Params: { id: string } }>(
    '/admin/knowledge/:id',
    { onRequest: requireAdmin },
    async (req, reply) => {
      const id = idSchema.safeParse(req.params.id);
      if (!id.success) throw badRequest(id.error);
      const doc = await o.kb.getDocument(id.data);
      if (!doc || !(await o.kb.removeDocument(id.data))) {
        throw new SwitchboardError(ErrorCodes.NOT_FOUND, `no knowledge document ${id.data}`, {
          statusCode: 404,
        });
      }
      o.log.info('knowledge: document removed through the admin API', {
        kb: { source: doc.source, origin: doc.origin },
        client: { ip: req.ip },
      });
      return reply.status(204).send();
    },
  );
}
