import { counter, gauge, type MetricsRegistry } from '@switchboard/core';

export function backupMetrics(registry: MetricsRegistry) {
  const m = {
    lastSuccess: gauge(
      registry,
      'backup_last_success_timestamp_seconds',
      'Unix time the newest successful backup was started',
    ),
    total: counter(registry, 'backups_total', 'Backup runs by outcome', ['outcome']),
    lastDuration: gauge(registry, 'backup_last_duration_seconds', 'How long the latest backup run took'),
  };
  // Both series exist from the start, so increase(...{outcome="failure"}) alerts see the first one.
  for (const outcome of ['success', 'failure']) m.total.inc({ outcome }, 0);
  return m;
}

export type BackupMetrics = ReturnType<typeof backupMetrics>;
