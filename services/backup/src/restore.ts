import { join } from 'node:path';
import { errorMessage } from '@switchboard/core';
import type { BackupConfig } from './config.ts';
import { BackupError, BackupErrorCode } from './errors.ts';
import { verifyBackup } from './manifest.ts';
import { restoreDatabase } from './postgres.ts';
import type { BackupStore } from './store.ts';

/**
 * Checks every checksum before touching anything, then restores PostgreSQL. Each step is reported
 * through `say` as it happens so an operator sees exactly what was done.
 */
export async function restoreBackup(
  cfg: BackupConfig,
  store: BackupStore,
  id: string,
  say: (line: string) => void,
): Promise<void> {
  const dir = await store.get(id);
  const { manifest, files } = await verifyBackup(dir);
  say(`verified ${files.length} files of backup ${id} (created ${manifest.created_at})`);
  const pg = manifest.components.find((c) => c.name === 'postgresql');
  if (pg?.status !== 'ok' || !pg.file)
    throw new BackupError(BackupErrorCode.manifestInvalid, `backup ${id} holds no PostgreSQL dump`);

  const target = new URL(cfg.DATABASE_URL);
  say(`restoring PostgreSQL into ${target.host}${target.pathname} (pg_restore --clean --if-exists)`);
  try {
    await restoreDatabase(cfg.DATABASE_URL, join(dir, pg.file), cfg.BACKUP_COMMAND_TIMEOUT_MS);
  } catch (err) {
    throw new BackupError(
      BackupErrorCode.restoreFailed,
      `PostgreSQL restore failed; it ran in one transaction, so the database is unchanged: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  say('PostgreSQL restored');
  for (const c of manifest.components) {
    if (c.name === 'postgresql') continue;
    if (c.status === 'ok' && c.file) say(`not restored automatically: ${c.name} -> ${join(dir, c.file)}`);
  }
}
