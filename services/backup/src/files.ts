import { chmod, copyFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { runCommand } from './run-command.ts';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Archives the folders that exist into one tar.gz, each under its own base name; folders that do
 * not exist yet (a fresh install has no knowledge base) are reported, not fatal.
 */
export async function archiveFolders(
  paths: string[],
  file: string,
  timeoutMs: number,
): Promise<{ included: string[]; missing: string[] }> {
  const included: string[] = [];
  const missing: string[] = [];
  const args = ['--create', '--gzip', '--file', file];
  for (const p of paths) {
    const abs = resolve(p);
    if (!(await exists(abs))) {
      missing.push(p);
      continue;
    }
    if (included.some((q) => basename(resolve(q)) === basename(abs)))
      throw new Error(`WORKSPACE_PATHS: ${p} has the same folder name as another entry`);
    included.push(p);
    // './name' so a folder whose name starts with '-' is never read as an option.
    args.push('--directory', dirname(abs), `./${basename(abs)}`);
  }
  if (included.length > 0) {
    await runCommand('tar', args, { timeoutMs });
    await chmod(file, 0o600);
  }
  return { included, missing };
}

export async function copyPrivate(source: string, target: string): Promise<boolean> {
  if (!(await exists(source))) return false;
  await copyFile(source, target);
  await chmod(target, 0o600);
  return true;
}
