import {
  AdminTokenStore,
  AuditLog,
  consoleAuthenticator,
  createLogger,
  createPool,
  createServiceHttp,
  ErrorCodes,
  migrate,
} from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../../../../test/support/infra.ts';
import { KnowledgeBase } from './knowledge-base.ts';
import { knowledgeRoutes } from './routes.ts';

const log = createLogger('kb-routes-test', 'error');
// Operators manage the knowledge base with the console's own tokens; viewers read.
let TOKEN = '';
let VIEWER = '';
let auth: { authorization: string } = { authorization: '' };
const MAX_BYTES = 8 * 1024;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pool: pg.Pool;
let app: FastifyInstance;
let kb: KnowledgeBase;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, log);
  await migrate(pool, log);
  kb = new KnowledgeBase(pool, {
    log,
    chunkChars: 1_200,
    overlapChars: 150,
    csvRowsPerChunk: 1,
    maxDocumentBytes: MAX_BYTES,
    trigramThreshold: 0.3,
    defaultLimit: 4,
    minScore: 0.15,
  });
  const tokens = new AdminTokenStore(pool);
  const mk = async (role: 'operator' | 'viewer') =>
    (await tokens.create({ name: `kb-${role}`, role, ttlMs: 3_600_000, createdBy: 'test' })).token;
  TOKEN = await mk('operator');
  VIEWER = await mk('viewer');
  auth = { authorization: `Bearer ${TOKEN}` };
  // The agent-worker's own HTTP server, with its error handler and access hook.
  app = createServiceHttp({
    log,
    registry: new Registry(),
    readiness: {},
    access: { authenticators: [consoleAuthenticator(tokens)] },
  });
  await app.register(knowledgeRoutes, { kb, pool, maxDocumentBytes: MAX_BYTES, log });
  app.get('/other', { config: { access: { public: 'a neighbour route' } } }, async () => ({ ok: true }));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await pool?.end();
  await db?.drop();
});

beforeEach(async () => {
  await pool.query('TRUNCATE kb_documents CASCADE');
});

async function count(): Promise<number> {
  const r = await pool.query(
    'SELECT (SELECT count(*) FROM kb_documents) + (SELECT count(*) FROM kb_chunks) AS n',
  );
  return Number(r.rows[0].n);
}

