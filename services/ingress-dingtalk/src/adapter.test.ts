import type { InboundSink, NormalizedMessage, PlatformAdapter } from '@switchboard/connector';
import { PlatformApiError } from '@switchboard/connector';
import { createLogger, createMetricsRegistry, createPool, migrate, type Pool } from '@switchboard/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDingtalk, startFakeDingtalk } from '../../../test/fakes/dingtalk/server.ts';
import { createTestDatabase, waitFor } from '../../../test/support/infra.ts';
import { DingtalkAdapter, titleOf } from './adapter.ts';
import { loadDingtalkConfig } from './config.ts';

let dt: FakeDingtalk;
/** The callback route keeps the signatures it has seen in PostgreSQL (replay protection). */
let pool: Pool;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const deps = { log: createLogger('test', 'error'), registry: createMetricsRegistry('test') };
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dt = await startFakeDingtalk();
  db = await createTestDatabase();
  pool = createPool(db.url, deps.log, { max: 2 });
  await migrate(pool, deps.log);
});
afterAll(async () => {
  await dt.close();
  await pool?.end();
  await db?.drop();
});
afterEach(async () => {
  dt.failNextSends(0, 'server_error');
  while (cleanups.length) await cleanups.pop()!();
});

function config(env: Record<string, string> = {}) {
  return loadDingtalkConfig({
    AMQP_URL: 'amqp://127.0.0.1',
    DATABASE_URL: 'postgres://127.0.0.1/x',
    DINGTALK_APP_KEY: dt.appKey,
    DINGTALK_APP_SECRET: dt.appSecret,
    DINGTALK_API_URL: dt.url,
    ...env,
  });
}

/** A started adapter on a real Fastify server, with a sink that records what it is handed. */
async function started(env: Record<string, string> = {}, sink?: InboundSink) {
  const taken: NormalizedMessage[] = [];
  const http: FastifyInstance = Fastify();
  const adapter: PlatformAdapter = new DingtalkAdapter(config(env), deps);
  await adapter.start({
    http,
    pool,
    sink:
      sink ??
      (async (m) => {
        taken.push(m);
        return 'published';
      }),
  });
  await http.ready();
  cleanups.push(
    () => http.close(),
    () => adapter.stop(),
  );
  return { adapter, http, taken };
}

describe('config', () => {
  it('names the missing credential', () => {
    expect(() => loadDingtalkConfig({ AMQP_URL: 'amqp://x', DATABASE_URL: 'postgres://x' })).toThrow(
      /DINGTALK_APP_KEY: is required[\s\S]*DINGTALK_APP_SECRET: is required/,
    );
  });

  it('refuses an unknown mode and a session webhook origin that is not a URL', () => {
    expect(() => config({ DINGTALK_MODE: 'polling' })).toThrow(/DINGTALK_MODE/);
    expect(() => config({ DINGTALK_SESSION_WEBHOOK_ORIGINS: 'oapi.dingtalk.com' })).toThrow(
      /DINGTALK_SESSION_WEBHOOK_ORIGINS/,
    );
  });
});

describe('start', () => {
  it('stops with a clear message when DingTalk refuses the credentials', async () => {
    const adapter = new DingtalkAdapter(config({ DINGTALK_APP_SECRET: 'not-the-secret' }), deps);
    await expect(adapter.start({ http: Fastify(), sink: async () => 'published' })).rejects.toThrow(
      /DINGTALK_APP_KEY \/ DINGTALK_APP_SECRET were refused/,
    );
  });
});

