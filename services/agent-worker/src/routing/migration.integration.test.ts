import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, migrate, migrationsDir, type Pool } from '@switchboard/core';
import { parseModelChain } from '@switchboard/models';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturedLogger } from '../../../../test/support/captured-logger.ts';
import { createTestDatabase, waitFor } from '../../../../test/support/infra.ts';
import { type RouteDecision, Router } from './router.ts';

const MIGRATION = '010_routing_platform_ids.sql';
const INTERNAL = '7b7e0f6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b';

/**
 * Migration 010 on rules written under the old, platform-blind conditions: a database migrated up
 * to 009, rules inserted as they were stored then, then the real migration run as on an upgrade.
 */
describe('migration 010: user and channel conditions name their platform', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let oldDir: string;
  const captured = capturedLogger('routing-migration-test', 'info');

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, captured.log);
    oldDir = mkdtempSync(join(tmpdir(), 'sb-migrations-'));
    for (const f of readdirSync(migrationsDir()).filter((f) => f < MIGRATION)) {
      copyFileSync(join(migrationsDir(), f), join(oldDir, f));
    }
    await migrate(pool, captured.log, oldDir);
    await pool.query(`INSERT INTO agent_profiles (name, tools) VALUES ('ops', '{shell}')`);
    await pool.query(
      `INSERT INTO routing_rules (position, name, match, target) VALUES
        (1, 'slack user', '{"platform":"slack","user":"U123"}', '{"profile":"ops"}'),
        (2, 'chat users', $1, '{"profile":"ops"}'),
        (3, 'bare user', '{"user":["U123","U999"]}', '{"profile":"ops"}'),
        (4, 'bare channel', '{"channel":"C456","text":"^#ops"}', '{"profile":"ops"}'),
        (5, 'no ids', '{"platform":"web","text":"^hi"}', '{"action":"ignore"}')`,
      [JSON.stringify({ platform: ['telegram', 'discord'], user: INTERNAL, channel: ['-100', 'G1'] })],
    );
    expect(await migrate(pool, captured.log)).toContain(MIGRATION);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
    if (oldDir) rmSync(oldDir, { recursive: true, force: true });
  });

  const row = async (name: string) =>
    (await pool.query('SELECT enabled, match, disabled_reason FROM routing_rules WHERE name = $1', [name]))
      .rows[0] as { enabled: boolean; match: Record<string, unknown>; disabled_reason: string | null };

  it('qualifies the ids of a rule limited to platforms, with each of them; nothing wider', async () => {
    expect(await row('slack user')).toEqual({
      enabled: true,
      match: { platform: 'slack', user: 'slack:U123' },
      disabled_reason: null,
    });
    expect(await row('chat users')).toEqual({
      enabled: true,
      match: {
        platform: ['telegram', 'discord'],
        // A UUID used to match our own user id too: it keeps doing so, on verified platforms only.
        user: [`telegram:${INTERNAL}`, `discord:${INTERNAL}`, `internal:${INTERNAL}`],
        channel: ['telegram:-100', 'discord:-100', 'telegram:G1', 'discord:G1'],
      },
      disabled_reason: null,
    });
    expect(await row('no ids')).toEqual({
      enabled: true,
      match: { platform: 'web', text: '^hi' },
      disabled_reason: null,
    });
  });

  it('disables a rule whose ids name no platform, keeps its match, and says why', async () => {
    for (const name of ['bare user', 'bare channel']) {
      const r = await row(name);
      expect(r.enabled, name).toBe(false);
      expect(r.disabled_reason, name).toMatch(/^Disabled by migration 010: .* names no platform/);
    }
    expect((await row('bare user')).match).toEqual({ user: ['U123', 'U999'] });
  });

  it('routes only by the converted rules, shows the disabled ones with their reason, and logs them once', async () => {
    const router = new Router({
      pool,
      databaseUrl: db.url,
      log: captured.log,
      defaults: { systemPrompt: 'Default.', modelChain: parseModelChain('ollama/fake-small') },
      reloadIntervalMs: 600_000,
      regexBudgetMs: 25,
      applicationName: 'sb-routing-migration-test',
    });
    await router.start();
    try {
      expect(router.rules.map((r) => r.name)).toEqual(['slack user', 'chat users', 'no ids']);
      const env = (over: Partial<Parameters<Router['resolve']>[0]>) =>
        ({
          v: 1,
          kind: 'inbound',
          id: `m-${Math.random()}`,
          platform: 'web',
          botId: 'b',
          conversationId: 'c',
          user: { id: 'someone' },
          text: 'x',
          attachments: [],
          receivedAt: new Date().toISOString(),
          traceId: 't',
          ...over,
        }) as Parameters<Router['resolve']>[0];
      const route = (d: RouteDecision) => d.route;
      expect(route(await router.resolve(env({ platform: 'slack', user: { id: 'U123' } })))).toBe(
        'slack user',
      );
      // The web client that claims U123, or talks in "C456", gets the default route.
      expect(route(await router.resolve(env({ user: { id: 'U123' } })))).toBe('default');
      expect(route(await router.resolve(env({ conversationId: 'C456', text: '#ops' })))).toBe('default');

      const listed = await router.store.listRules();
      const bare = listed.find((r) => r.name === 'bare user')!;
      expect(bare.disabledReason).toMatch(/Disabled by migration 010/);
      // The console shows `problem`: the migration's reason and what the validation says now.
      expect(bare.problem).toMatch(/Disabled by migration 010.*user "U123" names no platform/);

      await router.reload();
      const warned = captured
        .lines()
        .filter((l) => l.message === 'routing rule disabled until an administrator fixes it')
        .map((l) => (l.labels as Record<string, string>).rule);
      expect(warned.sort()).toEqual(['bare channel', 'bare user']);

      // Fixed by an administrator: enabled again, the reason gone.
      const before = router.version;
      const fixed = await router.store.updateRule(bare.id, { enabled: true, match: { user: 'slack:U999' } });
      expect(fixed).toMatchObject({ enabled: true, match: { user: 'slack:U999' } });
      expect(fixed.disabledReason).toBeUndefined();
      expect((await row('bare user')).disabled_reason).toBeNull();
      await waitFor('the reload after the fix', () => router.version > before, 5_000);
      expect(route(await router.resolve(env({ platform: 'slack', user: { id: 'U999' } })))).toBe('bare user');
    } finally {
      await router.stop();
    }
  });
});
