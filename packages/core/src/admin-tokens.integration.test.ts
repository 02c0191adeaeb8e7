import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/infra.ts';
import { AdminTokenStore, AuditLog, parseTokenTtl, roleAtLeast } from './admin-tokens.ts';
import { auditedChange } from './db/audited-change.ts';
import { migrate } from './db/migrate.ts';
import { createPool } from './db/pool.ts';
import { createLogger } from './logger.ts';

const log = createLogger('admin-tokens-test', 'error');

describe('admin tokens (real PostgreSQL)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let clock = new Date('2026-11-23T10:00:00Z');
  let store: AdminTokenStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, log);
    await migrate(pool, log);
    store = new AdminTokenStore(pool, () => clock);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('shows the token once, stores only its hash, and verifies it until it expires', async () => {
    const { token, record } = await store.create({
      name: 'alice',
      role: 'operator',
      ttlMs: parseTokenTtl('8h'),
      createdBy: 'cli',
    });
    expect(token).toMatch(/^sbt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({ name: 'alice', role: 'operator', revokedAt: null });
    expect(record.expiresAt.toISOString()).toBe('2026-11-23T18:00:00.000Z');
    const stored = await pool.query('SELECT * FROM admin_tokens WHERE id = $1', [record.id]);
    // The secret is everything after `sbt_<12-char id>_` (it may itself contain _ or -).
    expect(token.slice(17)).toHaveLength(43);
    expect(JSON.stringify(stored.rows)).not.toContain(token.slice(17));

    expect((await store.verify(token)).role).toBe('operator');
    clock = new Date('2026-11-23T18:00:00Z');
    await expect(store.verify(token)).rejects.toThrow('admin token expired');
    clock = new Date('2026-11-23T10:00:00Z');
  });

  it('refuses a revoked, unknown, tampered or malformed token with the reason and a 401', async () => {
    const { token, record } = await store.create({
      name: 'bob',
      role: 'viewer',
      ttlMs: 60_000,
      createdBy: 'cli',
    });
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    await expect(store.verify(tampered)).rejects.toMatchObject({
      statusCode: 401,
      message: 'unknown admin token',
    });
    await expect(store.verify(`sbt_000000000000_${'x'.repeat(43)}`)).rejects.toThrow('unknown admin token');
    await expect(store.verify('hello')).rejects.toThrow('not a Switchboard admin token');
    await expect(store.verify(undefined)).rejects.toThrow('no admin token');
    expect(await store.revoke(record.id)).toBe(true);
    await expect(store.verify(token)).rejects.toThrow('admin token revoked');
    expect(await store.revoke('nosuchtoken0')).toBe(false);
    expect((await store.list()).map((t) => t.name)).not.toContain('bob');
    expect((await store.list({ includeInactive: true })).map((t) => t.name)).toContain('bob');
  });

  it('parses lifetimes and refuses what is not one, or longer than 90 days', () => {
    expect(parseTokenTtl('30m')).toBe(1_800_000);
    expect(parseTokenTtl('7d')).toBe(604_800_000);
    expect(() => parseTokenTtl('8 hours')).toThrow('is not a duration');
    expect(() => parseTokenTtl('0h')).toThrow('is not a duration');
    expect(() => parseTokenTtl('91d')).toThrow('longer than the 90 days');
    expect(roleAtLeast('admin', 'operator')).toBe(true);
    expect(roleAtLeast('viewer', 'operator')).toBe(false);
  });

  it('records who changed what, newest first', async () => {
    const audit = new AuditLog(pool);
    await audit.record({ id: 'tok-a', name: 'alice' }, 'route.update', 'route:7', {
      before: { priority: 1 },
      after: { priority: 2 },
    });
    await audit.record({ id: 'tok-b', name: 'bob' }, 'parking.replay', 'msg-1');
    const entries = await audit.list({ limit: 10 });
    expect(entries.map((e) => [e.actor, e.action, e.target])).toEqual([
      ['bob', 'parking.replay', 'msg-1'],
      ['alice', 'route.update', 'route:7'],
    ]);
    expect(entries[1]?.details).toEqual({ before: { priority: 1 }, after: { priority: 2 } });
    expect((await audit.list({ actor: 'alice' })).map((e) => e.action)).toEqual(['route.update']);
    expect((await audit.list({ actorId: 'tok-b' })).map((e) => e.actor)).toEqual(['bob']);
  });

  it('commits a change and its audit row together, or neither', async () => {
    await pool.query('CREATE TABLE IF NOT EXISTS audited_things (name text PRIMARY KEY)');
    const who = { id: 'tok-c', name: 'carol' };
    // The store opens its own transaction: inside the audited change it nests as a savepoint.
    const insert = async (db: typeof pool, name: string) => {
      const c = await db.connect();
      try {
        await c.query('BEGIN');
        await c.query('INSERT INTO audited_things (name) VALUES ($1)', [name]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    };
    await auditedChange(pool, who, async (db) => {
      await insert(db, 'kept');
      return { result: null, audit: { action: 'thing.create', target: 'kept' } };
    });
    await expect(
      auditedChange(pool, who, async (db) => {
        await insert(db, 'dropped');
        throw new Error('the change failed after writing');
      }),
    ).rejects.toThrow('the change failed after writing');
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM audited_things ORDER BY name');
    expect(rows.map((r) => r.name)).toEqual(['kept']);
    const entries = await new AuditLog(pool).list({ actorId: 'tok-c' });
    expect(entries.map((e) => [e.actor, e.action, e.target])).toEqual([['carol', 'thing.create', 'kept']]);
  });
});