describe('HTTP callback', () => {
  const post = (http: FastifyInstance, body: unknown, headers: Record<string, string>) =>
    http.inject({ method: 'POST', url: '/dingtalk/callback', headers, payload: body as object });

  it('takes a signed message, answers 200 with an empty body', async () => {
    const { http, taken } = await started();
    const body = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cid1',
      userId: 'staff-1',
      text: 'hello',
    });
    const res = await post(http, body, dt.signHeaders());
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    expect(taken.map((m) => m.text)).toEqual(['hello']);
  });

  it('refuses wrong, missing and stale signatures with 401 before reading the body', async () => {
    const { http, taken } = await started();
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cid1', userId: 'u', text: 'forged' });
    for (const headers of [
      dt.signHeaders('another-secret'),
      {},
      dt.signHeaders(dt.appSecret, Date.now() - 2 * 60 * 60 * 1000),
    ]) {
      const res = await post(http, body, headers);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ code: 'SB_ERR_SIGNATURE_INVALID' });
    }
    const garbage = await http.inject({
      method: 'POST',
      url: '/dingtalk/callback',
      headers: { 'content-type': 'application/json' },
      payload: '{not json',
    });
    expect(garbage.statusCode).toBe(401);
    expect(taken).toHaveLength(0);
  });

  it('answers 400 with the reason to a signed but malformed message', async () => {
    const { http, taken } = await started();
    const body = { ...dt.robotMessage({ chat: 'direct', conversationId: 'c', userId: 'u', text: 'x' }) };
    delete body.conversationId;
    const res = await post(http, body, dt.signHeaders());
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/conversationId/);
    expect(taken).toHaveLength(0);
  });

  it('answers 503 when the message could not be taken, so DingTalk retries', async () => {
    const { http } = await started({}, async () => Promise.reject(new Error('broker unavailable')));
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'c', userId: 'u', text: 'x' });
    expect((await post(http, body, dt.signHeaders())).statusCode).toBe(503);
  });
});

describe('sendText', () => {
  const target = (m: NormalizedMessage) => ({
    conversationId: m.conversationId,
    inReplyTo: 'env-1',
    context: m.replyContext,
  });

  it('answers through the session webhook while it is valid', async () => {
    const { http, adapter, taken } = await started();
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidW', userId: 'staff-w', text: 'x' });
    await http.inject({
      method: 'POST',
      url: '/dingtalk/callback',
      headers: dt.signHeaders(),
      payload: body,
    });
    await adapter.sendText(target(taken[0]!), '## Result\n\n**ok**');
    expect(dt.sends.at(-1)).toMatchObject({
      via: 'session',
      conversationId: 'cidW',
      msgtype: 'markdown',
      title: 'Result',
      text: '## Result\n\n**ok**',
    });
  });

  it('falls back to the API once the webhook expired: batchSend for a person, groupMessages/send for a group', async () => {
    const { http, adapter, taken } = await started();
    for (const m of [
      dt.robotMessage({
        chat: 'direct',
        conversationId: 'cidOld1',
        userId: 'staff-old',
        text: 'x',
        sessionTtlMs: 30_000,
      }),
      dt.robotMessage({
        chat: 'group',
        conversationId: 'cidOld2',
        userId: 'staff-old',
        text: 'x',
        mention: true,
        sessionTtlMs: -1,
      }),
    ]) {
      await http.inject({ method: 'POST', url: '/dingtalk/callback', headers: dt.signHeaders(), payload: m });
    }
    await adapter.sendText(target(taken[0]!), 'late answer 1');
    await adapter.sendText(target(taken[1]!), 'late answer 2');
    expect(dt.sends.slice(-2)).toMatchObject([
      { via: 'oto', conversationId: 'cidOld1', text: 'late answer 1' },
      { via: 'group', conversationId: 'cidOld2', text: 'late answer 2' },
    ]);
  });

  it('falls back to the API when the session webhook refuses the message', async () => {
    const { adapter } = await started();
    dt.robotMessage({ chat: 'direct', conversationId: 'cidGone', userId: 'staff-gone', text: 'x' });
    const context = {
      conversationType: '1',
      openConversationId: 'cidGone',
      senderStaffId: 'staff-gone',
      sessionWebhook: `${dt.url}/robot/sendBySession?session=unknown`,
      sessionWebhookExpiresAt: Date.now() + 3_600_000,
    };
    await adapter.sendText({ conversationId: 'cidGone', inReplyTo: 'e', context }, 'still here');
    expect(dt.sends.at(-1)).toMatchObject({ via: 'oto', conversationId: 'cidGone', text: 'still here' });
  });

  it('posts to a group by conversation id when no context was stored (proactive message)', async () => {
    const { adapter } = await started();
    dt.robotMessage({ chat: 'group', conversationId: 'cidProactive', userId: 'u', text: 'x' });
    await adapter.sendText(
      { conversationId: 'cidProactive', inReplyTo: 'e', context: undefined },
      'cron says hi',
    );
    expect(dt.sends.at(-1)).toMatchObject({ via: 'group', conversationId: 'cidProactive' });
  });

  it('refuses for good a direct reply it cannot address (expired webhook, no staff id)', async () => {
    const { adapter } = await started();
    const context = { conversationType: '1', openConversationId: 'cidExt' };
    const err = await adapter
      .sendText({ conversationId: 'cidExt', inReplyTo: 'e', context }, 'x')
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlatformApiError);
    expect(err.retryable).toBe(false);
  });

  it('turns webhook throttling (errcode 130101) into a 429 with a wait', async () => {
    const { http, adapter, taken } = await started();
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidT', userId: 'staff-t', text: 'x' });
    await http.inject({
      method: 'POST',
      url: '/dingtalk/callback',
      headers: dt.signHeaders(),
      payload: body,
    });
    dt.failNextSends(1, 'rate_limit');
    const err = await adapter.sendText(target(taken[0]!), 'x').catch((e) => e);
    expect(err).toBeInstanceOf(PlatformApiError);
    expect(err).toMatchObject({ status: 429, retryable: true });
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(1_000);
  });
});

