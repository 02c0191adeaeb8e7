/**
 * backup CLI, for operators and upgrade scripts:
 *   backup now                  take a backup now (same settings as the service)
 *   backup list                 list complete backups, oldest first
 *   backup verify <id>          re-check every checksum of one backup
 *   backup restore <id> [--yes] verify, then restore PostgreSQL into DATABASE_URL
 * Exit status: 0 done, 64 usage, 65 corrupt backup, 66 unknown id, 75 busy, 78 bad config, 1 failed.
 */
import { createInterface } from 'node:readline/promises';
import { ErrorCodes, errorMessage, isSwitchboardError } from '@switchboard/core';
import { BackupRunner } from './backup-runner.ts';
import { loadBackupConfig } from './config.ts';
import { BackupError, BackupErrorCode, exitCodes, isBackupError } from './errors.ts';
import { verifyBackup } from './manifest.ts';
import { restoreBackup } from './restore.ts';
import { BackupStore } from './store.ts';

const USAGE = 'usage: backup now | list | verify <id> | restore <id> [--yes]';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function confirmRestore(id: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new BackupError(
      BackupErrorCode.confirmationRequired,
      'restore replaces the database; pass --yes when not running in a terminal',
    );
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(
    `This replaces the database's contents with backup ${id}. Type the id to go on: `,
  );
  rl.close();
  if (answer.trim() !== id)
    throw new BackupError(BackupErrorCode.confirmationRequired, 'not confirmed; nothing changed');
}

async function main(argv: string[]): Promise<void> {
  const yes = argv.includes('--yes');
  const [command, id, ...rest] = argv.filter((a) => a !== '--yes');
  const needsId = command === 'verify' || command === 'restore';
  if (
    !command ||
    rest.length > 0 ||
    needsId !== (id !== undefined) ||
    !['now', 'list', 'verify', 'restore'].includes(command)
  )
    throw new BackupError(BackupErrorCode.usage, USAGE);

  const cfg = loadBackupConfig();
  const store = new BackupStore(cfg.BACKUP_DIR);
  if (command === 'now') {
    const { manifest, deleted } = await new BackupRunner(cfg, store).run();
    say(`backup ${manifest.id} written to ${store.pathOf(manifest.id)}`);
    for (const c of manifest.components)
      say(
        `  ${c.name}: ${c.status}${c.file ? ` ${c.file} (${c.size} bytes)` : ''}${c.reason ? ` - ${c.reason}` : ''}`,
      );
    for (const d of deleted) say(`deleted by retention: ${d}`);
  } else if (command === 'list') {
    for (const m of await store.list()) {
      const parts = m.components.map((c) => `${c.name}:${c.status}`).join(' ');
      say(`${m.id}  ${m.created_at}  ${parts}`);
    }
  } else if (command === 'verify' && id) {
    const { files } = await verifyBackup(await store.get(id));
    say(`backup ${id}: all ${files.length} checksums match`);
  } else if (command === 'restore' && id) {
    await store.get(id);
    await confirmRestore(id, yes);
    await restoreBackup(cfg, store, id, say);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isBackupError(err)) {
    process.stderr.write(`backup: ${err.code}: ${err.message}\n`);
    process.exitCode = exitCodes[err.code];
  } else if (isSwitchboardError(err) && err.code === ErrorCodes.CONFIG_INVALID) {
    process.stderr.write(`backup: ${err.code}: ${err.message}\n`);
    process.exitCode = 78;
  } else {
    process.stderr.write(`backup: failed: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
});
