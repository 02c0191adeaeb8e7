import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError, BackupErrorCode } from './errors.ts';
import { type Manifest, readManifest } from './manifest.ts';

const ID = /^\d{8}T\d{6}\d{3}Z$/;
export const TMP_PREFIX = '.tmp-';

/** Sortable and safe as a folder name: 20261123T030000123Z. */
export function backupIdFor(date: Date): string {
  return date.toISOString().replace(/[-:.]/g, '');
}

export function isBackupId(id: string): boolean {
  return ID.test(id);
}

/** The backup folders under BACKUP_DIR; only complete ones (a manifest) count. */
export class BackupStore {
  readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  async ensureRoot(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  /** Rejects anything but a well-formed id, so a CLI argument can never point outside the root. */
  pathOf(id: string): string {
    if (!isBackupId(id))
      throw new BackupError(BackupErrorCode.usage, `"${id}" is not a backup id (like 20261123T030000123Z)`);
    return join(this.root, id);
  }

  async list(): Promise<Manifest[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const out: Manifest[] = [];
    for (const name of names.filter(isBackupId).sort()) {
      try {
        out.push(await readManifest(join(this.root, name)));
      } catch {
        // A folder without a readable manifest is not a backup this service made or finished.
      }
    }
    return out;
  }

  async get(id: string): Promise<string> {
    const dir = this.pathOf(id);
    const all = await readdir(this.root).catch(() => [] as string[]);
    if (!all.includes(id)) throw new BackupError(BackupErrorCode.notFound, `no backup ${id} in ${this.root}`);
    return dir;
  }

  async remove(id: string): Promise<void> {
    await rm(this.pathOf(id), { recursive: true, force: true });
  }

  /** Folders a crashed or killed run left behind. */
  async removeUnfinished(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const stale = names.filter((n) => n.startsWith(TMP_PREFIX));
    for (const n of stale) await rm(join(this.root, n), { recursive: true, force: true });
    return stale;
  }
}