describe('titleOf', () => {
  it('takes the first line without Markdown marks, shortened', () => {
    expect(titleOf('## Disk **full** on [db1](http://x)\nmore')).toBe('Disk full on db1');
    expect(titleOf('\n\n- first item')).toBe('first item');
    expect(titleOf('```')).toBe('Reply');
    expect([...titleOf('字'.repeat(100))]).toHaveLength(40);
  });
});

describe('Stream mode', () => {
  it('takes messages from the gateway and acknowledges them once taken', async () => {
    const { adapter, taken } = await started({ DINGTALK_MODE: 'stream' });
    expect(adapter.isReady?.()).toBe(true);
    const body = dt.robotMessage({
      chat: 'group',
      conversationId: 'cidS',
      userId: 'staff-s',
      text: 'hi',
      mention: true,
    });
    const frame = dt.pushStreamCallback(body);
    await waitFor('the frame to be acknowledged', () => dt.streamAcks.has(frame));
    expect(dt.streamAcks.get(frame)).toEqual({ response: null });
    expect(taken.map((m) => [m.chatType, m.text, m.addressedToBot])).toEqual([['group', 'hi', true]]);
  });

  it('leaves a message it could not take unacknowledged, so the gateway pushes it again', async () => {
    let calls = 0;
    await started({ DINGTALK_MODE: 'stream' }, async () => {
      calls++;
      throw new Error('broker unavailable');
    });
    const frame = dt.pushStreamCallback(
      dt.robotMessage({ chat: 'direct', conversationId: 'c', userId: 'u', text: 'x' }),
    );
    await waitFor('the sink to be called', () => calls === 1);
    // Frames are handled in order: once the later ping is answered, the failed one was settled.
    const ping = dt.pushSystem('ping', { opaque: 'abc' });
    await waitFor('the ping to be answered', () => dt.streamAcks.has(ping));
    expect(dt.streamAcks.get(ping)).toEqual({ opaque: 'abc' });
    expect(dt.streamAcks.has(frame)).toBe(false);
  });

  it('reconnects with a fresh ticket when the gateway asks it to go', async () => {
    const { adapter } = await started({ DINGTALK_MODE: 'stream' });
    const opened = dt.streamsOpened;
    dt.pushSystem('disconnect', { reason: 'rebalance' });
    await waitFor('a new stream connection', () => dt.streamsOpened > opened && adapter.isReady?.());
    expect(dt.streamConnections).toBe(1);
  });
});
