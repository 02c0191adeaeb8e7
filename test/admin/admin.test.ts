import { randomUUID } from 'node:crypto';
import {
  AdminTokenStore,
  createLogger,
  type Delivery,
  ErrorCodes,
  LogShipper,
  SwitchboardError,
} from '@switchboard/core';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { AdminTestbed } from './harness.ts';

const bed = new AdminTestbed();

beforeAll(async () => {
  await bed.start();
});
afterAll(async () => {
  await bed.stop();
});

describe('authentication and roles', () => {
  it('refuses no token, an unknown, an expired and a revoked token with 401 and the reason', async () => {
    const none = await bed.call('GET', '/admin/api/me');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED' } });
    expect((none.body.error as { message: string }).message).toMatch(/authentication required/);
    const expired = await bed.call('GET', '/admin/api/me', { as: 'expired' });
    expect(expired.status).toBe(401);
    expect((expired.body.error as { message: string }).message).toMatch(/expired/);
    const revoked = await bed.call('GET', '/admin/api/me', { as: 'revoked' });
    expect(revoked.status).toBe(401);
    expect((revoked.body.error as { message: string }).message).toMatch(/revoked/);
    const junk = await bed.call('GET', '/admin/api/me', { token: `sbt_aaaaaaaaaaaa_${'x'.repeat(43)}` });
    expect(junk.status).toBe(401);
  });

  it('answers /me with the caller', async () => {
    const me = await bed.call('GET', '/admin/api/me', { as: 'operator' });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ name: 'operator-user', role: 'operator' });
    expect(typeof me.body.expiresAt).toBe('string');
  });

  it('login makes a server-side session: the cookie holds a session id, scoped to the consoles', async () => {
    const origin = { origin: bed.url };
    const res = await bed.call('POST', '/admin/login', {
      body: { token: bed.tokens.viewer },
      headers: origin,
    });
    expect(res.status).toBe(200);
    const cookies = res.headers.getSetCookie();
    // The console and each console nginx guards with auth_request; never `/` (chat page, APIs).
    expect(cookies.map((c) => /Path=([^;]+)/.exec(c)?.[1])).toEqual([
      '/admin',
      '/rabbitmq/',
      '/kibana/',
      '/alertmanager/',
    ]);
    for (const c of cookies) {
      expect(c).toMatch(/^sb_session=[A-Za-z0-9_-]{43};/);
      expect(c).toMatch(/HttpOnly/);
      expect(c).toMatch(/Secure/);
      expect(c).toMatch(/SameSite=Strict/);
      expect(c).not.toContain(bed.tokens.viewer);
    }
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookies[0]!)?.[1]);
    expect(maxAge).toBeGreaterThan(3_000);
    expect(maxAge).toBeLessThanOrEqual(3_600);
    const pair = cookies[0]!.split(';')[0]!;
    const me = await bed.call('GET', '/admin/api/me', { headers: { cookie: pair } });
    expect(me.status).toBe(200);
    expect(me.body.name).toBe('viewer-user');
    // The session carries the viewer's role only.
    const change = await bed.call('DELETE', '/admin/api/parking/0123456789abcdef01234567', {
      headers: { cookie: pair, ...origin },
    });
    expect(change.status).toBe(403);
    // The raw token as a cookie is not a credential any more.
    const rawCookie = await bed.call('GET', '/admin/api/me', {
      headers: { cookie: `sb_session=${bed.tokens.viewer}` },
    });
    expect(rawCookie.status).toBe(401);

    const bad = await bed.call('POST', '/admin/login', {
      body: { token: bed.tokens.revoked },
      headers: origin,
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie')).toBeNull();
    const logout = await bed.call('POST', '/admin/logout', { headers: { cookie: pair, ...origin } });
    expect(logout.status).toBe(204);
    expect(logout.headers.get('set-cookie')).toMatch(/sb_session=;/);
    // Logging out ends the session on the server, not only in this browser.
    expect((await bed.call('GET', '/admin/api/me', { headers: { cookie: pair } })).status).toBe(401);
  });

  it('a revoked token ends its sessions; login answers where to go next, a local path only', async () => {
    const origin = { origin: bed.url };
    // Made and revoked straight in the store, so the audit log of the other tests stays theirs.
    const store = new AdminTokenStore(bed.db);
    const { token, record } = await store.create({
      name: 'short-lived',
      role: 'viewer',
      ttlMs: 3_600_000,
      createdBy: 'test',
    });
    const login = async (next: string) =>
      bed.call('POST', '/admin/login', { body: { token, next }, headers: origin });
    expect((await login('/admin/parking?x=1')).body.next).toBe('/admin/parking?x=1');
    for (const evil of ['https://evil.example/admin', '//evil.example/admin', '/\\evil.example', '/other'])
      expect((await login(evil)).body.next).toBe('/admin/');
    const cookie = (await login('/admin/')).headers.getSetCookie()[0]!.split(';')[0]!;
    expect((await bed.call('GET', '/admin/api/me', { headers: { cookie } })).status).toBe(200);
    expect(await store.revoke(record.id)).toBe(true);
    expect((await bed.call('GET', '/admin/api/me', { headers: { cookie } })).status).toBe(401);
  });

  it('/auth follows the policy table for nginx', async () => {
    const auth = (method: string, uri: string, as?: 'viewer' | 'operator' | 'admin' | 'expired') =>
      bed.call('GET', '/auth', { as, headers: { 'x-original-uri': uri, 'x-original-method': method } });
    const cases: Array<[string, string, 'viewer' | 'operator' | 'admin' | 'expired' | undefined, number]> = [
      ['GET', '/rabbitmq/', 'viewer', 200],
      ['POST', '/rabbitmq/api/queues', 'operator', 403],
      ['POST', '/rabbitmq/api/queues', 'admin', 200],
      ['POST', '/alertmanager/api/v2/silences', 'viewer', 403],
      ['POST', '/alertmanager/api/v2/silences', 'operator', 200],
      ['POST', '/kibana/api/console', 'viewer', 200],
      // The console's own routes each declare their role and check it themselves: the door only
      // asks for a signed-in console user.
      ['GET', '/admin/queues', 'viewer', 200],
      ['POST', '/admin/api/parking/abc/replay', 'viewer', 200],
      ['GET', '/admin/login', undefined, 200],
      ['GET', '/admin/', undefined, 401],
      // Escapes and dot segments need the strictest role, whatever they decode to.
      ['GET', '/admin/api/../api/tokens', 'viewer', 403],
      ['GET', '/admin/%61pi/tokens', 'operator', 403],
      ['GET', '/admin/login/..%2Fapi/tokens', undefined, 401],
      ['GET', '/rabbitmq//api/users', 'operator', 403],
      ['GET', '/rabbitmq/api/queues/%2F/sb.parking', 'viewer', 200],
      ['GET', '/rabbitmq/api/queues/%2F%2E%2E/x', 'viewer', 403],
      ['GET', '/kibana/', undefined, 401],
      ['GET', '/kibana/', 'expired', 401],
    ];
    for (const [method, uri, as, status] of cases) {
      const r = await auth(method, uri, as);
      expect({ method, uri, as, status: r.status }).toEqual({ method, uri, as, status });
      if (status === 200 && as) {
        expect(r.headers.get('x-admin-user')).toBe(`${as}-user`);
        expect(r.headers.get('x-admin-role')).toBe(as);
      }
    }
    const cookie = (
      await bed.call('POST', '/admin/login', {
        body: { token: bed.tokens.operator },
        headers: { origin: bed.url },
      })
    ).headers
      .getSetCookie()
      .find((c) => c.includes('Path=/alertmanager/'))!
      .split(';')[0]!;
    const viaCookie = await bed.call('GET', '/auth', {
      headers: { cookie, 'x-original-uri': '/alertmanager/api/v2/silences', 'x-original-method': 'POST' },
    });
    expect(viaCookie.status).toBe(200);
    expect(viaCookie.headers.get('x-admin-user')).toBe('operator-user');
  });
});

