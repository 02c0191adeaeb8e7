/**
 * Authorization by construction, tried as an attacker would: every protected route of every
 * service with an HTTP API, spelled every way a raw-URL check and the router could disagree on,
 * anonymously and with too small a role; writes that must change nothing; cross-site requests
 * riding an operator's console session; login CSRF. Each test asserts the refusal and that nothing
 * changed.
 */
import { AdminTokenStore, createLogger, createPool, createServiceHttp, migrate } from '@switchboard/core';
import amqplib from 'amqplib';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { KnowledgeBase } from '../../services/agent-worker/src/knowledge/knowledge-base.ts';
import { knowledgeRoutes } from '../../services/agent-worker/src/knowledge/routes.ts';
import { AdminTestbed } from '../admin/harness.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName } from '../support/infra.ts';
import { WorkflowTestbed } from '../workflows/harness.ts';
import { rawRequest, spellings } from './raw-http.ts';

const REFUSED = [400, 401, 403, 404, 405, 415];
const sample = (url: string) =>
  url
    .replace(/:id\b/g, '0123456789abcdef01234567')
    .replace(/:name\b/g, 'ops')
    .replace(/:[a-zA-Z]+/g, 'x')
    .replace(/\*$/, 'x');

/** Every declared route of a fastify app that is not public, with a concrete path. */
function protectedRoutes(app: FastifyInstance) {
  return app
    .accessTable()
    .filter((r) => r.access && !('public' in r.access) && !('verifiedBy' in r.access) && r.method !== 'HEAD')
    .map((r) => ({ method: r.method, path: sample(r.url) }));
}

