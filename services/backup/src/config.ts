import { ErrorCodes, loadConfig, SwitchboardError } from '@switchboard/core';
import { Cron } from 'croner';
import { z } from 'zod';

const list = z
  .string()
  .default('')
  .transform((s) =>
    s
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0),
  );

const keep = (fallback: number) => z.coerce.number().int().min(0).max(1000).default(fallback);

/** What a backup contains and where it goes; shared by the service and the CLI. */
export const backupConfigShape = {
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  BACKUP_DIR: z.string().default('./backups'),
  /** Folders archived into workspace.tar.gz (skills, knowledge). */
  WORKSPACE_PATHS: list,
  /** Files copied as they are (.env, docker-compose.yml); they stay on this host, mode 0600. */
  CONFIG_PATHS: list,
  RABBITMQ_MANAGEMENT_URL: z.url().optional(),
  RABBITMQ_MANAGEMENT_USER: z.string().default('guest'),
  RABBITMQ_MANAGEMENT_PASSWORD: z.string().default('guest'),
  VAULT_ADDR: z.url().optional(),
  VAULT_TOKEN: z.string().optional(),
  BACKUP_KEEP_DAILY: keep(7),
  BACKUP_KEEP_WEEKLY: keep(4),
  BACKUP_KEEP_MONTHLY: keep(6),
  BACKUP_TZ: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'must be an IANA time zone such as Asia/Shanghai'),
  /** How long one external command (pg_dump, tar) may run. */
  BACKUP_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(1000).default(3_600_000),
};

export const backupConfigSchema = z.object(backupConfigShape);
export type BackupConfig = z.infer<typeof backupConfigSchema>;

export const serviceConfigSchema = z.object({
  ...backupConfigShape,
  BACKUP_SCHEDULE: z
    .string()
    .default('0 3 * * *')
    .refine((expr) => {
      try {
        new Cron(expr, { paused: true }).stop();
        return true;
      } catch {
        return false;
      }
    }, 'must be a cron expression (5 or 6 fields)'),
  BACKUP_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8090),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
});
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;

export function retentionPolicy(cfg: BackupConfig) {
  return {
    daily: cfg.BACKUP_KEEP_DAILY,
    weekly: cfg.BACKUP_KEEP_WEEKLY,
    monthly: cfg.BACKUP_KEEP_MONTHLY,
    timeZone: cfg.BACKUP_TZ,
  };
}

// NOTE: a Vault address without a token would only fail at 03:00; refuse it at start instead.
function checkVault<C extends BackupConfig>(cfg: C): C {
  if (cfg.VAULT_ADDR && !cfg.VAULT_TOKEN)
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      'invalid configuration:\n  VAULT_TOKEN: is required when VAULT_ADDR is set (set VAULT_TOKEN or VAULT_TOKEN_FILE)',
    );
  return cfg;
}

export function loadBackupConfig(env: NodeJS.ProcessEnv = process.env): BackupConfig {
  return checkVault(loadConfig(backupConfigSchema, env));
}

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return checkVault(loadConfig(serviceConfigSchema, env));
}
