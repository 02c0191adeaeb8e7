import { createLogger, createPool, migrate, type Pool, withTransaction } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test/support/infra.ts';
import { TokenUsage, usageUserId } from './token-usage.ts';

const log = createLogger('usage-test', 'error');

describe('TokenUsage in PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let pool: Pool;
  let usage: TokenUsage;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, log);
    await migrate(pool, log);
    usage = new TokenUsage(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('adds up calls per UTC day, user, route and model, and reports totals', async () => {
    const day1 = new Date('2025-03-01T23:59:00Z');
    const day2 = new Date('2025-03-02T00:01:00Z');
    await usage.record({
      userId: 'u1',
      route: 'default',
      model: 'ollama/a',
      promptTokens: 100,
      completionTokens: 20,
      at: day1,
    });
    await usage.record({
      userId: 'u1',
      route: 'default',
      model: 'ollama/a',
      promptTokens: 50,
      completionTokens: 5,
      at: day1,
    });
    await usage.record({
      userId: 'u1',
      route: 'urgent',
      model: 'openai/b',
      promptTokens: 10,
      completionTokens: 1,
      at: day1,
    });
    await usage.record({ userId: 'u2', route: 'default', model: 'ollama/a', promptTokens: 7, at: day2 });
    // Several workers at once still add up: the upsert is atomic.
    await Promise.all(
      Array.from({ length: 20 }, () =>
        usage.record({
          userId: 'u3',
          route: 'default',
          model: 'ollama/a',
          promptTokens: 1,
          completionTokens: 1,
          at: day2,
        }),
      ),
    );

    const rows = await pool.query('SELECT count(*)::int AS n FROM token_usage');
    expect(rows.rows[0].n).toBe(4);
    expect(await usage.totals()).toEqual([{ requests: 24, promptTokens: 187, completionTokens: 46 }]);
    expect(await usage.totals({ groupBy: ['user'] })).toEqual([
      { userId: 'u1', requests: 3, promptTokens: 160, completionTokens: 26 },
      { userId: 'u2', requests: 1, promptTokens: 7, completionTokens: 0 },
      { userId: 'u3', requests: 20, promptTokens: 20, completionTokens: 20 },
    ]);
    expect(await usage.totals({ userId: 'u1', groupBy: ['route', 'model'] })).toEqual([
      { route: 'default', model: 'ollama/a', requests: 2, promptTokens: 150, completionTokens: 25 },
      { route: 'urgent', model: 'openai/b', requests: 1, promptTokens: 10, completionTokens: 1 },
    ]);
    expect(await usage.totals({ from: '2025-03-02', to: '2025-03-02', groupBy: ['day'] })).toEqual([
      { day: '2025-03-02', requests: 21, promptTokens: 27, completionTokens: 20 },
    ]);
    expect(await usage.totals({ model: 'nope' })).toEqual([
      { requests: 0, promptTokens: 0, completionTokens: 0 },
    ]);
    await expect(usage.totals({ from: '1 March' })).rejects.toThrow(/YYYY-MM-DD/);
  });

  it('counts inside the turn transaction only when it commits', async () => {
    const at = new Date('2025-04-01T12:00:00Z');
    await withTransaction(pool, (c) =>
      usage.record({ userId: 'tx', route: 'r', model: 'm', promptTokens: 5, at }, c),
    );
    await withTransaction(pool, async (c) => {
      await usage.record({ userId: 'tx', route: 'r', model: 'm', promptTokens: 500, at }, c);
      throw new Error('turn failed');
    }).catch(() => {});
    expect(await usage.totals({ userId: 'tx' })).toEqual([
      { requests: 1, promptTokens: 5, completionTokens: 0 },
    ]);
  });

  it('counts a person under our own id when known, else platform and platform id', () => {
    expect(usageUserId({ platform: 'telegram', user: { id: '42' } })).toBe('telegram:42');
    const internalId = '7b7e0b8e-8f3e-4f5e-9f2a-1c2d3e4f5a6b';
    expect(usageUserId({ platform: 'slack', user: { id: 'U1', internalId } })).toBe(internalId);
  });
});
