import { chmod } from 'node:fs/promises';
import { runCommand } from './run-command.ts';

/**
 * libpq settings for a DATABASE_URL with the password moved to PGPASSWORD, so it never shows
 * in the process list the way a password inside a command-line URL would.
 */
export function libpqTarget(databaseUrl: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const url = new URL(databaseUrl);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (password) env.PGPASSWORD = password;
  return { dbname: url.toString(), env };
}

export async function dumpDatabase(databaseUrl: string, file: string, timeoutMs: number): Promise<void> {
  const { dbname, env } = libpqTarget(databaseUrl);
  await runCommand('pg_dump', ['--format=custom', '--no-password', '--file', file, '--dbname', dbname], {
    env,
    timeoutMs,
  });
  // pg_dump honours the umask; the dump holds every secret the database does.
  await chmod(file, 0o600);
}

/**
 * Replaces the database's objects with the dump's in one transaction: if anything fails, the
 * database is left as it was.
 */
export async function restoreDatabase(databaseUrl: string, file: string, timeoutMs: number): Promise<void> {
  const { dbname, env } = libpqTarget(databaseUrl);
  await runCommand(
    'pg_restore',
    [
      '--clean',
      '--if-exists',
      '--single-transaction',
      '--exit-on-error',
      '--no-owner',
      '--no-password',
      '--dbname',
      dbname,
      file,
    ],
    { env, timeoutMs },
  );
}
