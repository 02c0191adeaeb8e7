import { realpath } from 'node:fs/promises';
import { createLogger, runMain } from '@switchboard/core';
import { loadSandboxConfig } from './config.ts';
import { checkSandboxSelf } from './identity.ts';
import { resolvePrograms } from './programs.ts';
import { SandboxServer } from './server.ts';

/**
 * Entry point of the shell sandbox. In compose it is its own container (network_mode: none,
 * read-only root, the workspace volume, the socket volume); in process mode the tool-runner starts
 * it as a child process under a uid of its own. It holds no secrets: it is given only the
 * settings below, and it refuses to start as root or as the tool-runner's user.
 */
runMain('tool-sandbox', async () => {
  const cfg = loadSandboxConfig();
  const log = createLogger('tool-sandbox', cfg.LOG_LEVEL);
  const workspace = await realpath(cfg.WORKSPACE_DIR);
  await checkSandboxSelf(workspace, cfg.SANDBOX_RUNNER_UID);
  const programs = await resolvePrograms(
    cfg.SHELL_ALLOWLIST.map((p) => p.name),
    cfg.SHELL_PATH,
  );
  const server = new SandboxServer(
    {
      socketPath: cfg.SANDBOX_SOCKET,
      workspace,
      allowlist: cfg.SHELL_ALLOWLIST,
      programs,
      path: cfg.SHELL_PATH,
      maxTimeoutMs: cfg.SHELL_TIMEOUT_MS,
      maxOutputBytes: cfg.SHELL_MAX_OUTPUT_BYTES,
      maxConcurrent: cfg.SHELL_MAX_CONCURRENT,
    },
    log,
  );
  await server.listen();
  log.info('shell sandbox listening', {
    labels: {
      socket: cfg.SANDBOX_SOCKET,
      commands: [...programs.values()].join(','),
      uid: String(process.getuid?.()),
    },
  });

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shell sandbox stopping', { labels: { reason: why } });
    await server.close().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  if (cfg.SANDBOX_EXIT_WITH_PARENT === '1') {
    // The parent holds our stdin open; EOF means it died (even by SIGKILL) and we must not linger.
    process.stdin.on('end', () => void stop('parent exited'));
    process.stdin.on('error', () => void stop('parent exited'));
    process.stdin.resume();
  }
});
