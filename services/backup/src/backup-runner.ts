import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { errorMessage } from '@switchboard/core';
import { type BackupConfig, retentionPolicy } from './config.ts';
import { BackupError, BackupErrorCode } from './errors.ts';
import { archiveFolders, copyPrivate } from './files.ts';
import { exportRabbitDefinitions, vaultRaftSnapshot } from './http-exports.ts';
import {
  type Component,
  describeFile,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  type Manifest,
  SUMS_FILE,
  sha256File,
  sumsText,
} from './manifest.ts';
import { dumpDatabase } from './postgres.ts';
import { selectRetained } from './retention.ts';
import { type BackupStore, backupIdFor, TMP_PREFIX } from './store.ts';

export interface BackupOutcome {
  manifest: Manifest;
  deleted: string[];
}

const skipped = (name: string, reason: string): Component => ({ name, status: 'skipped', reason });

/**
 * Makes one backup: every component is written into a private temporary folder that is renamed
 * into place only once the manifest and checksums are on disk, so a half-written backup never
 * looks like a finished one. Older backups are pruned only after this one succeeded.
 */
export class BackupRunner {
  private current: Promise<BackupOutcome> | undefined;

  constructor(
    private readonly cfg: BackupConfig,
    private readonly store: BackupStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Settles when no backup is running; shutdown waits on it so a run is not cut off midway. */
  async idle(): Promise<void> {
    await this.current?.catch(() => {});
  }

  async run(): Promise<BackupOutcome> {
    if (this.current) throw new BackupError(BackupErrorCode.alreadyRunning, 'a backup is already running');
    this.current = this.runOnce();
    try {
      return await this.current;
    } finally {
      this.current = undefined;
    }
  }

  private async runOnce(): Promise<BackupOutcome> {
    const started = this.now();
    const id = backupIdFor(started);
    await this.store.ensureRoot();
    const tmp = join(this.store.root, `${TMP_PREFIX}${id}`);
    await mkdir(tmp, { mode: 0o700 });
    try {
      const components = await this.writeComponents(tmp);
      const manifest: Manifest = {
        version: MANIFEST_VERSION,
        id,
        created_at: started.toISOString(),
        duration_seconds: (Date.now() - started.getTime()) / 1000,
        components,
      };
      await writeFile(join(tmp, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      const sums = components.flatMap((c) =>
        c.file && c.sha256 ? [{ file: c.file, sha256: c.sha256 }] : [],
      );
      sums.push({ file: MANIFEST_FILE, sha256: await sha256File(join(tmp, MANIFEST_FILE)) });
      await writeFile(join(tmp, SUMS_FILE), sumsText(sums), { mode: 0o600 });
      await rename(tmp, this.store.pathOf(id));
      return { manifest, deleted: await this.prune() };
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  private async writeComponents(dir: string): Promise<Component[]> {
    const cfg = this.cfg;
    const timeout = cfg.BACKUP_COMMAND_TIMEOUT_MS;
    const out: Component[] = [];
    const step = async (name: string, work: () => Promise<Component>) => {
      try {
        out.push(await work());
      } catch (err) {
        throw new BackupError(BackupErrorCode.componentFailed, `${name}: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    };

    await step('postgresql', async () => {
      await dumpDatabase(cfg.DATABASE_URL, join(dir, 'postgresql.dump'), timeout);
      return describeFile(dir, 'postgresql', 'postgresql.dump', { format: 'pg_dump custom (-Fc)' });
    });

    // NOTE: the broker re-declares its topology on start, so a missing export is worth a note in
    // the manifest, not a failed backup.
    if (!cfg.RABBITMQ_MANAGEMENT_URL) out.push(skipped('rabbitmq', 'RABBITMQ_MANAGEMENT_URL is not set'));
    else {
      const url = cfg.RABBITMQ_MANAGEMENT_URL;
      try {
        await exportRabbitDefinitions(
          url,
          cfg.RABBITMQ_MANAGEMENT_USER,
          cfg.RABBITMQ_MANAGEMENT_PASSWORD,
          join(dir, 'rabbitmq-definitions.json'),
        );
        out.push(await describeFile(dir, 'rabbitmq', 'rabbitmq-definitions.json'));
      } catch (err) {
        await rm(join(dir, 'rabbitmq-definitions.json'), { force: true });
        out.push(skipped('rabbitmq', `export failed: ${errorMessage(err)}`));
      }
    }

    if (cfg.WORKSPACE_PATHS.length === 0) out.push(skipped('workspace', 'WORKSPACE_PATHS is not set'));
    else
      await step('workspace', async () => {
        const { included, missing } = await archiveFolders(
          cfg.WORKSPACE_PATHS,
          join(dir, 'workspace.tar.gz'),
          timeout,
        );
        if (included.length === 0)
          return skipped('workspace', `none of ${cfg.WORKSPACE_PATHS.join(', ')} exists`);
        return describeFile(dir, 'workspace', 'workspace.tar.gz', { included, missing });
      });

    if (cfg.CONFIG_PATHS.length > 0) {
      await mkdir(join(dir, 'config'), { mode: 0o700 });
      const names = new Set<string>();
      for (const source of cfg.CONFIG_PATHS) {
        const name = basename(source);
        const file = `config/${name}`;
        if (names.has(name))
          throw new BackupError(BackupErrorCode.componentFailed, `CONFIG_PATHS: ${name} is listed twice`);
        names.add(name);
        await step(`config:${source}`, async () =>
          (await copyPrivate(source, join(dir, file)))
            ? describeFile(dir, `config:${source}`, file, { source })
            : skipped(`config:${source}`, `${source} does not exist`),
        );
      }
    }

    if (!cfg.VAULT_ADDR || !cfg.VAULT_TOKEN)
      out.push(skipped('vault', 'VAULT_ADDR and VAULT_TOKEN are not set'));
    else {
      const addr = cfg.VAULT_ADDR;
      const token = cfg.VAULT_TOKEN;
      await step('vault', async () => {
        await vaultRaftSnapshot(addr, token, join(dir, 'vault-raft.snap'));
        return describeFile(dir, 'vault', 'vault-raft.snap');
      });
    }
    return out;
  }

  /** Deletes complete backups outside the retention policy; never the one just made. */
  private async prune(): Promise<string[]> {
    const all = await this.store.list();
    const keep = selectRetained(
      all.map((m) => ({ id: m.id, createdAt: new Date(m.created_at) })),
      retentionPolicy(this.cfg),
    );
    const deleted: string[] = [];
    for (const m of all) {
      if (keep.has(m.id)) continue;
      await this.store.remove(m.id);
      deleted.push(m.id);
    }
    return deleted;
  }
}
