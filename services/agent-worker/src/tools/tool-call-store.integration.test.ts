import { randomUUID } from 'node:crypto';
import type { ToolCaller } from '@switchboard/core';
import { createLogger, createPool, migrate, type Pool } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test/support/infra.ts';
import { ToolCallStore } from './tool-call-store.ts';
import type { ToolCallRecord } from './types.ts';

const log = createLogger('tool-call-store-test', 'error');

const caller = (over: Partial<ToolCaller> = {}): ToolCaller => ({
  platform: 'telegram',
  botId: 'bot1',
  conversationId: 'chat-42',
  userId: '1001',
  internalUserId: '0b7f5a8e-2a6c-4d7e-9d61-2c6f7a1b9e10',
  route: 'ops',
  messageId: 'tg:bot1:500',
  traceId: 'trace-500',
  ...over,
});

const call = (over: Partial<ToolCallRecord> = {}): ToolCallRecord => ({
  id: randomUUID(),
  callId: `call_${randomUUID().slice(0, 8)}`,
  round: 1,
  position: 0,
  tool: 'shell',
  arguments: { command: 'uptime' },
  status: 'ok',
  durationMs: 42,
  outputBytes: 120,
  truncated: false,
  ...over,
});

describe('ToolCallStore against PostgreSQL', () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: Pool;
  let store: ToolCallStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, log);
    await migrate(pool, log);
    store = new ToolCallStore(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('stores a round of calls with who made them, and lists them per message in call order', async () => {
    const who = caller({ messageId: 'tg:bot1:600', traceId: 'trace-600' });
    const round1 = [
      call({
        position: 0,
        tool: 'http_fetch',
        arguments: { url: 'https://status.example.com', headers: { a: 1 } },
      }),
      call({
        position: 1,
        tool: 'shell',
        arguments: { command: 'rm', args: ['-rf', '/'] },
        status: 'refused',
        errorCode: 'TOOL_REFUSED',
        durationMs: 0,
        outputBytes: 57,
      }),
    ];
    const round2 = [
      call({
        round: 2,
        tool: 'browser',
        status: 'timeout',
        errorCode: 'TOOL_TIMEOUT',
        durationMs: 30_000,
        outputBytes: 0,
      }),
    ];
    await store.record(who, round1);
    await store.record(who, round2);

    const rows = await store.listByMessage('tg:bot1:600');
    expect(rows.map((r) => [r.round, r.position, r.tool, r.status, r.errorCode])).toEqual([
      [1, 0, 'http_fetch', 'ok', undefined],
      [1, 1, 'shell', 'refused', 'TOOL_REFUSED'],
      [2, 0, 'browser', 'timeout', 'TOOL_TIMEOUT'],
    ]);
    const [first, second] = rows;
    expect(first).toEqual({
      ...round1[0],
      messageId: 'tg:bot1:600',
      traceId: 'trace-600',
      platform: 'telegram',
      botId: 'bot1',
      conversationId: 'chat-42',
      userId: '1001',
      internalUserId: '0b7f5a8e-2a6c-4d7e-9d61-2c6f7a1b9e10',
      route: 'ops',
      createdAt: expect.any(Date),
      finishedAt: expect.any(Date),
    });
    expect(second).toMatchObject({
      arguments: { command: 'rm', args: ['-rf', '/'] },
      durationMs: 0,
      outputBytes: 57,
    });
    expect(await store.listByMessage('tg:bot1:nothing')).toEqual([]);
  });

  it("lists one conversation's calls, newest first, and none of another conversation's", async () => {
    const conv = { platform: 'slack' as const, botId: 'B1', conversationId: 'C-list' };
    const a = caller({ ...conv, messageId: 'slack:Ev-a', route: undefined, internalUserId: undefined });
    const b = caller({ ...conv, messageId: 'slack:Ev-b' });
    await store.record(a, [call({ tool: 'files' })]);
    await store.record(b, [call({ tool: 'shell' }), call({ tool: 'http_fetch', position: 1 })]);
    // Same conversation id on another bot, and on another platform: not this conversation.
    await store.record(caller({ ...conv, botId: 'B2', messageId: 'slack:Ev-c' }), [call()]);
    await store.record(caller({ ...conv, platform: 'discord', messageId: 'dc:Ev-d' }), [call()]);

    const rows = await store.listByConversation(conv);
    expect(rows.map((r) => [r.messageId, r.tool])).toEqual([
      ['slack:Ev-b', 'shell'],
      ['slack:Ev-b', 'http_fetch'],
      ['slack:Ev-a', 'files'],
    ]);
    // Absent caller fields stay absent rather than becoming empty strings.
    expect(rows[2]).not.toHaveProperty('route');
    expect(rows[2]).not.toHaveProperty('internalUserId');
    expect((await store.listByConversation(conv, { limit: 2 })).map((r) => r.tool)).toEqual([
      'shell',
      'http_fetch',
    ]);
    expect((await store.listByConversation(conv, { limit: 2, offset: 2 })).map((r) => r.tool)).toEqual([
      'files',
    ]);
  });

  it('keeps arguments as the model wrote them, even with characters PostgreSQL refuses', async () => {
    const who = caller({ messageId: 'tg:bot1:nul' });
    const args = {
      text: 'a\u0000b',
      nested: [{ 'k\u0000': 'v' }],
      emoji: '🙂',
      n: 1.5,
      ok: true,
      none: null,
    };
    await store.record(who, [call({ tool: 'send\u0000message', arguments: args })]);
    const [row] = await store.listByMessage('tg:bot1:nul');
    expect(row?.arguments).toEqual({
      text: 'a\uFFFDb',
      nested: [{ 'k\uFFFD': 'v' }],
      emoji: '🙂',
      n: 1.5,
      ok: true,
      none: null,
    });
    expect(row?.tool).toBe('send\uFFFDmessage');
  });

  it('writes a call once even when the same batch is recorded again', async () => {
    const who = caller({ messageId: 'tg:bot1:twice' });
    const batch = [call(), call({ position: 1 })];
    await store.record(who, batch);
    await store.record(who, batch);
    expect(await store.listByMessage('tg:bot1:twice')).toHaveLength(2);
    await store.record(who, []);
    expect(await store.listByMessage('tg:bot1:twice')).toHaveLength(2);
  });

  it('writes a call as started before it runs, then completes that row; a finished row stays as it was', async () => {
    const who = caller({ messageId: 'tg:bot1:started' });
    const done = call({ status: 'error', errorCode: 'TOOL_FAILED', durationMs: 900, outputBytes: 12 });
    const { status: _s, errorCode: _e, durationMs: _d, outputBytes: _o, truncated: _t, ...start } = done;
    await store.start(who, start);
    // A crash here would leave exactly this: the call, who made it, and no outcome.
    const [running] = await store.listByMessage('tg:bot1:started');
    expect(running).toMatchObject({ id: done.id, tool: 'shell', status: 'started', durationMs: 0 });
    expect(running).not.toHaveProperty('finishedAt');

    await store.record(who, [done]);
    const [finished] = await store.listByMessage('tg:bot1:started');
    expect(finished).toMatchObject({
      id: done.id,
      status: 'error',
      errorCode: 'TOOL_FAILED',
      durationMs: 900,
      finishedAt: expect.any(Date),
    });
    // Starting it again (a redelivery) or recording another outcome changes nothing.
    await store.start(who, start);
    await store.record(who, [{ ...done, status: 'ok', errorCode: undefined }]);
    expect(await store.listByMessage('tg:bot1:started')).toEqual([finished]);
  });

  it('refuses a status the audit does not know, writing nothing of the batch', async () => {
    const who = caller({ messageId: 'tg:bot1:bad' });
    const err = await store
      .record(who, [call(), call({ position: 1, status: 'maybe' as 'ok' })])
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/tool_calls_status_check/);
    expect(await store.listByMessage('tg:bot1:bad')).toEqual([]);
  });

  it('answers the per-conversation and per-message queries from their indexes', async () => {
    const client = await pool.connect();
    try {
      // The table is tiny here; with sequential scans off the planner shows which index serves each query.
      await client.query('SET enable_seqscan = off');
      const plan = async (sql: string, values: unknown[]) =>
        (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      expect(
        await plan(
          'SELECT * FROM tool_calls WHERE platform = $1 AND bot_id = $2 AND conversation_id = $3 ORDER BY created_at DESC LIMIT 100',
          ['slack', 'B1', 'C-list'],
        ),
      ).toContain('tool_calls_conversation');
      expect(
        await plan('SELECT * FROM tool_calls WHERE message_id = $1 ORDER BY round, position', ['slack:Ev-b']),
      ).toContain('tool_calls_message');
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });
});
