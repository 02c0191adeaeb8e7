import { constants } from 'node:fs';
import { access, chmod, chown, stat } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';

/** Where no workspace may be: it would put the host's system files "inside" it. */
const SYSTEM_ROOTS = ['/proc', '/sys', '/dev', '/etc', '/boot'];

/**
 * What the sandbox checks about itself before it serves: it is not root, not the tool-runner's
 * user (whose /proc/<pid>/environ holds the database password), and its workspace is a plain
 * directory it can enter, not the root or a system directory.
 */
export async function checkSandboxSelf(workspace: string, runnerUid: number | undefined): Promise<void> {
  const uid = process.getuid?.();
  if (uid === 0) {
    throw new Error(
      'the shell sandbox must not run as root: start it as a user of its own (the tool-runner does so in process mode, compose sets `user:`)',
    );
  }
  if (runnerUid !== undefined && uid === runnerUid) {
    throw new Error(`the shell sandbox must not run as the tool-runner's user (uid ${uid})`);
  }
  const under = (root: string) => {
    const rel = relative(root, workspace);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  if (workspace === '/' || SYSTEM_ROOTS.some(under)) {
    throw new Error(
      `WORKSPACE_DIR ${workspace} is a system directory; give the tools a directory of their own`,
    );
  }
  await access(workspace, constants.R_OK | constants.X_OK).catch(() => {
    throw new Error(`the workspace ${workspace} is not readable by the sandbox's user (uid ${uid})`);
  });
}

/** The user the tool-runner starts its sandbox as in process mode, or why it cannot. */
export type SandboxIdentity = { ok: true; uid: number; gid: number } | { ok: false; reason: string };

export function sandboxIdentity(
  want: { uid: number; gid: number },
  runnerUid: number | undefined = process.getuid?.(),
): SandboxIdentity {
  if (runnerUid !== 0) {
    return {
      ok: false,
      reason:
        'the shell tool is off: in process mode its sandbox must run as a user of its own, which only a tool-runner started as root can arrange (it then starts the sandbox as SHELL_SANDBOX_UID); run the sandbox as its own service (SHELL_SANDBOX=socket, as compose does) or start the tool-runner as root',
    };
  }
  if (want.uid === 0 || want.gid === 0) {
    return { ok: false, reason: 'the shell tool is off: SHELL_SANDBOX_UID/GID must not be 0 (root)' };
  }
  return { ok: true, uid: want.uid, gid: want.gid };
}

/**
 * Lets the sandbox's group enter and read the workspace: the workspace directory's group becomes
 * the sandbox's and gains r-x (never w: catalogue programs only read), with the set-group-id bit
 * so the per-caller folders the runner makes inside it (mode 0750) belong to that group too.
 * Returns what it changed, for the log.
 */
export async function grantWorkspace(workspace: string, gid: number): Promise<string | undefined> {
  const st = await stat(workspace);
  const mode = st.mode & 0o7777;
  const want = mode | 0o2050;
  if (st.gid === gid && mode === want) return undefined;
  await chown(workspace, st.uid, gid);
  await chmod(workspace, want);
  return `group ${st.gid} -> ${gid}, mode ${mode.toString(8)} -> ${want.toString(8)}`;
}
