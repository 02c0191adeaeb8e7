import { errorMessage, type Logger } from '@switchboard/core';
import type { BackupOutcome, BackupRunner } from './backup-runner.ts';
import { isBackupError } from './errors.ts';
import type { BackupMetrics } from './metrics.ts';
import type { BackupStore } from './store.ts';

/** One backup run with its logging and metrics, whoever triggered it (schedule or HTTP). */
export class BackupJob {
  constructor(
    private readonly runner: BackupRunner,
    private readonly store: BackupStore,
    private readonly metrics: BackupMetrics,
    private readonly log: Logger,
  ) {}

  /** After a restart the gauge must not read 0, or the "no backup for a day" alert would fire. */
  async restoreLastSuccess(): Promise<void> {
    const newest = (await this.store.list()).at(-1);
    if (newest) this.metrics.lastSuccess.set(Date.parse(newest.created_at) / 1000);
  }

  async run(trigger: 'schedule' | 'http'): Promise<BackupOutcome> {
    const started = Date.now();
    this.log.info('backup started', { labels: { trigger } });
    try {
      const outcome = await this.runner.run();
      const { manifest, deleted } = outcome;
      this.metrics.total.inc({ outcome: 'success' });
      this.metrics.lastSuccess.set(Date.parse(manifest.created_at) / 1000);
      this.log.info('backup finished', {
        labels: { trigger, backup_id: manifest.id },
        event: { duration: (Date.now() - started) * 1e6 },
        components: manifest.components.map((c) => ({ name: c.name, status: c.status, reason: c.reason })),
        deleted,
      });
      return outcome;
    } catch (err) {
      const code = isBackupError(err) ? err.code : undefined;
      if (code === 'SB_ERR_BACKUP_ALREADY_RUNNING') {
        this.log.warn('backup not started: another one is running', { labels: { trigger } });
        throw err;
      }
      this.metrics.total.inc({ outcome: 'failure' });
      this.log.error('backup failed', { labels: { trigger }, error: { code, message: errorMessage(err) } });
      throw err;
    } finally {
      this.metrics.lastDuration.set((Date.now() - started) / 1000);
    }
  }
}
