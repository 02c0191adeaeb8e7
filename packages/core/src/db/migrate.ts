import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { ErrorCodes, errorMessage, SwitchboardError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** The bundled services find migrations through SB_MIGRATIONS_DIR; from source they sit beside the package. */
export function migrationsDir(): string {
  return (
    process.env.SB_MIGRATIONS_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../migrations')
  );
}

// Any fixed number works; it only has to be the same in every service so concurrent starts queue up.
const MIGRATION_LOCK = 7_432_001;

/**
 * Applies committed SQL migrations in file-name order, each once, each in its own transaction.
 * Every service runs this on start; the advisory lock makes concurrent starts wait instead of racing.
 */
export async function migrate(pool: pg.Pool, log: Logger, dir = migrationsDir()): Promise<string[]> {
  const files = readdirSync(dir)
    .filter((f) => /^\d+_.+\.sql$/.test(f))
    .sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = readFileSync(join(dir, file), 'utf8');
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new SwitchboardError(
          ErrorCodes.MIGRATION_FAILED,
          `migration ${file} failed: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
      applied.push(file);
      log.info('migration applied', { labels: { migration: file } });
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return applied;
}
