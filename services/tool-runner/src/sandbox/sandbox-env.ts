import type { AllowedProgram } from './allowlist.ts';

export interface SandboxSettings {
  LOG_LEVEL: string;
  SHELL_ALLOWLIST: AllowedProgram[];
  SHELL_PATH: string;
  SHELL_TIMEOUT_MS: number;
  SHELL_MAX_OUTPUT_BYTES: number;
  SHELL_MAX_CONCURRENT: number;
}

/**
 * The complete environment of a sandbox the runner starts: its own settings and nothing else —
 * no database URL, broker URL or token ever reaches the process that runs commands.
 */
export function sandboxEnv(cfg: SandboxSettings, workspace: string): Record<string, string> {
  return {
    PATH: cfg.SHELL_PATH,
    LOG_LEVEL: cfg.LOG_LEVEL,
    WORKSPACE_DIR: workspace,
    SHELL_ALLOWLIST: cfg.SHELL_ALLOWLIST.map((c) => c.name).join(','),
    SHELL_PATH: cfg.SHELL_PATH,
    SHELL_TIMEOUT_MS: String(cfg.SHELL_TIMEOUT_MS),
    SHELL_MAX_OUTPUT_BYTES: String(cfg.SHELL_MAX_OUTPUT_BYTES),
    SHELL_MAX_CONCURRENT: String(cfg.SHELL_MAX_CONCURRENT),
  };
}
