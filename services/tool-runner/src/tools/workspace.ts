import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ErrorCodes, SwitchboardError, type ToolCaller } from '@switchboard/core';
import { refused, ToolError } from '../tool.ts';

/** A conversation's folder name: platform, bot and id, hashed (ids may hold any character). */
export function conversationKey(platform: string, botId: string, conversationId: string): string {
  return createHash('sha256').update(`${platform}\0${botId}\0${conversationId}`).digest('hex').slice(0, 32);
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * The one directory the files tool works in. A path is accepted only if it is relative, has no
 * `..` segment and no NUL, and every directory and file it names — after following symlinks —
 * lies inside the workspace. Files are opened with O_NOFOLLOW and, once open, the kernel's own
 * idea of what was opened (/proc/self/fd) is checked again, so a symlink swapped in between the
 * check and the open is caught too.
 */
export class Workspace {
  private constructor(readonly root: string) {}

  /** Fails like a bad setting (exit 78) when the directory is missing: nothing can work without it. */
  static async open(dir: string): Promise<Workspace> {
    const root = await realpath(dir).catch(() => undefined);
    if (!root || !(await stat(root)).isDirectory()) {
      throw new SwitchboardError(
        ErrorCodes.CONFIG_INVALID,
        `WORKSPACE_DIR: ${dir} is not an existing directory`,
      );
    }
    return new Workspace(root);
  }

  /**
   * The folder of one caller under this root: `workflows/<name>` for a workflow's calls,
   * `conversations/<hash>` for a conversation's (the hash of platform, bot and conversation id, so
   * no id a client picks can name another's folder or a path). Derived from the verified grant and
   * caller only; created on first use; refused if anything on the way is not a plain directory.
   */
  async forCaller(caller: ToolCaller): Promise<Workspace> {
    const grant = caller.grant;
    if (!grant) throw refused('the call names no grant, so it has no workspace');
    const [area, leaf] =
      grant.kind === 'workflow'
        ? ['workflows', grant.workflow]
        : ['conversations', conversationKey(caller.platform, caller.botId, caller.conversationId)];
    let dir = this.root;
    for (const seg of [area, leaf]) {
      dir = join(dir, seg);
      await mkdir(dir, { mode: 0o750 }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      // A symlink or file planted where the folder belongs (by a tool of the shared layout before
      // per-caller folders) must not redirect the caller.
      const st = await lstat(dir);
      if (!st.isDirectory()) throw refused(`the workspace folder ${this.show(dir)} is not a directory`);
    }
    return new Workspace(dir);
  }

  /** Splits a user path into segments, refusing anything that could name a place outside. */
  segments(raw: string | undefined): string[] {
    const p = raw ?? '';
    if (p.includes('\0')) throw refused('paths may not contain NUL bytes');
    if (p.startsWith('/')) {
      throw refused(`"${p.slice(0, 200)}" is absolute; paths are relative to the workspace root`);
    }
    const segs = p.split('/').filter((s) => s !== '' && s !== '.');
    if (segs.includes('..')) {
      throw refused(`"${p.slice(0, 200)}" contains "..": paths may not leave the workspace`);
    }
    return segs;
  }

  contains(real: string): boolean {
    return real === this.root || real.startsWith(this.root + sep);
  }

  /** Path relative to the root, for output. */
  show(real: string): string {
    return relative(this.root, real) || '.';
  }

  /**
   * The real path of an existing entry, refused if a symlink on the way leads out of the workspace.
   * Walked one component at a time, so a path through an outside link is refused before anything
   * beyond it is looked at — whether it exists out there is not revealed.
   */
  async resolveExisting(segs: string[]): Promise<string> {
    let real = this.root;
    for (const [i, seg] of segs.entries()) {
      const shown = segs.slice(0, i + 1).join('/');
      const next = join(real, seg);
      let st: Stats;
      try {
        st = await lstat(next);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new ToolError('TOOL_FAILED', `${shown} does not exist`);
        if (code === 'ENOTDIR')
          throw new ToolError('TOOL_FAILED', `${segs.slice(0, i).join('/')} is not a directory`);
        throw err;
      }
      if (st.isSymbolicLink()) {
        const target = await realpath(next).catch(() => undefined);
        if (target === undefined || !this.contains(target)) {
          throw refused(`${shown} leads out of the workspace through a symlink`);
        }
        real = target;
      } else {
        real = next;
      }
    }
    return real;
  }

  /** Opens an existing regular file for reading; `directoryHint` follows the "is a directory" refusal. */
  async openRead(
    segs: string[],
    directoryHint = ' (use op "list")',
  ): Promise<{ fh: FileHandle; real: string; size: number }> {
    const real = await this.resolveExisting(segs);
    const fh = await this.openChecked(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, segs);
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new ToolError(
        'TOOL_FAILED',
        st.isDirectory()
          ? `${this.show(real)} is a directory${directoryHint}`
          : `${this.show(real)} is not a regular file`,
      );
    }
    return { fh, real, size: st.size };
  }

  /** Opens (creating it and missing parent directories) a regular file for writing. */
  async openWrite(segs: string[]): Promise<{ fh: FileHandle; real: string }> {
    const name = segs.at(-1);
    if (!name) throw new ToolError('TOOL_BAD_ARGUMENTS', 'write needs a file path, not the workspace root');
    let dir = this.root;
    for (const seg of segs.slice(0, -1)) {
      const p = join(dir, seg);
      const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (!st) {
        await mkdir(p, { mode: 0o755 });
        dir = p;
      } else if (st.isSymbolicLink()) {
        const real = await realpath(p).catch(() => {
          throw refused(`${this.show(p)} is a symlink to nowhere`);
        });
        if (!this.contains(real))
          throw refused(`${this.show(p)} leads out of the workspace through a symlink`);
        dir = real;
      } else if (st.isDirectory()) {
        dir = p;
      } else {
        throw new ToolError('TOOL_FAILED', `${this.show(p)} is not a directory`);
      }
    }
    let target = join(dir, name);
    const st = await lstat(target).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      // A link inside the workspace is followed; one leading out (or nowhere) is not.
      const real = await realpath(target).catch(() => {
        throw refused(`${this.show(target)} is a symlink to nowhere`);
      });
      if (!this.contains(real))
        throw refused(`${segs.join('/')} leads out of the workspace through a symlink`);
      target = real;
    }
    const fh = await this.openChecked(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK, segs, 0o644);
    const after = await fh.stat();
    if (!after.isFile()) {
      await fh.close();
      throw new ToolError('TOOL_FAILED', `${this.show(target)} is not a regular file`);
    }
    return { fh, real: target };
  }

  private async openChecked(path: string, flags: number, segs: string[], mode?: number): Promise<FileHandle> {
    let fh: FileHandle;
    try {
      fh = await open(path, flags, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ELOOP: the last component became a symlink after we resolved it.
      if (code === 'ELOOP') throw refused(`${segs.join('/')} is a symlink that changed while it was opened`);
      if (code === 'EISDIR') throw new ToolError('TOOL_FAILED', `${segs.join('/')} is a directory`);
      throw new ToolError('TOOL_FAILED', `${segs.join('/')}: ${code ?? (err as Error).message}`);
    }
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => undefined);
    if (opened !== undefined && !this.contains(opened)) {
      await fh.close();
      throw refused(`${segs.join('/')} leads out of the workspace`);
    }
    return fh;
  }
}
