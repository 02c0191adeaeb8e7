import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/infra.ts';
import { runCli } from './cli-harness.ts';

const SEED = `
  CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL);
  CREATE TABLE blobs (id int PRIMARY KEY, owner int REFERENCES users(id), data bytea NOT NULL);
  CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb NOT NULL);
  INSERT INTO users (name, created_at) VALUES
    ('Zhāng Wěi 张伟', '2026-01-02T03:04:05Z'), ('Ωmega 🚀 ünïcödé', '2026-02-03T04:05:06Z'), ('plain', now());
  INSERT INTO blobs VALUES (1, 1, decode('00ff10e29c93', 'hex')), (2, 2, '\\x'::bytea);
  INSERT INTO blobs SELECT 3, 3, string_agg(set_byte('\\x00'::bytea, 0, i), ''::bytea) FROM generate_series(0, 255) i;
  INSERT INTO events (payload) SELECT jsonb_build_object('n', i, 'text', '消息 ' || i) FROM generate_series(1, 500) i;
`;

async function snapshot(db: pg.Client) {
  const q = async (sql: string) => (await db.query(sql)).rows;
  return {
    users: await q('SELECT id, name, created_at FROM users ORDER BY id'),
    blobs: await q("SELECT id, owner, encode(data, 'hex') AS data FROM blobs ORDER BY id"),
    events: await q('SELECT id, payload FROM events ORDER BY id'),
    nextUser: await q('SELECT last_value FROM users_id_seq'),
  };
}

describe('backup CLI: back up, wipe, restore', () => {
  let dbUrl: string;
  let dropDb: () => Promise<void>;
  let db: pg.Client;
  let work: string;
  let env: Record<string, string>;
  let id: string;
  let before: Awaited<ReturnType<typeof snapshot>>;

  beforeAll(async () => {
    ({ url: dbUrl, drop: dropDb } = await createTestDatabase());
    db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    await db.query(SEED);
    before = await snapshot(db);
    work = await mkdtemp(join(tmpdir(), 'sb-backup-'));
    await writeFile(join(work, '.env'), 'SECRET_TOKEN=do-not-leak\n');
    env = {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: join(work, 'backups'),
      CONFIG_PATHS: join(work, '.env'),
      WORKSPACE_PATHS: join(work, 'missing-folder'),
    };
  });

  afterAll(async () => {
    await db?.end();
    await dropDb?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('takes a backup with a private folder, a manifest and checksums', async () => {
    const r = await runCli(['now'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    id = /backup (\d{8}T\d{9}Z) written/.exec(r.stdout)?.[1] ?? '';
    expect(id).not.toBe('');
    const dir = join(env.BACKUP_DIR as string, id);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const f of ['postgresql.dump', 'manifest.json', 'SHA256SUMS', 'config/.env'])
      expect((await stat(join(dir, f))).mode & 0o777).toBe(0o600);
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const byName = Object.fromEntries(manifest.components.map((c: { name: string }) => [c.name, c]));
    expect(byName.postgresql).toMatchObject({ status: 'ok', file: 'postgresql.dump' });
    expect(byName.postgresql.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(byName.rabbitmq).toMatchObject({
      status: 'skipped',
      reason: 'RABBITMQ_MANAGEMENT_URL is not set',
    });
    expect(byName.vault.status).toBe('skipped');
    expect(byName.workspace.status).toBe('skipped');
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    expect(sums).toContain(`${byName.postgresql.sha256}  postgresql.dump`);
    expect(sums).toMatch(/ {2}manifest\.json\n/);

    const list = await runCli(['list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    expect((await runCli(['verify', id], env)).code).toBe(0);
  });

  it('restores the wiped data exactly, in one command', async () => {
    await db.query('DROP TABLE blobs; TRUNCATE users, events');
    await db.query("INSERT INTO users (name, created_at) VALUES ('after backup', now())");
    const r = await runCli(['restore', id, '--yes'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/verified 3 files/);
    expect(r.stdout).toContain('PostgreSQL restored');
    expect(await snapshot(db)).toEqual(before);
  });

  it('refuses to restore without --yes when stdin is not a terminal, changing nothing', async () => {
    await db.query("INSERT INTO users (name, created_at) VALUES ('unconfirmed', now())");
    const r = await runCli(['restore', id], env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('SB_ERR_BACKUP_CONFIRMATION_REQUIRED');
    expect((await db.query("SELECT 1 FROM users WHERE name = 'unconfirmed'")).rowCount).toBe(1);
  });

  it('refuses a corrupted backup, naming the file, and leaves the database untouched', async () => {
    const dump = join(env.BACKUP_DIR as string, id, 'postgresql.dump');
    const bytes = await readFile(dump);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(dump, bytes);
    await db.query("INSERT INTO users (name, created_at) VALUES ('must survive', now())");
    const state = await snapshot(db);

    const r = await runCli(['restore', id, '--yes'], env);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('SB_ERR_BACKUP_CHECKSUM_MISMATCH');
    expect(r.stderr).toContain('postgresql.dump');
    expect(r.stdout).not.toContain('restoring');
    expect(await snapshot(db)).toEqual(state);

    const v = await runCli(['verify', id], env);
    expect(v.code).toBe(65);
    expect(v.stderr).toContain('postgresql.dump');
  });

  it('answers bad input with a code and exit status', async () => {
    const unknown = await runCli(['restore', '20200101T000000000Z', '--yes'], env);
    expect(unknown.code).toBe(66);
    expect(unknown.stderr).toContain('SB_ERR_BACKUP_NOT_FOUND');
    const traversal = await runCli(['verify', '../../etc'], env);
    expect(traversal.code).toBe(64);
    expect(traversal.stderr).toContain('SB_ERR_BACKUP_USAGE');
    const usage = await runCli(['explode'], env);
    expect(usage.code).toBe(64);
    const config = await runCli(['list'], { ...env, DATABASE_URL: 'mysql://x' });
    expect(config.code).toBe(78);
    expect(config.stderr).toContain('DATABASE_URL');
  });
});
