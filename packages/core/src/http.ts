import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import { type AccessControlOptions, registerAccessControl } from './access.ts';
import { errorMessage, isSwitchboardError } from './errors.ts';
import type { Logger } from './logger.ts';
import { histogram } from './metrics.ts';

export type ReadinessCheck = () => Promise<void> | void;

export interface ServiceHttpOptions {
  log: Logger;
  registry: Registry;
  /** Each named check must resolve for /readyz to answer 200. */
  readiness: Record<string, ReadinessCheck>;
  fastify?: FastifyServerOptions;
  /** Who may call what: every route declares `config.access`; these resolve the callers. */
  access?: AccessControlOptions;
}

/** The one error shape every HTTP client of ours sees: a stable code and a human reason. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/**
 * A fastify instance with /healthz, /readyz, /metrics and the process's single error handler.
 * Services add their own routes before listening.
 */
export function createServiceHttp(o: ServiceHttpOptions): FastifyInstance {
  const app = Fastify({ logger: false, ...o.fastify });
  registerAccessControl(app, o.access);
  let shuttingDown = false;

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (isSwitchboardError(err)) {
      if (err.statusCode >= 500)
        o.log.error(err.message, { error: { code: err.code }, url: { path: req.url } });
      // Refused credentials are what an operator looks for after a probe or a misconfigured secret.
      else if (err.statusCode === 401 || err.statusCode === 403)
        o.log.warn(err.message, {
          error: { code: err.code },
          url: { path: req.url.split('?')[0] },
          client: { ip: req.ip },
        });
      return reply.status(err.statusCode).send(errorBody(err.code, err.message));
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500)
      o.log.error('unhandled error', { error: { message: errorMessage(err) }, url: { path: req.url } });
    // fastify's own codes (FST_ERR_CTP_BODY_TOO_LARGE, FST_ERR_VALIDATION …) are stable too: pass them on.
    return reply
      .status(status)
      .send(errorBody(err.code ?? 'SB_ERR_INTERNAL', status >= 500 ? 'internal error' : err.message));
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send(errorBody('SB_ERR_NOT_FOUND', `no route for ${req.method} ${req.url.split('?')[0]}`)),
  );

  const requestDuration = histogram(
    o.registry,
    'http_request_duration_seconds',
    'HTTP requests by route and status',
    ['method', 'route', 'status_code'],
  );
  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, not the URL: ids in paths would make one series per message.
    const route = req.routeOptions.url ?? 'unmatched';
    if (route === '/metrics' || route === '/healthz' || route === '/readyz') return;
    requestDuration.observe(
      { method: req.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  const probe = { config: { access: { public: 'liveness, readiness and metrics for the orchestrator' } } };
  app.get('/healthz', probe, async () => ({ status: 'ok' }));
  app.get('/readyz', probe, async (_req, reply) => {
    const results: Record<string, string> = {};
    let ok = !shuttingDown;
    await Promise.all(
      Object.entries(o.readiness).map(async ([name, check]) => {
        try {
          await check();
          results[name] = 'ok';
        } catch (err) {
          ok = false;
          results[name] = errorMessage(err);
        }
      }),
    );
    if (shuttingDown) results.shutdown = 'in progress';
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks: results });
  });
  app.get('/metrics', probe, async (_req, reply) => {
    reply.header('content-type', o.registry.contentType);
    return o.registry.metrics();
  });
  app.addHook('onClose', async () => {
    shuttingDown = true;
  });
  app.decorate('markShuttingDown', () => {
    shuttingDown = true;
  });
  return app;
}

/** Tells load balancers to stop sending traffic before the server actually closes. */
export function markShuttingDown(app: FastifyInstance): void {
  (app as unknown as { markShuttingDown: () => void }).markShuttingDown();
}
