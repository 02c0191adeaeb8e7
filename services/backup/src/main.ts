/**
 * backup: takes the appliance's backups on a schedule (BACKUP_SCHEDULE in BACKUP_TZ) and on
 * POST /backups; prunes old ones by BACKUP_KEEP_DAILY/WEEKLY/MONTHLY. Restores run from cli.ts.
 */
import {
  bootstrapSecrets,
  createLogger,
  createMetricsRegistry,
  handleShutdown,
  markShuttingDown,
  runMain,
} from '@switchboard/core';
import { Cron } from 'croner';
import { buildApp } from './app.ts';
import { BackupJob } from './backup-job.ts';
import { BackupRunner } from './backup-runner.ts';
import { loadServiceConfig } from './config.ts';
import { backupMetrics } from './metrics.ts';
import { BackupStore } from './store.ts';

runMain('backup', async () => {
  const registry = createMetricsRegistry('backup');
  const secrets = await bootstrapSecrets({ service: 'backup', defaultHttpPort: 8090, registry });
  const cfg = loadServiceConfig(secrets.env);
  const log = createLogger('backup', cfg.LOG_LEVEL);
  const store = new BackupStore(cfg.BACKUP_DIR);
  await store.ensureRoot();
  const stale = await store.removeUnfinished();
  if (stale.length > 0)
    log.warn('removed unfinished backups of an earlier run', { labels: { folders: stale.join(',') } });
  const runner = new BackupRunner(cfg, store);
  const job = new BackupJob(runner, store, backupMetrics(registry), log);
  await job.restoreLastSuccess();

  // protect: a run still going when the next tick fires is left alone rather than doubled.
  const cron = new Cron(cfg.BACKUP_SCHEDULE, { timezone: cfg.BACKUP_TZ, protect: true }, async () => {
    await job.run('schedule').catch(() => {});
  });
  const app = buildApp({
    token: cfg.BACKUP_TOKEN,
    job,
    store,
    log,
    registry,
    readiness: secrets.readiness,
  });
  const address = await app.listen({ host: cfg.HTTP_HOST, port: cfg.HTTP_PORT });
  log.info('backup listening', {
    labels: { address, schedule: cfg.BACKUP_SCHEDULE, timezone: cfg.BACKUP_TZ },
    next_run: cron.nextRun()?.toISOString(),
  });

  handleShutdown(log, cfg.SHUTDOWN_TIMEOUT_MS, [
    ['stop schedule', async () => cron.stop()],
    ['mark not ready', async () => markShuttingDown(app)],
    ['close http', () => app.close()],
    ['finish running backup', () => runner.idle()],
    ['stop secrets refresh', () => secrets.close()],
  ]);
});
