import { createInterface } from 'node:readline/promises';
import { ErrorCodes, isSwitchboardError } from '@switchboard/core';
import { loadBackupConfig } from '../../../../services/backup/src/config.ts';
import { BackupErrorCode, isBackupError } from '../../../../services/backup/src/errors.ts';
import { type Manifest, verifyBackup } from '../../../../services/backup/src/manifest.ts';
import { restoreBackup } from '../../../../services/backup/src/restore.ts';
import { BackupStore } from '../../../../services/backup/src/store.ts';
import { backupClient } from '../api-client.ts';
import type { Command } from '../args.ts';
import { CliError, ExitCode } from '../errors.ts';
import { printJson, printTable, say, when } from '../output.ts';

const components = (m: Manifest) => m.components.map((c) => `${c.name}:${c.status}`).join(' ');

const now: Command = {
  name: 'backup now',
  synopsis: '[--json]',
  summary: 'take a backup now through the backup service; answers when it is on disk',
  details: 'Needs BACKUP_URL (default http://backup:8090) and BACKUP_TOKEN or BACKUP_TOKEN_FILE.',
  async run(p) {
    const r = await backupClient().call<{ id: string; manifest: Manifest; deleted: string[] }>(
      'POST',
      '/backups',
    );
    if (p.json) {
      printJson(r);
      return;
    }
    say(`backup ${r.id} taken`);
    for (const c of r.manifest.components)
      say(
        `  ${c.name}: ${c.status}${c.file ? ` ${c.file} (${c.size} bytes)` : ''}${c.reason ? ` - ${c.reason}` : ''}`,
      );
    for (const d of r.deleted) say(`deleted by retention: ${d}`);
  },
};

const list: Command = {
  name: 'backup list',
  synopsis: '[--json]',
  summary: 'complete backups, oldest first (from the backup service)',
  details: 'Needs BACKUP_URL (default http://backup:8090) and BACKUP_TOKEN or BACKUP_TOKEN_FILE.',
  async run(p) {
    const r = await backupClient().get<{ backups: Manifest[] }>('/backups');
    if (p.json) printJson(r);
    else
      printTable(
        ['ID', 'CREATED', 'SECONDS', 'COMPONENTS'],
        r.backups.map((m) => [m.id, when(m.created_at), m.duration_seconds, components(m)]),
        '(no backups)',
      );
  },
};

/** The backup code's failures as CLI exit statuses. */
function fromBackupError(err: unknown): unknown {
  if (isBackupError(err)) {
    const exit =
      err.code === BackupErrorCode.notFound
        ? ExitCode.notFound
        : err.code === BackupErrorCode.usage ||
            err.code === BackupErrorCode.confirmationRequired ||
            err.code === BackupErrorCode.config
          ? ExitCode.usage
          : ExitCode.failed;
    return new CliError(exit, `${err.message} (${err.code})`, { code: err.code });
  }
  if (isSwitchboardError(err) && err.code === ErrorCodes.CONFIG_INVALID)
    return new CliError(ExitCode.usage, err.message, { code: err.code });
  return err;
}

function localStore() {
  const cfg = loadBackupConfig();
  return { cfg, store: new BackupStore(cfg.BACKUP_DIR) };
}

const verify: Command = {
  name: 'backup verify',
  synopsis: '<id> [--json]',
  summary: 're-check every checksum of one backup (runs where the backups are: BACKUP_DIR)',
  args: ['id'],
  async run(p) {
    const id = p.args[0] ?? '';
    try {
      const { store } = localStore();
      const { files } = await verifyBackup(await store.get(id));
      if (p.json) printJson({ id, verified: files });
      else say(`backup ${id}: all ${files.length} checksums match`);
    } catch (err) {
      throw fromBackupError(err);
    }
  },
};

async function confirm(id: string): Promise<void> {
  if (!process.stdin.isTTY)
    throw new CliError(
      ExitCode.usage,
      'restore replaces the database; pass --yes when not running in a terminal',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(
    `This replaces the database's contents with backup ${id}. Type the id to go on: `,
  );
  rl.close();
  if (answer.trim() !== id) throw new CliError(ExitCode.failed, 'not confirmed; nothing changed');
}

const restore: Command = {
  name: 'backup restore',
  synopsis: '<id> [--yes]',
  summary: 'verify a backup, then restore PostgreSQL from it (asks first unless --yes)',
  details: `Runs here, not in the service: it reads BACKUP_DIR and writes DATABASE_URL (or their _FILE forms).
Every checksum is verified before anything changes; pg_restore runs in one transaction.
In compose: docker compose exec backup switchboard backup restore <id>`,
  options: { yes: { type: 'boolean' } },
  args: ['id'],
  async run(p) {
    const id = p.args[0] ?? '';
    try {
      const { cfg, store } = localStore();
      await store.get(id);
      if (p.flags.yes !== true) await confirm(id);
      await restoreBackup(cfg, store, id, (line) => say(line));
    } catch (err) {
      throw fromBackupError(err);
    }
  },
};

export const backupCommands: Command[] = [now, list, verify, restore];
