import type { Pool } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { needs } from '../auth/auth.ts';
import { badRequest } from '../errors.ts';
import type { QueueStats } from '../queue-stats.ts';

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_WINDOW_MS = 31 * 86_400_000;

export function parseWindow(text: string): number {
  const m = /^(\d{1,4})([mhd])$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : 0;
  if (!(ms > 0 && ms <= MAX_WINDOW_MS))
    throw badRequest(`window "${text.slice(0, 20)}": a duration such as 15m, 1h or 7d, at most 31d`);
  return ms;
}

const query = z.object({ window: z.string().max(20).default('1h') });

/**
 * GET /admin/api/overview: traffic, errors, latency and model use over a window, from the stored
 * turns (a user message is one message in; an assistant row is one model answer, `status` ≠ ok an error).
 */
export function registerOverviewRoutes(app: FastifyInstance, o: { pool: Pool; queues: QueueStats }): void {
  app.get('/admin/api/overview', needs('viewer'), async (req) => {
    const q = query.safeParse(req.query);
    if (!q.success) throw badRequest('window: a duration such as 1h');
    const windowMs = parseWindow(q.data.window);
    const since = new Date(Date.now() - windowMs);
    const [platforms, latency, models, queues] = await Promise.all([
      o.pool.query<{ platform: string; messages: string; errors: string }>(
        `SELECT c.platform,
                count(*) FILTER (WHERE m.role = 'user') AS messages,
                count(*) FILTER (WHERE m.role = 'assistant' AND m.status <> 'ok') AS errors
         FROM messages m JOIN conversations c ON c.id = m.conversation_id
         WHERE m.created_at >= $1 GROUP BY c.platform ORDER BY c.platform`,
        [since],
      ),
      o.pool.query<{
        p50: number | null;
        p95: number | null;
        p99: number | null;
        answers: string;
        failed: string;
      }>(
        `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99,
                count(*) AS answers, count(*) FILTER (WHERE status <> 'ok') AS failed
         FROM messages WHERE role = 'assistant' AND created_at >= $1`,
        [since],
      ),
      o.pool.query<{ model: string; calls: string; failures: string; prompt: string; completion: string }>(
        `SELECT model, count(*) AS calls, count(*) FILTER (WHERE status <> 'ok') AS failures,
                coalesce(sum(prompt_tokens), 0) AS prompt, coalesce(sum(completion_tokens), 0) AS completion
         FROM messages WHERE role = 'assistant' AND model IS NOT NULL AND created_at >= $1
         GROUP BY model ORDER BY count(*) DESC`,
        [since],
      ),
      o.queues.list(),
    ]);
    const l = latency.rows[0];
    const answers = Number(l?.answers ?? 0);
    const round = (v: number | null | undefined) =>
      v === null || v === undefined ? null : Math.round(Number(v));
    return {
      window: q.data.window,
      since: since.toISOString(),
      platforms: platforms.rows.map((r) => ({
        platform: r.platform,
        messages: Number(r.messages),
        errors: Number(r.errors),
      })),
      latency: { p50: round(l?.p50), p95: round(l?.p95), p99: round(l?.p99) },
      errorRate: answers ? Number(l?.failed ?? 0) / answers : 0,
      models: models.rows.map((r) => ({
        model: r.model,
        calls: Number(r.calls),
        failures: Number(r.failures),
        promptTokens: Number(r.prompt),
        completionTokens: Number(r.completion),
      })),
      queues: queues.queues,
    };
  });
}
