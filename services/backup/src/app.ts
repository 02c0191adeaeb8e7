import { timingSafeEqual } from 'node:crypto';
import {
  createServiceHttp,
  ErrorCodes,
  type Logger,
  type MetricsRegistry,
  type ReadinessCheck,
  SwitchboardError,
} from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import type { BackupJob } from './backup-job.ts';
import { BackupErrorCode, isBackupError } from './errors.ts';
import type { BackupStore } from './store.ts';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function buildApp(o: {
  token: string;
  job: BackupJob;
  store: BackupStore;
  log: Logger;
  registry: MetricsRegistry;
  /** Further checks for /readyz, e.g. the secrets backend's. */
  readiness?: Record<string, ReadinessCheck>;
}): FastifyInstance {
  const app = createServiceHttp({
    log: o.log,
    registry: o.registry,
    readiness: { ...o.readiness, 'backup dir': () => o.store.ensureRoot() },
  });
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/backups')) return;
    if (!tokenMatches(req.headers.authorization, o.token))
      throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'a valid bearer token is required', {
        statusCode: 401,
      });
  });

  // NOTE: answers when the backup is on disk, so a caller (an upgrade script) can rely on it.
  app.post('/backups', async (_req, reply) => {
    try {
      const { manifest, deleted } = await o.job.run('http');
      return reply.status(201).send({ id: manifest.id, manifest, deleted });
    } catch (err) {
      if (isBackupError(err) && err.code === BackupErrorCode.alreadyRunning)
        return reply.status(409).send({ error: { code: err.code, message: err.message } });
      if (isBackupError(err))
        return reply.status(500).send({ error: { code: err.code, message: err.message } });
      throw err;
    }
  });
  app.get('/backups', async () => ({ backups: await o.store.list() }));
  return app;
}