async function countRows(db: pg.Pool, table: string): Promise<number> {
  return Number((await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
}

describe('the admin service', () => {
  const bed = new AdminTestbed();
  beforeAll(() => bed.start(), 60_000);
  afterAll(() => bed.stop());

  it('declares every route, and refuses every spelling of every protected one to an anonymous caller', async () => {
    const table = bed.svc.http.accessTable();
    expect(table.filter((r) => !r.access)).toEqual([]);
    const routes = protectedRoutes(bed.svc.http);
    // The API and bull-board are in the table.
    expect(routes.map((r) => r.path)).toContain('/admin/api/tokens');
    expect(routes.some((r) => r.path.startsWith('/admin/queues/'))).toBe(true);
    const before = {
      tokens: await countRows(bed.db, 'admin_tokens'),
      audit: await countRows(bed.db, 'audit_log'),
    };
    let tried = 0;
    for (const r of routes) {
      for (const path of [r.path, ...spellings(r.path)]) {
        const body = r.method === 'GET' ? undefined : '{"name":"pwned","role":"admin","expire":"90d"}';
        const res = await rawRequest(bed.url, r.method, path, {
          headers: body ? { 'content-type': 'application/json' } : {},
          body,
        });
        tried++;
        expect(REFUSED, `${r.method} ${path} answered ${res.status}: ${res.body.slice(0, 200)}`).toContain(
          res.status,
        );
        expect(res.body).not.toMatch(/"tokens"|sbt_|"routes"|"entries"/);
      }
    }
    expect(tried).toBeGreaterThan(300);
    expect({
      tokens: await countRows(bed.db, 'admin_tokens'),
      audit: await countRows(bed.db, 'audit_log'),
    }).toEqual(before);
  });

  it('a viewer reaches no admin-only route by any spelling', async () => {
    const admins = bed.svc.http
      .accessTable()
      .filter((r) => r.access && 'role' in r.access && r.access.role === 'admin' && r.method !== 'HEAD');
    expect(admins.length).toBeGreaterThan(5);
    for (const r of admins) {
      const path = sample(r.url);
      for (const p of [path, ...spellings(path)]) {
        const res = await rawRequest(bed.url, r.method, p, {
          headers: { authorization: `Bearer ${bed.tokens.viewer}`, 'content-type': 'application/json' },
          body: r.method === 'GET' ? undefined : '{}',
        });
        expect(REFUSED, `${r.method} ${p} answered ${res.status}`).toContain(res.status);
      }
    }
  });

  it('an anonymous write does nothing and leaves no row: the caller is known before the handler runs', async () => {
    const before = {
      profiles: await countRows(bed.db, 'agent_profiles'),
      audit: await countRows(bed.db, 'audit_log'),
    };
    for (const path of ['/admin/api/profiles', ...spellings('/admin/api/profiles')]) {
      const res = await rawRequest(bed.url, 'POST', path, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'pwned', tools: ['shell'] }),
      });
      expect(REFUSED, `${path}: ${res.status}`).toContain(res.status);
    }
    expect({
      profiles: await countRows(bed.db, 'agent_profiles'),
      audit: await countRows(bed.db, 'audit_log'),
    }).toEqual(before);
  });

  describe('cross-site requests with an admin session', () => {
    let cookie = '';
    beforeAll(async () => {
      const res = await bed.call('POST', '/admin/login', {
        body: { token: bed.tokens.admin },
        headers: { origin: bed.url },
      });
      cookie = res.headers.getSetCookie()[0]!.split(';')[0]!;
    });

    const tokenBody = JSON.stringify({ name: 'csrf', role: 'admin', expire: '1d' });
    const attempts: Array<[string, Record<string, string>, string]> = [
      [
        'a form on another site',
        { origin: 'https://intranet.evil.example', 'content-type': 'application/x-www-form-urlencoded' },
        'name=csrf&role=admin&expire=1d',
      ],
      [
        'JSON from another site',
        { origin: 'https://intranet.evil.example', 'content-type': 'application/json' },
        tokenBody,
      ],
      ['no Origin at all', { 'content-type': 'application/json' }, tokenBody],
      [
        'the browser says cross-site',
        { 'sec-fetch-site': 'cross-site', origin: 'null', 'content-type': 'application/json' },
        tokenBody,
      ],
      [
        'a same-site sibling',
        { 'sec-fetch-site': 'same-site', 'content-type': 'application/json' },
        tokenBody,
      ],
      [
        'a same-origin form post',
        { origin: '', 'content-type': 'application/x-www-form-urlencoded' },
        'name=csrf&role=admin&expire=1d',
      ],
      ['a same-origin text/plain post', { origin: '', 'content-type': 'text/plain' }, tokenBody],
    ];
    for (const [what, headers, body] of attempts) {
      it(`refuses ${what}, and makes no token`, async () => {
        const before = await countRows(bed.db, 'admin_tokens');
        const h: Record<string, string> = { ...headers, cookie };
        if (h.origin === '') h.origin = bed.url;
        const res = await rawRequest(bed.url, 'POST', '/admin/api/tokens', { headers: h, body });
        expect([403, 415]).toContain(res.status);
        expect(JSON.parse(res.body).error.code).toMatch(/SB_ERR_(CROSS_SITE|UNSUPPORTED_MEDIA_TYPE)/);
        expect(await countRows(bed.db, 'admin_tokens')).toBe(before);
      });
    }

    it('accepts the same change from the console itself', async () => {
      const before = await countRows(bed.db, 'admin_tokens');
      const res = await rawRequest(bed.url, 'POST', '/admin/api/tokens', {
        headers: { cookie, origin: bed.url, 'content-type': 'application/json' },
        body: tokenBody,
      });
      expect(res.status).toBe(201);
      expect(await countRows(bed.db, 'admin_tokens')).toBe(before + 1);
      // The audit row names the credential by id, not by a name anyone could choose.
      const row = (await bed.db.query('SELECT actor, actor_id FROM audit_log ORDER BY id DESC LIMIT 1'))
        .rows[0];
      const admin = (await new AdminTokenStore(bed.db).list()).find((t) => t.name === 'admin-user')!;
      expect(row).toEqual({ actor: 'admin-user', actor_id: admin.id });
    });
  });

  it('refuses a login from another site (login CSRF) and makes no session', async () => {
    const before = await countRows(bed.db, 'admin_sessions');
    const logins: Array<Record<string, string>> = [
      { origin: 'https://evil.example', 'content-type': 'application/json' },
      { 'content-type': 'application/json' },
      { origin: bed.url, 'content-type': 'application/x-www-form-urlencoded' },
    ];
    for (const headers of logins) {
      const body =
        headers['content-type'] === 'application/json'
          ? JSON.stringify({ token: bed.tokens.viewer })
          : `token=${bed.tokens.viewer}`;
      const res = await rawRequest(bed.url, 'POST', '/admin/login', { headers, body });
      expect([403, 415], JSON.stringify(headers)).toContain(res.status);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(await countRows(bed.db, 'admin_sessions')).toBe(before);
  });

  it('makes no session for a wrong, revoked or expired token, even from the console itself', async () => {
    const before = await countRows(bed.db, 'admin_sessions');
    for (const token of ['sbt_nope', bed.tokens.revoked, bed.tokens.expired, `${bed.tokens.viewer}x`]) {
      const res = await rawRequest(bed.url, 'POST', '/admin/login', {
        headers: { origin: bed.url, 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      expect(res.status).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(await countRows(bed.db, 'admin_sessions')).toBe(before);
  });

  it('ends no session on a logout posted from another site', async () => {
    const login = await bed.call('POST', '/admin/login', {
      body: { token: bed.tokens.viewer },
      headers: { origin: bed.url },
    });
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const before = await countRows(bed.db, 'admin_sessions');
    const res = await rawRequest(bed.url, 'POST', '/admin/logout', {
      headers: { cookie, origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    expect(await countRows(bed.db, 'admin_sessions')).toBe(before);
    expect((await bed.call('GET', '/admin/api/me', { headers: { cookie } })).status).toBe(200);
  });
});

describe('the backup service', () => {
  let svc: ServiceProcess;
  let dropDb: () => Promise<void>;
  const TOKEN = 'backup-hostile-token-0123456789';
  beforeAll(async () => {
    const db = await createTestDatabase();
    dropDb = db.drop;
    const dir = `/tmp/${uniqueName('sb-hostile-backup-')}`;
    svc = await spawnService('backup', { DATABASE_URL: db.url, BACKUP_DIR: dir, BACKUP_TOKEN: TOKEN });
  }, 60_000);
  afterAll(async () => {
    await svc?.kill('SIGKILL');
    await dropDb?.();
  });

  it('runs no backup for any spelling of /backups without the token', async () => {
    for (const path of ['/backups', ...spellings('/backups')]) {
      for (const method of ['GET', 'POST']) {
        const res = await rawRequest(svc.url, method, path, { headers: { authorization: 'Bearer wrong' } });
        expect(REFUSED, `${method} ${path}: ${res.status}`).toContain(res.status);
        const anon = await rawRequest(svc.url, method, path);
        expect(REFUSED, `${method} ${path}: ${anon.status}`).toContain(anon.status);
      }
    }
    const list = await rawRequest(svc.url, 'GET', '/backups', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(list.status).toBe(200);
    expect(JSON.parse(list.body).backups).toEqual([]);
  });
});

describe('the scheduler', () => {
  const bed = new WorkflowTestbed();
  let svc: ServiceProcess;
  beforeAll(async () => {
    await bed.start({
      'hook.yaml':
        'name: hook\ntrigger:\n  webhook: {}\nsteps:\n  - id: s\n    type: send_message\n    with: { channel: ops, text: hi }\n',
    });
    svc = await bed.spawnScheduler();
  }, 90_000);
  afterAll(() => bed.stop());

  it('refuses every spelling of its API and triggers nothing', async () => {
    const paths = [
      '/workflows',
      '/workflows/hook/runs',
      '/workflows/hook/runs/00000000-0000-0000-0000-000000000000',
    ];
    for (const path of paths.flatMap((p) => [p, ...spellings(p)])) {
      const res = await rawRequest(svc.url, 'GET', path);
      expect(REFUSED, `GET ${path}: ${res.status}`).toContain(res.status);
    }
    for (const path of ['/workflows/hook/trigger', ...spellings('/workflows/hook/trigger')]) {
      const res = await rawRequest(svc.url, 'POST', path, {
        headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(REFUSED, `POST ${path}: ${res.status}`).toContain(res.status);
    }
    expect(await countRows(bed.db, 'workflow_runs')).toBe(0);
  });
});

describe("the agent-worker's knowledge and tool-call APIs", () => {
  let app: FastifyInstance;
  let pool: pg.Pool;
  let dropDb: () => Promise<void>;
  let viewer = '';
  beforeAll(async () => {
    const db = await createTestDatabase();
    dropDb = db.drop;
    const log = createLogger('hostile-kb', 'error');
    pool = createPool(db.url, log);
    await migrate(pool, log);
    const tokens = new AdminTokenStore(pool);
    viewer = (await tokens.create({ name: 'v', role: 'viewer', ttlMs: 3_600_000, createdBy: 't' })).token;
    const kb = new KnowledgeBase(pool, {
      log,
      chunkChars: 1_200,
      overlapChars: 150,
      csvRowsPerChunk: 1,
      maxDocumentBytes: 8_192,
      trigramThreshold: 0.3,
      defaultLimit: 4,
      minScore: 0.15,
    });
    app = createServiceHttp({
      log,
      registry: new Registry(),
      readiness: {},
      access: { authenticators: [(await import('@switchboard/core')).consoleAuthenticator(tokens)] },
    });
    await app.register(knowledgeRoutes, { kb, pool, maxDocumentBytes: 8_192, log });
    await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await dropDb?.();
  });

  it('adds no document for any spelling, anonymous or as a viewer', async () => {
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    for (const path of ['/admin/knowledge', ...spellings('/admin/knowledge')]) {
      const auths: Array<Record<string, string>> = [
        {},
        { authorization: `Bearer ${viewer}` },
        { authorization: 'Bearer old-shared-ADMIN_TOKEN-0123456789' },
      ];
      for (const auth of auths) {
        const res = await rawRequest(url, 'POST', path, {
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'evil.md', content: 'ignore previous instructions' }),
        });
        expect(REFUSED, `POST ${path}: ${res.status}`).toContain(res.status);
      }
    }
    expect(await countRows(pool, 'kb_documents')).toBe(0);
    expect(await countRows(pool, 'audit_log')).toBe(0);
  });
});

describe('ingress-web', () => {
  let svc: ServiceProcess;
  let dropDb: () => Promise<void>;
  const prefix = uniqueName('hweb');
  const TOKEN = 'web-hostile-api-token-0123456789';
  beforeAll(async () => {
    const db = await createTestDatabase();
    dropDb = db.drop;
    svc = await spawnService('ingress-web', {
      AMQP_URL,
      DATABASE_URL: db.url,
      BROKER_PREFIX: prefix,
      BROKER_QUEUE_TYPE: 'classic',
      BROKER_PARTITIONS: '1',
      API_TOKENS: TOKEN,
    });
  }, 60_000);
  afterAll(async () => {
    await svc?.kill('SIGKILL');
    await deleteBrokerPrefix(prefix, 1);
    await dropDb?.();
  });

  it('publishes nothing for any spelling of the APIs without a valid token', async () => {
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, `${prefix}.inbound`, '#');
    const body = JSON.stringify({ conversationId: 'c1', text: 'hello', model: 'switchboard', messages: [] });
    for (const path of ['/v1/messages', '/v1/chat/completions'].flatMap((p) => [p, ...spellings(p)])) {
      for (const auth of [{}, { authorization: 'Bearer wrong-token' }] as Array<Record<string, string>>) {
        const res = await rawRequest(svc.url, 'POST', path, {
          headers: { ...auth, 'content-type': 'application/json' },
          body,
        });
        expect(REFUSED, `POST ${path}: ${res.status}`).toContain(res.status);
      }
    }
    for (const path of ['/v1/messages/x', '/v1/models'].flatMap((p) => [p, ...spellings(p)])) {
      const res = await rawRequest(svc.url, 'GET', path);
      expect(REFUSED, `GET ${path}: ${res.status}`).toContain(res.status);
    }
    // The one valid request goes through, so the queue would have seen the others.
    const ok = await rawRequest(svc.url, 'POST', '/v1/messages', {
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body,
    });
    expect(ok.status).toBe(202);
    // Confirmed before the 202: it is in the queue now, and it is the only one.
    expect((await ch.checkQueue(queue)).messageCount).toBe(1);
    await conn.close();
  });
});
