import {
  auditedChange,
  caller,
  ErrorCodes,
  type Logger,
  type Pool,
  SwitchboardError,
} from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { KnowledgeBase } from './knowledge-base.ts';
import { documentTypeSchema } from './types.ts';

export interface KnowledgeRoutesOptions {
  kb: KnowledgeBase;
  /** Where changes and their audit rows commit together. */
  pool: Pool;
  /** Largest document accepted, in bytes (KB_MAX_DOCUMENT_BYTES). */
  maxDocumentBytes: number;
  log: Logger;
}

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
 * Called with the console's tokens and roles (viewers read, operators change), and every change
 * commits with its audit row, like every other change an operator makes.
 */
export async function knowledgeRoutes(app: FastifyInstance, o: KnowledgeRoutesOptions): Promise<void> {
  const viewer = { config: { access: { role: 'viewer' as const } } };
  const operator = { config: { access: { role: 'operator' as const } } };
  // JSON escapes can double a document's size on the wire; the exact limit is checked on the content.
  const bodyLimit = o.maxDocumentBytes * 2 + 64 * 1024;

  app.post('/admin/knowledge', { ...operator, bodyLimit }, async (req, reply) => {
    const parsed = postBodySchema.safeParse(req.body);
    if (!parsed.success) throw badRequest(parsed.error);
    const { name, content, type } = parsed.data;
    const result = await auditedChange(o.pool, caller(req), async (db) => {
      const r = await o.kb.on(db).ingestDocument(name, content, type);
      return {
        result: r,
        audit: {
          action: `knowledge.${r.status === 'created' ? 'create' : 'update'}`,
          target: name,
          details: { status: r.status, chunks: r.document.chunkCount },
        },
      };
    });
    o.log.info(`knowledge: document ${result.status} through the admin API`, {
      kb: { source: name, status: result.status, chunks: result.document.chunkCount },
      client: { ip: req.ip },
    });
    return reply.status(result.status === 'created' ? 201 : 200).send(result);
  });

  app.get('/admin/knowledge', viewer, async () => ({
    documents: await o.kb.listDocuments(),
  }));

  app.get('/admin/knowledge/search', viewer, async (req) => {
    const parsed = searchQuerySchema.safeParse(req.query);
    if (!parsed.success) throw badRequest(parsed.error);
    return { passages: await o.kb.search(parsed.data.q, { limit: parsed.data.limit }) };
  });

  app.delete<{ Params: { id: string } }>('/admin/knowledge/:id', operator, async (req, reply) => {
    const id = idSchema.safeParse(req.params.id);
    if (!id.success) throw badRequest(id.error);
    const doc = await auditedChange(o.pool, caller(req), async (db) => {
      const kb = o.kb.on(db);
      const d = await kb.getDocument(id.data);
      if (!d || !(await kb.removeDocument(id.data))) {
        throw new SwitchboardError(ErrorCodes.NOT_FOUND, `no knowledge document ${id.data}`, {
          statusCode: 404,
        });
      }
      return {
        result: d,
        audit: { action: 'knowledge.delete', target: d.source, details: { id: id.data, origin: d.origin } },
      };
    });
    o.log.info('knowledge: document removed through the admin API', {
      kb: { source: doc.source, origin: doc.origin },
      client: { ip: req.ip },
    });
    return reply.status(204).send();
  });
}
