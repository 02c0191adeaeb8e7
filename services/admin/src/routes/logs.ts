import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { needs } from '../auth/auth.ts';
import { parseInput } from '../errors.ts';
import { type LogFilter, type LogTail, matches } from '../log-tail.ts';

const filterShape = {
  level: z.enum(['error', 'warn', 'info', 'debug']).optional(),
  q: z.string().max(200).optional(),
  service: z.string().max(64).optional(),
};
const listQuery = z.object({ ...filterShape, limit: z.coerce.number().int().min(1).max(5_000).default(200) });
const streamQuery = z.object(filterShape);

/** GET /admin/api/logs (the ring buffer) and /admin/api/logs/stream (Server-Sent Events). */
export function registerLogRoutes(app: FastifyInstance, o: { tail: LogTail; heartbeatMs?: number }): void {
  app.get('/admin/api/logs', needs('viewer'), async (req) => {
    const { limit, ...f } = parseInput(listQuery, req.query, 'query');
    return { lines: o.tail.recent(f, limit).map((l) => l.line), live: o.tail.connected };
  });

  const open = new Set<{ end(): void }>();
  // Streams never end by themselves; without this the server's close would wait for every viewer.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get('/admin/api/logs/stream', needs('viewer'), async (req, reply) => {
    const f: LogFilter = parseInput(streamQuery, req.query, 'query');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx would otherwise hold events back in its proxy buffer.
      'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');
    const unsubscribe = o.tail.subscribe((l) => {
      if (matches(l, f)) res.write(`id: ${l.seq}\ndata: ${JSON.stringify(l.line)}\n\n`);
    });
    const beat = setInterval(() => res.write(': keep-alive\n\n'), o.heartbeatMs ?? 15_000);
    open.add(res);
    const done = () => {
      clearInterval(beat);
      unsubscribe();
      open.delete(res);
    };
    req.raw.on('close', done);
    res.on('close', done);
  });
}
