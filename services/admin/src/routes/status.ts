import { errorMessage } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { needs } from '../auth/auth.ts';
import type { QueueStats } from '../queue-stats.ts';

export interface ServiceProbe {
  name: string;
  url: string;
}

async function probe(s: ServiceProbe, timeoutMs: number) {
  try {
    const res = await request(`${s.url}/readyz`, {
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    let detail: unknown = text.slice(0, 2_000);
    try {
      detail = JSON.parse(text);
    } catch {
      // Not JSON: shown as text.
    }
    return { name: s.name, url: s.url, ready: res.statusCode === 200, detail };
  } catch (err) {
    return { name: s.name, url: s.url, ready: false, detail: errorMessage(err) };
  }
}

/** GET /admin/api/status: each configured service's /readyz and the queue depths. */
export function registerStatusRoutes(
  app: FastifyInstance,
  o: { services: ServiceProbe[]; probeTimeoutMs: number; queues: QueueStats },
): void {
  app.get('/admin/api/status', needs('viewer'), async () => {
    const [services, queues] = await Promise.all([
      Promise.all(o.services.map((s) => probe(s, o.probeTimeoutMs))),
      o.queues.list(),
    ]);
    return {
      services,
      queues: queues.queues,
      queueSource: queues.source,
      ...(queues.error ? { queueError: queues.error } : {}),
    };
  });
}
