import type { Logger } from '@switchboard/core';
import { grantWorkspace, sandboxIdentity } from './identity.ts';
import { type SandboxSettings, sandboxEnv } from './sandbox-env.ts';
import { SandboxSupervisor } from './supervisor.ts';

export interface ShellSandboxSetup {
  /** The child sandbox (spawn mode), stopped at shutdown. */
  supervisor?: SandboxSupervisor;
  socketPath: string;
  /** Why the shell tool is off: every call is answered with it. */
  off?: string;
}

/**
 * Where the shell tool's sandbox is. socket mode: a sandbox service at SANDBOX_SOCKET. spawn
 * mode: a child started as SHELL_SANDBOX_UID/GID — or, when this process cannot switch users,
 * no sandbox at all and the shell tool off, rather than commands running as us.
 */
export async function setUpShellSandbox(
  cfg: SandboxSettings & {
    SHELL_SANDBOX: 'spawn' | 'socket';
    SANDBOX_SOCKET: string;
    SHELL_SANDBOX_UID: number;
    SHELL_SANDBOX_GID: number;
  },
  workspace: string,
  log: Logger,
): Promise<ShellSandboxSetup> {
  if (cfg.SHELL_SANDBOX === 'socket') return { socketPath: cfg.SANDBOX_SOCKET };
  const user = sandboxIdentity({ uid: cfg.SHELL_SANDBOX_UID, gid: cfg.SHELL_SANDBOX_GID });
  if (!user.ok) {
    log.error('shell tool off', { error: { code: 'TOOL_UNAVAILABLE', message: user.reason } });
    return { socketPath: cfg.SANDBOX_SOCKET, off: user.reason };
  }
  const granted = await grantWorkspace(workspace, user.gid);
  if (granted) {
    log.warn('workspace opened for reading to the shell sandbox group', {
      labels: { workspace, change: granted },
    });
  }
  const supervisor = new SandboxSupervisor({ env: sandboxEnv(cfg, workspace), user, log });
  await supervisor.start();
  return { supervisor, socketPath: supervisor.socketPath };
}