describe('/admin/knowledge', () => {
  it('adds, lists, searches and deletes documents', async () => {
    const add = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: auth,
      payload: {
        name: 'vpn.md',
        content: '# VPN\n\n## Reset the VPN password\n\nUse the self-service portal.',
      },
    });
    expect(add.statusCode).toBe(201);
    expect(add.json()).toMatchObject({
      status: 'created',
      document: { source: 'vpn.md', type: 'markdown', origin: 'api', title: 'VPN', chunkCount: 1 },
    });

    const same = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: auth,
      payload: {
        name: 'vpn.md',
        content: '# VPN\n\n## Reset the VPN password\n\nUse the self-service portal.',
      },
    });
    expect(same.statusCode).toBe(200);
    expect(same.json().status).toBe('unchanged');

    const csv = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: auth,
      payload: { name: 'rota', type: 'csv', content: 'week,primary\n12,Alice\n13,Bob\n' },
    });
    expect(csv.statusCode).toBe(201);
    expect(csv.json().document.chunkCount).toBe(2);

    const list = await app.inject({ method: 'GET', url: '/admin/knowledge', headers: auth });
    expect(list.statusCode).toBe(200);
    expect(list.json().documents.map((d: { source: string }) => d.source)).toEqual(['rota', 'vpn.md']);

    const search = await app.inject({
      method: 'GET',
      url: `/admin/knowledge/search?q=${encodeURIComponent('reset vpn password')}&limit=1`,
      headers: auth,
    });
    expect(search.statusCode).toBe(200);
    expect(search.json().passages).toEqual([
      expect.objectContaining({ source: 'vpn.md', heading: 'VPN › Reset the VPN password' }),
    ]);

    const id = list.json().documents[1].id;
    const del = await app.inject({ method: 'DELETE', url: `/admin/knowledge/${id}`, headers: auth });
    expect(del.statusCode).toBe(204);
    const again = await app.inject({ method: 'DELETE', url: `/admin/knowledge/${id}`, headers: auth });
    expect(again.statusCode).toBe(404);
    expect(again.json()).toEqual({
      error: { code: ErrorCodes.NOT_FOUND, message: `no knowledge document ${id}` },
    });
    expect((await kb.listDocuments()).map((d) => d.source)).toEqual(['rota']);
    // Each change was recorded as the operator's token, in the same transaction as the change.
    const entries = await new AuditLog(pool).list({ actor: 'kb-operator' });
    expect(entries.map((e) => [e.action, e.target])).toEqual([
      ['knowledge.delete', 'vpn.md'],
      ['knowledge.create', 'rota'],
      ['knowledge.update', 'vpn.md'],
      ['knowledge.create', 'vpn.md'],
    ]);
  });

  it('lets a viewer read but not change, and records nothing for a refused change', async () => {
    const viewer = { authorization: `Bearer ${VIEWER}` };
    const before = (await new AuditLog(pool).list()).length;
    expect((await app.inject({ method: 'GET', url: '/admin/knowledge', headers: viewer })).statusCode).toBe(
      200,
    );
    const add = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: viewer,
      payload: { name: 'a.md', content: 'x' },
    });
    expect(add.statusCode).toBe(403);
    expect(add.json().error.message).toMatch(/operator role/);
    expect(await count()).toBe(0);
    expect((await new AuditLog(pool).list()).length).toBe(before);
  });

  it('refuses a missing or wrong token with 401 on every route, and touches no other route', async () => {
    const requests = [
      { method: 'POST' as const, url: '/admin/knowledge', payload: { name: 'a.md', content: 'x' } },
      { method: 'GET' as const, url: '/admin/knowledge' },
      { method: 'GET' as const, url: '/admin/knowledge/search?q=x' },
      { method: 'DELETE' as const, url: '/admin/knowledge/1' },
    ];
    for (const r of requests) {
      for (const headers of [
        {},
        { authorization: `Bearer ${TOKEN}x` },
        { authorization: `Basic ${TOKEN}` },
        { authorization: 'Bearer' },
      ]) {
        const res = await app.inject({ ...r, headers });
        expect(res.statusCode, `${r.method} ${r.url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.json().error.code).toBe(ErrorCodes.UNAUTHORIZED);
        expect(res.body).not.toContain(TOKEN);
      }
    }
    expect(await count()).toBe(0);
    expect((await app.inject({ method: 'GET', url: '/other' })).statusCode).toBe(200);
  });

  it('answers bad input with 400 and the reason, and changes nothing', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ content: 'x' }, /name/],
      [{ name: 'a.md' }, /content/],
      [{ name: 'a.md', content: '' }, /content: empty document/],
      [{ name: 'a.md', content: 'x', type: 'pdf' }, /type/],
      [{ name: 'noext', content: 'x' }, /type: give markdown, csv or text/],
      [{ name: 'bad\nname.md', content: 'x' }, /name: no control characters/],
      [{ name: ' spaced.md', content: 'x' }, /name: no leading or trailing spaces/],
      [{ name: 'a.md', content: 'x', extra: true }, /extra/],
      [{ name: 'rota.csv', content: 'a,b\n"open,1\n' }, /not closed/],
      [{ name: 'bin.txt', content: 'a\u0000b' }, /binary/],
    ];
    for (const [payload, reason] of bad) {
      const res = await app.inject({
        method: 'POST',
        url: '/admin/knowledge',
        headers: auth,
        payload: payload as object,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe(ErrorCodes.BAD_REQUEST);
      expect(res.json().error.message).toMatch(reason);
    }
    const notJson = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(notJson.statusCode).toBe(400);

    for (const url of ['/admin/knowledge/abc', '/admin/knowledge/0', '/admin/knowledge/1;drop']) {
      const res = await app.inject({ method: 'DELETE', url, headers: auth });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error.message).toMatch(/document id/);
    }
    const noQuery = await app.inject({ method: 'GET', url: '/admin/knowledge/search', headers: auth });
    expect(noQuery.statusCode).toBe(400);
    expect(await count()).toBe(0);
  });

  it('refuses a document over the size limit with 413', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: auth,
      payload: { name: 'big.md', content: 'x'.repeat(MAX_BYTES + 1) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe(ErrorCodes.PAYLOAD_TOO_LARGE);
    const huge = await app.inject({
      method: 'POST',
      url: '/admin/knowledge',
      headers: auth,
      payload: { name: 'huge.md', content: 'x'.repeat(MAX_BYTES * 3) },
    });
    expect(huge.statusCode).toBe(413);
    expect(await count()).toBe(0);
  });

  it('will not start a server with a route that declares no access', async () => {
    const other = createServiceHttp({ log, registry: new Registry(), readiness: {} });
    other.get('/admin/forgotten', async () => ({ secret: true }));
    await expect(other.ready()).rejects.toMatchObject({ code: ErrorCodes.ACCESS_UNDECLARED });
    await other.close().catch(() => {});
  });
});
