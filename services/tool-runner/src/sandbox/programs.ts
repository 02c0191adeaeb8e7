import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * Finds each allowlisted program on SHELL_PATH once, at start, and pins it to its real path: the
 * sandbox then runs that file, whatever appears on the path later. A name that resolves to a
 * file of another name (busybox, a multi-call coreutils) is refused: such a binary picks what to
 * be from argv[0] and its options are not the ones the catalogue checks.
 */
export async function resolvePrograms(names: string[], searchPath: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const dirs = searchPath.split(':').filter(Boolean);
  for (const name of names) {
    let found: string | undefined;
    for (const dir of dirs) {
      const candidate = join(dir, name);
      const ok = await access(candidate, constants.X_OK)
        .then(async () => (await stat(candidate)).isFile())
        .catch(() => false);
      if (ok) {
        found = await realpath(candidate);
        break;
      }
    }
    if (!found) throw new Error(`shell program "${name}" is not on SHELL_PATH (${searchPath})`);
    if (basename(found) !== name) {
      throw new Error(
        `shell program "${name}" resolves to ${found}, a different program; the catalogue's rules are for ${name} itself`,
      );
    }
    out.set(name, found);
  }
  return out;
}
