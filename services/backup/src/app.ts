import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type Authenticator,
  bearerToken,
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

const digest = (s: string) => createHash('sha256').update(s).digest();

/** BACKUP_TOKEN as a service credential; digests compared, so neither length nor prefix leaks. */
function backupTokenAuthenticator(token: string): Authenticator {
  const want = digest(token);
  return async (req) => {
    const given = bearerToken(req);
    if (given === undefined) return null;
    if (!timingSafeEqual(digest(given), want))
      throw new SwitchboardError(ErrorCodes.UNAUTHORIZED, 'invalid backup token', { statusCode: 401 });
    return { kind: 'service', id: 'backup-token', name: 'BACKUP_TOKEN', via: 'bearer' };
  };
}
const backupCaller = { config: { access: { caller: ['service'] as const } } };

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
    access: { authenticators: [backupTokenAuthenticator(o.token)] },
  });

  // NOTE: answers when the backup is on disk, so a caller (an upgrade script) can rely on it.
  app.post('/backups', backupCaller, async (_req, reply) => {
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
  app.get('/backups', backupCaller, async () => ({ backups: await o.store.list() }));
  return app;
}
