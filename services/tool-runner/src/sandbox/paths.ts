import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { PathSlot } from './allowlist.ts';

export type Confined = { ok: true; args: string[] } | { ok: false; reason: string };

const inside = (root: string, p: string) => {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** The real path of `p`, or of its deepest existing ancestor with the rest appended. */
async function realish(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    const parent = dirname(p);
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) throw err;
    return join(await realish(parent), basename(p));
  }
}

/**
 * Confines every path argument to the workspace (its real path) and puts the resolved path in
 * its place, relative to the workspace (the command's working directory): a symbolic link is
 * followed here, once, and the program gets the target, so a link pointing out (`escape ->
 * /etc`) is refused and a link swapped after the check is never followed by the program. A path
 * that does not exist yet passes if its existing ancestors are inside; the program reports it.
 */
export async function confinePaths(workspace: string, args: string[], slots: PathSlot[]): Promise<Confined> {
  const out = [...args];
  for (const s of slots) {
    const shown = s.value.slice(0, 120);
    if (s.value === '') return { ok: false, reason: 'an empty path is not a file in the workspace' };
    const abs = resolve(workspace, s.value);
    if (!inside(workspace, abs)) {
      return {
        ok: false,
        reason: `"${shown}" is outside the workspace; files are named relative to the workspace, e.g. "notes.txt"`,
      };
    }
    let real: string;
    try {
      real = await realish(abs);
    } catch (err) {
      return { ok: false, reason: `"${shown}" cannot be resolved (${(err as NodeJS.ErrnoException).code})` };
    }
    if (!inside(workspace, real)) {
      return { ok: false, reason: `"${shown}" leads out of the workspace through a symbolic link` };
    }
    const rel = relative(workspace, real) || '.';
    // A leading dash would make the program read the path as an option.
    out[s.index] = `${s.prefix}${rel.startsWith('-') ? `./${rel}` : rel}`;
  }
  return { ok: true, args: out };
}
