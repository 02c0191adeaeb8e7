import { loadConfig } from '@switchboard/core';
import { z } from 'zod';
import { parseShellAllowlist } from './allowlist.ts';
import { DEFAULT_SHELL_ALLOWLIST } from './catalogue.ts';

/** The shell allowlist as a setting: parsed and checked at start, so a bad entry stops the service. */
export const shellAllowlistSetting = z
  .string()
  .default(DEFAULT_SHELL_ALLOWLIST)
  .transform((s, ctx) => {
    try {
      return parseShellAllowlist(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/** Settings the shell sandbox and the tool-runner share (the runner passes them on in spawn mode). */
export const shellConfigShape = {
  /**
   * Programs the shell tool may run: comma-separated names from the shipped catalogue
   * (sandbox/catalogue.ts), which fixes the options and operands each may take: `df,uptime,grep`.
   */
  SHELL_ALLOWLIST: shellAllowlistSetting,
  /** The only directories programs are looked up in. */
  SHELL_PATH: z
    .string()
    .regex(/^\/[^:]*(:\/[^:]*)*$/, 'colon-separated absolute directories')
    .default('/usr/local/bin:/usr/bin:/bin'),
  /** A command is killed (with everything it started) after this long. */
  SHELL_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** stdout and stderr together; the command is stopped when it prints more. */
  SHELL_MAX_OUTPUT_BYTES: z.coerce.number().int().min(256).max(16_777_216).default(65_536),
  /** Where commands run; they cannot be started anywhere else. */
  WORKSPACE_DIR: z.string().startsWith('/', 'must be an absolute path').default('/workspace'),
};

export const sandboxConfigSchema = z.object({
  ...shellConfigShape,
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /** The unix socket the tool-runner connects to (on a volume both containers mount). */
  SANDBOX_SOCKET: z.string().startsWith('/', 'must be an absolute path').default('/run/sandbox/shell.sock'),
  /** Commands running at once; more are answered "busy". */
  SHELL_MAX_CONCURRENT: z.coerce.number().int().min(1).max(64).default(4),
  /** Set by the tool-runner that starts the sandbox: the sandbox refuses to run under that uid. */
  SANDBOX_RUNNER_UID: z.coerce.number().int().min(0).optional(),
  /** Set by the tool-runner when it starts the sandbox as its child: exit when the parent is gone. */
  SANDBOX_EXIT_WITH_PARENT: z.enum(['0', '1']).default('0'),
});
export type SandboxConfig = z.infer<typeof sandboxConfigSchema>;

export const loadSandboxConfig = (env: NodeJS.ProcessEnv = process.env): SandboxConfig =>
  loadConfig(sandboxConfigSchema, env);