describe('status and overview', () => {
  it('status probes each service and reports queue depths', async () => {
    await bed.broker.publish(
      bed.broker.names.inbound,
      'in.1.web',
      { hello: 1 },
      { messageId: randomUUID(), traceId: 't' },
    );
    const r = await bed.call('GET', '/admin/api/status', { as: 'viewer' });
    expect(r.status).toBe(200);
    const services = r.body.services as Array<{ name: string; ready: boolean; url: string }>;
    expect(services.find((s) => s.name === 'fake-up')).toMatchObject({ ready: true, url: bed.readyUrl });
    expect(services.find((s) => s.name === 'fake-down')).toMatchObject({ ready: false });
    const queues = r.body.queues as Array<{ name: string; messages: number; consumers: number }>;
    expect(queues.find((q) => q.name === `${bed.prefix}.agent.in.1`)).toMatchObject({
      messages: 1,
      consumers: 0,
    });
    expect(queues.map((q) => q.name)).toContain(`${bed.prefix}.parking`);
    // Leave the queue as it was for the parking suite.
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.purgeQueue(`${bed.prefix}.agent.in.1`);
    await conn.close();
  });

  it('overview counts messages, errors, latency and models from the stored turns', async () => {
    const conv = async (platform: string, ext: string) =>
      (
        await bed.db.query<{ id: string }>(
          `INSERT INTO conversations (platform, bot_id, external_id, session_id) VALUES ($1, 'bot', $2, gen_random_uuid())
           RETURNING id::text`,
          [platform, ext],
        )
      ).rows[0]!.id;
    const msg = (c: string, role: string, text: string, extra: Record<string, unknown> = {}) =>
      bed.db.query(
        `INSERT INTO messages (conversation_id, session_id, role, content, message_id, in_reply_to, user_id, model, status,
                               prompt_tokens, completion_tokens, latency_ms, trace_id)
         VALUES ($1, (SELECT session_id FROM conversations WHERE id = $1), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          c,
          role,
          text,
          extra.id ?? randomUUID(),
          extra.inReplyTo ?? null,
          extra.user ?? null,
          extra.model ?? null,
          extra.status ?? 'ok',
          extra.prompt ?? null,
          extra.completion ?? null,
          extra.latency ?? null,
          extra.trace ?? 'trace-x',
        ],
      );
    const web = await conv('web', 'conv-web-1');
    const tg = await conv('telegram', 'chat-7');
    await msg(web, 'user', 'how full is the disk on db-1?', {
      id: 'web:m1',
      user: 'alice',
      trace: 'trace-1',
    });
    await msg(web, 'assistant', 'about 40%', {
      inReplyTo: 'web:m1',
      model: 'ollama/m1',
      prompt: 10,
      completion: 5,
      latency: 100,
      trace: 'trace-1',
    });
    await msg(web, 'user', 'and db-2?', { id: 'web:m2', user: 'alice' });
    await msg(web, 'assistant', 'sorry, no model answered', {
      inReplyTo: 'web:m2',
      model: 'openai/x',
      status: 'error',
      latency: 300,
    });
    await msg(tg, 'user', 'ping', { id: 'tg:1', user: 'bob' });
    await bed.db.query(`INSERT INTO inbox (message_id, trace_id) VALUES ('web:m1', 'trace-1')`);

    const r = await bed.call('GET', '/admin/api/overview?window=1h', { as: 'viewer' });
    expect(r.status).toBe(200);
    expect(r.body.window).toBe('1h');
    expect(r.body.platforms).toEqual([
      { platform: 'telegram', messages: 1, errors: 0 },
      { platform: 'web', messages: 2, errors: 1 },
    ]);
    expect(r.body.latency).toEqual({ p50: 200, p95: 290, p99: 298 });
    expect(r.body.errorRate).toBe(0.5);
    expect(r.body.models).toEqual(
      expect.arrayContaining([
        { model: 'ollama/m1', calls: 1, failures: 0, promptTokens: 10, completionTokens: 5 },
        { model: 'openai/x', calls: 1, failures: 1, promptTokens: 0, completionTokens: 0 },
      ]),
    );
    expect(Array.isArray(r.body.queues)).toBe(true);
    expect((await bed.call('GET', '/admin/api/overview?window=forever', { as: 'viewer' })).status).toBe(400);

    // Conversations: search, transcript, trace.
    const found = await bed.call('GET', '/admin/api/conversations?q=disk', { as: 'viewer' });
    expect(found.status).toBe(200);
    const convs = found.body.conversations as Array<Record<string, unknown>>;
    expect(convs).toHaveLength(1);
    expect(convs[0]).toMatchObject({
      id: web,
      platform: 'web',
      botId: 'bot',
      conversationId: 'conv-web-1',
      user: 'alice',
    });
    expect(
      (await bed.call('GET', '/admin/api/conversations?platform=telegram', { as: 'viewer' })).body
        .conversations,
    ).toHaveLength(1);
    expect(
      (await bed.call('GET', '/admin/api/conversations?user=bob', { as: 'viewer' })).body.conversations,
    ).toMatchObject([{ id: tg }]);
    expect(
      (await bed.call('GET', '/admin/api/conversations?messageId=web:m2', { as: 'viewer' })).body
        .conversations,
    ).toMatchObject([{ id: web }]);
    expect((await bed.call('GET', '/admin/api/conversations?limit=0', { as: 'viewer' })).status).toBe(400);
    const transcript = await bed.call('GET', `/admin/api/conversations/${web}/messages`, { as: 'viewer' });
    expect(
      (transcript.body.messages as Array<{ role: string; text: string }>).map((m) => `${m.role}:${m.text}`),
    ).toEqual([
      'user:how full is the disk on db-1?',
      'assistant:about 40%',
      'user:and db-2?',
      'assistant:sorry, no model answered',
    ]);
    expect((await bed.call('GET', '/admin/api/conversations/999999/messages', { as: 'viewer' })).status).toBe(
      404,
    );
    const trace = await bed.call('GET', '/admin/api/messages/web:m1/trace', { as: 'viewer' });
    expect(trace.status).toBe(200);
    expect(trace.body).toMatchObject({ messageId: 'web:m1', traceId: 'trace-1' });
    expect((trace.body.hops as Array<{ event: string }>).map((h) => h.event)).toEqual(
      expect.arrayContaining(['received', 'processed']),
    );
    expect(trace.body.modelCalls).toMatchObject([{ model: 'ollama/m1', latencyMs: 100 }]);
    expect((await bed.call('GET', '/admin/api/messages/nope/trace', { as: 'viewer' })).status).toBe(404);
  });
});

describe('parking', () => {
  it('lists parked messages with their reason, replays one to its queue and discards another', async () => {
    const queue = bed.broker.names.agentQueue(0);
    const ids = [`park-${randomUUID()}`, `park-${randomUUID()}`];
    let parked = 0;
    // Parked the way the workers park: through the core Broker's Delivery.park.
    const consumer = await bed.broker.consume(queue, async (d: Delivery) => {
      await d.park(new SwitchboardError(ErrorCodes.MODEL_FAILED, `model exploded for ${d.messageId}`));
      parked++;
    });
    for (const id of ids) {
      await bed.broker.publish(
        bed.broker.names.inbound,
        'in.0.web',
        { id, text: 'hello' },
        { messageId: id, traceId: `t-${id}` },
      );
    }
    await waitFor('both messages parked', () => parked === 2);
    await consumer.cancel();

    const list = await bed.call('GET', '/admin/api/parking', { as: 'viewer' });
    expect(list.status).toBe(200);
    const messages = list.body.messages as Array<Record<string, unknown>>;
    expect(messages).toHaveLength(2);
    for (const m of messages) {
      expect(m).toMatchObject({
        reason: `model exploded for ${m.messageId}`,
        errorCode: 'SB_ERR_MODEL_FAILED',
        routingKey: queue,
        attempts: 1,
        body: { id: m.messageId, text: 'hello' },
      });
      expect(m.id).toMatch(/^[0-9a-f]{24}$/);
      expect(typeof m.parkedAt).toBe('string');
    }
    // Listing took nothing away, and ids are stable.
    const again = await bed.call('GET', '/admin/api/parking', { as: 'viewer' });
    expect((again.body.messages as Array<{ id: string }>).map((m) => m.id).sort()).toEqual(
      messages.map((m) => m.id).sort(),
    );
    const [first, second] = messages as Array<{ id: string; messageId: string }>;
    const one = await bed.call('GET', `/admin/api/parking/${first!.id}`, { as: 'viewer' });
    expect(one.status).toBe(200);
    expect((one.body.headers as Record<string, unknown>)['x-sb-parking-reason']).toMatch(/model exploded/);

    // Roles: a viewer may look, not act.
    expect((await bed.call('POST', `/admin/api/parking/${first!.id}/replay`, { as: 'viewer' })).status).toBe(
      403,
    );
    expect((await bed.call('DELETE', `/admin/api/parking/${second!.id}`, { as: 'viewer' })).status).toBe(403);
    expect((await bed.call('POST', '/admin/api/parking/not-an-id/replay', { as: 'operator' })).status).toBe(
      400,
    );
    expect(
      (await bed.call('POST', `/admin/api/parking/${'0'.repeat(24)}/replay`, { as: 'operator' })).status,
    ).toBe(404);

    const replay = await bed.call('POST', `/admin/api/parking/${first!.id}/replay`, { as: 'operator' });
    expect(replay.status).toBe(200);
    // It is back in the queue it came from, with its attempts reset.
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    // A single-active-consumer quorum queue refuses basic.get: consume, as a worker would.
    const arrived: amqplib.ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && arrived.push(m), { noAck: true });
    const back = await waitFor('the replayed message in its queue', () => arrived[0]);
    expect(back.properties.messageId).toBe(first!.messageId);
    expect(JSON.parse(back.content.toString())).toEqual({ id: first!.messageId, text: 'hello' });
    expect(back.properties.headers?.['x-sb-attempts']).toBeUndefined();
    expect(back.properties.headers?.['x-sb-parking-reason']).toBeUndefined();
    expect(back.properties.headers?.['x-sb-trace-id']).toBe(`t-${first!.messageId}`);
    await conn.close();
    expect(
      (await bed.call('POST', `/admin/api/parking/${first!.id}/replay`, { as: 'operator' })).status,
    ).toBe(404);

    const discard = await bed.call('DELETE', `/admin/api/parking/${second!.id}`, { as: 'operator' });
    expect(discard.status).toBe(200);
    expect((await bed.call('DELETE', `/admin/api/parking/${second!.id}`, { as: 'operator' })).status).toBe(
      404,
    );
    expect((await bed.call('GET', '/admin/api/parking', { as: 'viewer' })).body.messages).toEqual([]);

    const audit = await bed.call('GET', '/admin/api/audit?actor=operator-user', { as: 'viewer' });
    expect(
      (audit.body.entries as Array<{ action: string; target: string }>).map((e) => `${e.action} ${e.target}`),
    ).toEqual([`parking.discard ${second!.id}`, `parking.replay ${first!.id}`]);
  });
});

describe('pairing', () => {
  it('approves, denies and unblocks, refusing viewers', async () => {
    const open = async (ext: string) =>
      (
        await bed.db.query<{ id: string }>(
          `INSERT INTO pairing_requests (platform, bot_id, external_id, conversation_id, message_id, code_hash, expires_at)
           VALUES ('telegram', 'bot', $1, 'c', $2, 'x', now() + interval '10 minutes') RETURNING id::text`,
          [ext, `m-${ext}`],
        )
      ).rows[0]!.id;
    const a = await open('u-approve');
    const d = await open('u-deny');
    const list = await bed.call('GET', '/admin/api/pairing', { as: 'viewer' });
    expect((list.body.pending as Array<{ id: string }>).map((p) => p.id)).toEqual([a, d]);
    expect(list.body.blocklist).toEqual([]);

    expect((await bed.call('POST', `/admin/api/pairing/${a}/approve`, { as: 'viewer' })).status).toBe(403);
    expect((await bed.call('POST', '/admin/api/pairing/abc/approve', { as: 'operator' })).status).toBe(400);
    expect((await bed.call('POST', '/admin/api/pairing/99999/approve', { as: 'operator' })).status).toBe(404);
    const ok = await bed.call('POST', `/admin/api/pairing/${a}/approve`, { as: 'operator' });
    expect(ok.status).toBe(200);
    expect(ok.body.request).toMatchObject({ status: 'approved', decidedBy: 'admin:operator-user' });
    const paired = await bed.db.query(`SELECT approved_by FROM paired_users WHERE external_id = 'u-approve'`);
    expect(paired.rows).toEqual([{ approved_by: 'admin:operator-user' }]);
    expect((await bed.call('POST', `/admin/api/pairing/${a}/approve`, { as: 'operator' })).status).toBe(409);

    expect((await bed.call('POST', `/admin/api/pairing/${d}/deny`, { as: 'viewer' })).status).toBe(403);
    const denied = await bed.call('POST', `/admin/api/pairing/${d}/deny`, {
      as: 'operator',
      body: { blockSeconds: 600 },
    });
    expect(denied.status).toBe(200);
    const after = await bed.call('GET', '/admin/api/pairing', { as: 'viewer' });
    expect(after.body.pending).toEqual([]);
    const blocked = after.body.blocklist as Array<{ id: string }>;
    expect(blocked.map((b) => b.id)).toEqual(['telegram:u-deny']);

    const path = `/admin/api/pairing/blocklist/${encodeURIComponent('telegram:u-deny')}`;
    expect((await bed.call('DELETE', path, { as: 'viewer' })).status).toBe(403);
    expect((await bed.call('DELETE', path, { as: 'operator' })).status).toBe(200);
    expect((await bed.call('DELETE', path, { as: 'operator' })).status).toBe(404);
    const rows = await bed.db.query(`SELECT 1 FROM pairing_blocklist WHERE external_id = 'u-deny'`);
    expect(rows.rowCount).toBe(0);
  });
});

describe('configuration', () => {
  it('creates, updates and deletes routes and profiles as admin only, audited with before/after', async () => {
    const profile = { name: 'ops', description: 'ops team', tools: ['shell'] };
    expect((await bed.call('POST', '/admin/api/profiles', { as: 'operator', body: profile })).status).toBe(
      403,
    );
    expect((await bed.call('POST', '/admin/api/profiles', { as: 'viewer', body: profile })).status).toBe(403);
    const created = await bed.call('POST', '/admin/api/profiles', { as: 'admin', body: profile });
    expect(created.status).toBe(201);
    const bad = await bed.call('POST', '/admin/api/profiles', { as: 'admin', body: { name: 'Bad Name!' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'SB_ERR_ROUTING_INVALID' } });

    const rule = { name: 'urgent to ops', match: { text: '^#urgent' }, target: { profile: 'ops' } };
    expect((await bed.call('POST', '/admin/api/routes', { as: 'operator', body: rule })).status).toBe(403);
    const r = await bed.call('POST', '/admin/api/routes', { as: 'admin', body: rule });
    expect(r.status).toBe(201);
    const id = (r.body.route as { id: string }).id;
    const table = await bed.db.query('SELECT name, target FROM routing_rules WHERE id = $1', [id]);
    expect(table.rows).toEqual([{ name: 'urgent to ops', target: { profile: 'ops' } }]);

    // Bad input changes nothing: an unsafe regex, an unknown profile, an unknown key.
    for (const body of [
      { match: { text: '(a+)+$' } },
      { target: { profile: 'nobody' } },
      { colour: 'red' },
    ]) {
      const refused = await bed.call('PUT', `/admin/api/routes/${id}`, { as: 'admin', body });
      expect(refused.status).toBe(400);
    }
    expect((await bed.db.query('SELECT name, match FROM routing_rules WHERE id = $1', [id])).rows).toEqual([
      { name: 'urgent to ops', match: { text: '^#urgent' } },
    ]);

    const upd = await bed.call('PUT', `/admin/api/routes/${id}`, {
      as: 'admin',
      body: { name: 'urgent → ops' },
    });
    expect(upd.status).toBe(200);
    expect((await bed.db.query('SELECT name FROM routing_rules WHERE id = $1', [id])).rows[0].name).toBe(
      'urgent → ops',
    );
    const entry = (await bed.call('GET', '/admin/api/audit?action=route.update', { as: 'viewer' })).body
      .entries as Array<{
      actor: string;
      target: string;
      details: { before: { name: string }; after: { name: string } };
    }>;
    expect(entry).toHaveLength(1);
    expect(entry[0]).toMatchObject({
      actor: 'admin-user',
      target: id,
      details: { before: { name: 'urgent to ops' }, after: { name: 'urgent → ops' } },
    });
    expect(
      (await bed.call('PUT', '/admin/api/routes/424242', { as: 'admin', body: { name: 'x' } })).status,
    ).toBe(404);

    const routes = await bed.call('GET', '/admin/api/routes', { as: 'viewer' });
    expect((routes.body.routes as Array<{ id: string }>).map((x) => x.id)).toEqual([id]);
    const prof = await bed.call('PUT', '/admin/api/profiles/ops', { as: 'admin', body: { knowledge: true } });
    expect(prof.status).toBe(200);
    expect(
      (await bed.db.query(`SELECT knowledge FROM agent_profiles WHERE name = 'ops'`)).rows[0].knowledge,
    ).toBe(true);
    // In use by a rule: refused with the reason.
    expect((await bed.call('DELETE', '/admin/api/profiles/ops', { as: 'admin' })).status).toBe(409);
    expect((await bed.call('DELETE', `/admin/api/routes/${id}`, { as: 'operator' })).status).toBe(403);
    expect((await bed.call('DELETE', `/admin/api/routes/${id}`, { as: 'admin' })).status).toBe(204);
    expect((await bed.call('DELETE', '/admin/api/profiles/ops', { as: 'admin' })).status).toBe(204);
    const audit = await bed.call('GET', '/admin/api/audit?actor=admin-user&limit=10', { as: 'viewer' });
    expect((audit.body.entries as Array<{ action: string }>).map((e) => e.action)).toEqual([
      'profile.delete',
      'route.delete',
      'profile.update',
      'route.update',
      'route.create',
      'profile.create',
    ]);
  });

  it('channel settings: admin changes a group policy, audited; skills listed', async () => {
    const path = '/admin/api/channels/telegram/bot1/-100123';
    expect((await bed.call('PUT', path, { as: 'operator', body: { groupPolicy: 'always' } })).status).toBe(
      403,
    );
    expect((await bed.call('PUT', path, { as: 'admin', body: { groupPolicy: 'sometimes' } })).status).toBe(
      400,
    );
    expect(
      (
        await bed.call('PUT', '/admin/api/channels/myspace/b/c', {
          as: 'admin',
          body: { groupPolicy: 'always' },
        })
      ).status,
    ).toBe(400);
    expect((await bed.call('PUT', path, { as: 'admin', body: { groupPolicy: 'always' } })).status).toBe(200);
    const list = await bed.call('GET', '/admin/api/channels', { as: 'viewer' });
    expect(list.body.channels).toMatchObject([
      { platform: 'telegram', botId: 'bot1', channelId: '-100123', groupPolicy: 'always' },
    ]);
    const audit = await bed.call('GET', '/admin/api/audit?action=channel.update', { as: 'viewer' });
    expect(audit.body.entries).toMatchObject([
      {
        actor: 'admin-user',
        target: 'telegram/bot1/-100123',
        details: { before: null, after: { groupPolicy: 'always' } },
      },
    ]);
    const skills = await bed.call('GET', '/admin/api/skills', { as: 'viewer' });
    expect(skills.status).toBe(200);
    expect(Array.isArray(skills.body.skills)).toBe(true);
  });
});

describe('tokens and audit', () => {
  it('only an admin lists, creates and revokes tokens; the new token works once shown', async () => {
    expect((await bed.call('GET', '/admin/api/tokens', { as: 'operator' })).status).toBe(403);
    expect(
      (
        await bed.call('POST', '/admin/api/tokens', {
          as: 'operator',
          body: { name: 'x', role: 'viewer', expire: '1h' },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await bed.call('POST', '/admin/api/tokens', {
          as: 'admin',
          body: { name: 'x', role: 'root', expire: '1h' },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await bed.call('POST', '/admin/api/tokens', {
          as: 'admin',
          body: { name: 'x', role: 'viewer', expire: '1y' },
        })
      ).status,
    ).toBe(400);
    const made = await bed.call('POST', '/admin/api/tokens', {
      as: 'admin',
      body: { name: 'ci-bot', role: 'viewer', expire: '8h' },
    });
    expect(made.status).toBe(201);
    const token = made.body.token as string;
    const id = (made.body.record as { id: string }).id;
    expect((await bed.call('GET', '/admin/api/me', { token })).body).toMatchObject({
      name: 'ci-bot',
      role: 'viewer',
    });
    const list = await bed.call('GET', '/admin/api/tokens', { as: 'admin' });
    // The secret is everything after `sbt_<12-char id>_` (it may itself contain _ or -).
    expect(JSON.stringify(list.body)).not.toContain(token.slice(17));
    expect((list.body.tokens as Array<{ name: string }>).map((t) => t.name)).toContain('ci-bot');
    expect((await bed.call('DELETE', `/admin/api/tokens/${id}`, { as: 'operator' })).status).toBe(403);
    expect((await bed.call('DELETE', `/admin/api/tokens/${id}`, { as: 'admin' })).status).toBe(200);
    expect((await bed.call('GET', '/admin/api/me', { token })).status).toBe(401);
    expect((await bed.call('DELETE', '/admin/api/tokens/zzzzzzzzzzzz', { as: 'admin' })).status).toBe(404);
    const audit = await bed.call('GET', '/admin/api/audit?action=token.create', { as: 'viewer' });
    expect(audit.body.entries).toMatchObject([
      { actor: 'admin-user', target: id, details: { name: 'ci-bot', role: 'viewer' } },
    ]);
    expect(JSON.stringify(audit.body)).not.toContain(token);
    const page = await bed.call('GET', '/admin/api/audit?limit=2', { as: 'viewer' });
    const entries = page.body.entries as Array<{ id: number }>;
    expect(entries).toHaveLength(2);
    const older = await bed.call('GET', `/admin/api/audit?limit=2&before=${entries[1]!.id}`, {
      as: 'viewer',
    });
    expect((older.body.entries as Array<{ id: number }>)[0]!.id).toBeLessThan(entries[1]!.id);
    expect((await bed.call('GET', '/admin/api/audit?limit=abc', { as: 'viewer' })).status).toBe(400);
  });
});

describe('bull-board', () => {
  it('shows the scheduler queue to a viewer; actions need an operator', async () => {
    expect((await bed.call('GET', '/admin/queues')).status).toBe(401);
    const page = await bed.call('GET', '/admin/queues', { as: 'viewer' });
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<html/i);
    const api = await bed.call('GET', '/admin/queues/api/queues', { as: 'viewer' });
    expect(api.status).toBe(200);
    expect(JSON.stringify(api.body)).toContain(`${bed.prefix}-workflows`);
    const name = encodeURIComponent(`${bed.prefix}-workflows`);
    expect(
      (await bed.call('PUT', `/admin/queues/api/queues/${name}/retry/failed`, { as: 'viewer' })).status,
    ).toBe(403);
    const op = await bed.call('PUT', `/admin/queues/api/queues/${name}/retry/failed`, { as: 'operator' });
    expect(op.status).not.toBe(401);
    expect(op.status).not.toBe(403);
  });
});

describe('live logs', () => {
  it('a line shipped by another logger shows in /logs and on the SSE stream, filtered', async () => {
    const shipper = new LogShipper({ url: AMQP_URL, prefix: bed.prefix, service: 'log-source' }).start();
    try {
      await waitFor('the shipper connected', () => shipper.connected);
      const log = createLogger('log-source', 'debug');
      const tag = randomUUID().slice(0, 8);

      const ctl = new AbortController();
      const res = await fetch(`${bed.url}/admin/api/logs/stream?service=log-source&level=warn&q=${tag}`, {
        headers: { authorization: `Bearer ${bed.tokens.viewer}` },
        signal: ctl.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const reader = res.body!.getReader();
      let received = '';
      const events: Array<Record<string, unknown>> = [];
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          received += Buffer.from(value).toString();
          const parts = received.split('\n\n');
          received = parts.pop() ?? '';
          for (const p of parts) {
            const data = p.split('\n').find((l) => l.startsWith('data: '));
            if (data) events.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
          }
        }
      })().catch(() => {});

      log.info(`routine ${tag}`);
      log.warn(`disk nearly full ${tag}`, { labels: { host: 'db-1' }, password: 'hunter2-secret' });
      log.error(`other ${randomUUID()}`);

      const lines = await waitFor('the lines in /admin/api/logs', async () => {
        const r = await bed.call('GET', `/admin/api/logs?service=log-source&q=${tag}`, { as: 'viewer' });
        const l = r.body.lines as Array<Record<string, unknown>>;
        return l.length >= 2 ? l : undefined;
      });
      expect(lines.map((l) => l.message)).toEqual([`routine ${tag}`, `disk nearly full ${tag}`]);
      expect(lines[1]).toMatchObject({ 'log.level': 'warn', 'service.name': 'log-source', password: '***' });
      const warnOnly = await bed.call('GET', `/admin/api/logs?level=warn&q=${tag}`, { as: 'viewer' });
      expect((warnOnly.body.lines as Array<{ message: string }>).map((l) => l.message)).toEqual([
        `disk nearly full ${tag}`,
      ]);
      expect((await bed.call('GET', '/admin/api/logs?level=loud', { as: 'viewer' })).status).toBe(400);
      expect((await bed.call('GET', '/admin/api/logs')).status).toBe(401);

      await waitFor('the warn line on the stream', () => events.length >= 1);
      expect(events.map((e) => e.message)).toEqual([`disk nearly full ${tag}`]);
      ctl.abort();
      await pump;
    } finally {
      await shipper.close();
    }
  });
});

describe('workflows without a scheduler token', () => {
  it('answers 503 with the setting to fix, and still enforces roles', async () => {
    const r = await bed.call('GET', '/admin/api/workflows', { as: 'viewer' });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: { code: 'SB_ERR_SCHEDULER_UNAVAILABLE' } });
    expect((await bed.call('POST', '/admin/api/workflows/x/run', { as: 'viewer' })).status).toBe(403);
    expect(
      (
        await bed.call('PUT', '/admin/api/workflows/x', {
          as: 'operator',
          raw: 'name: x',
          headers: { 'content-type': 'application/yaml' },
        })
      ).status,
    ).toBe(403);
  });
});

describe('health', () => {
  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await fetch(`${bed.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${bed.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${bed.url}/metrics`)).text()).toMatch(
      /switchboard_http_request_duration_seconds/,
    );
  });

  it('tokens made by the store outside the service are honoured at once', async () => {
    const { token } = await new AdminTokenStore(bed.db).create({
      name: 'late',
      role: 'viewer',
      ttlMs: 60_000,
      createdBy: 't',
    });
    expect((await bed.call('GET', '/admin/api/me', { token })).status).toBe(200);
  });
});
