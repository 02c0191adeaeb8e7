import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { flagString, type Parsed } from './args.ts';
import { CliError, ExitCode } from './errors.ts';

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:8090';
/** Where the backup service answers inside the compose network (the CLI runs in the admin container). */
export const DEFAULT_BACKUP_URL = 'http://backup:8090';

/** NAME, or the contents of the file NAME_FILE names (Docker secrets); empty counts as unset. */
export function setting(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const direct = env[name]?.trim();
  if (direct) return direct;
  const file = env[`${name}_FILE`]?.trim();
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    throw new CliError(
      ExitCode.usage,
      `${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function baseUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(ExitCode.usage, `${name} "${value}" is not a URL such as http://127.0.0.1:8090`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(ExitCode.usage, `${name} "${value}" must be an http:// or https:// URL`);
  return url.toString().replace(/\/+$/, '');
}

export function adminUrl(p: Parsed, env = process.env): string {
  const flag = flagString(p, 'url');
  return baseUrl(
    flag ?? setting('SWITCHBOARD_URL', env) ?? DEFAULT_ADMIN_URL,
    flag ? '--url' : 'SWITCHBOARD_URL',
  );
}

export function adminToken(p: Parsed, env = process.env): string {
  const token = flagString(p, 'token') ?? setting('SWITCHBOARD_TOKEN', env);
  if (!token)
    throw new CliError(
      ExitCode.denied,
      'no admin token: set SWITCHBOARD_TOKEN or SWITCHBOARD_TOKEN_FILE, or pass --token (an admin makes one with `switchboard token create`)',
    );
  return token;
}

export function backupUrl(env = process.env): string {
  return baseUrl(setting('BACKUP_URL', env) ?? DEFAULT_BACKUP_URL, 'BACKUP_URL');
}

export function backupToken(env = process.env): string {
  const token = setting('BACKUP_TOKEN', env);
  if (!token)
    throw new CliError(
      ExitCode.denied,
      "no backup token: set BACKUP_TOKEN or BACKUP_TOKEN_FILE (the backup service's BACKUP_TOKEN)",
    );
  return token;
}

export function databaseUrl(env = process.env): string {
  const url = setting('DATABASE_URL', env);
  if (!url)
    throw new CliError(
      ExitCode.usage,
      'token commands write to PostgreSQL: set DATABASE_URL or DATABASE_URL_FILE',
    );
  if (!/^postgres(ql)?:\/\//.test(url))
    throw new CliError(ExitCode.usage, 'DATABASE_URL must be a postgres:// URL');
  return url;
}

/** How long one HTTP request may take (SWITCHBOARD_TIMEOUT_MS, default 30 s). */
export function requestTimeoutMs(env = process.env): number {
  const v = Number(env.SWITCHBOARD_TIMEOUT_MS ?? 30_000);
  return Number.isFinite(v) && v >= 100 ? v : 30_000;
}

/** Who runs the CLI, for the audit log: `cli:<os user>`. */
export function cliActor(env = process.env): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // A container user without a passwd entry.
  }
  name ||= env.USER || env.LOGNAME || `uid${process.getuid?.() ?? ''}`;
  return `cli:${name}`;
}
