/**
 * Issue 11, item 3: through nginx, a path spelled with escapes or dot segments was matched as one
 * location (the public `= /admin/login`) while the admin service routed it as another, and the
 * console's cookie went to every third-party console and the chat page on the same origin.
 *
 * The real nginx runs the production template in front of recording upstreams. Requests go on the
 * wire exactly as written (sendRaw: no client-side URL normalisation). Every refusal is checked
 * twice: the status and reason the client gets, and that no upstream — not even the admin
 * service's /auth — saw anything.
 */
import { connect as h2connect } from 'node:http2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NginxProcess } from '../nginx/nginx-process.ts';
import { type Reply, sendRaw } from '../nginx/send.ts';
import { UpstreamRecorder } from '../nginx/upstream-recorder.ts';

const names = ['web', 'admin', 'rabbitmq', 'kibana', 'alertmanager', 'slack'] as const;
type Name = (typeof names)[number];

/** The recorder's /auth says yes to this header; it stands for a signed-in console session. */
const SIGNED_IN = { 'x-test-admin': 'yes' };

/**
 * Spellings that must never reach a location, written as they go on the wire. `parser`: nginx's
 * own request parser refuses it (a NUL, a walk above the root) before our check runs.
 */
const REFUSED: Array<[target: string, why: string, by?: 'parser']> = [
  ['/admin/api/tokens/..%2F..%2Flogin', 'the reported hole: nginx resolves it to /admin/login'],
  ['/admin/login/..%2Fapi/tokens', 'encoded slash after a dot segment'],
  ['/admin/login%2F..%2Fapi/tokens', 'encoded slashes around a dot segment'],
  ['/admin%2Fapi/tokens', 'encoded slash'],
  ['/admin/api%2ftokens', 'encoded slash, lower case'],
  ['/admin/%61pi/tokens', 'encoded letter'],
  ['/%61dmin/api/tokens', 'encoded letter in the first segment'],
  ['/admin/api/tok%65ns', 'encoded letter at the end'],
  ['/admin/api/tokens/%2E%2E/%2E%2E/login', 'encoded dots'],
  ['/admin/api/tokens/%2e%2e%2f%2e%2e%2flogin', 'encoded dots and slashes, lower case'],
  ['/admin/api/tokens/.%2E/.%2e/login', 'half-encoded dot segments'],
  ['/admin/login/%2e', 'encoded trailing dot'],
  ['/admin/login/../api/tokens', 'raw dot segment'],
  ['/admin/api/tokens/../../login', 'raw dot segments towards the public location'],
  ['/admin/./api/tokens', 'raw single-dot segment'],
  ['/admin/api/tokens/.', 'trailing /.'],
  ['/admin/api/tokens/..', 'trailing /..'],
  ['/admin//api/tokens', 'doubled slash'],
  ['//admin/api/tokens', 'leading doubled slash'],
  ['/admin/api/tokens//', 'trailing doubled slash'],
  ['/admin/api/tokens%5C..%5C..%5Clogin', 'encoded backslashes'],
  ['/admin/api/tokens%5c..%5c..%5clogin', 'encoded backslashes, lower case'],
  ['/admin/login\\..\\api\\tokens', 'raw backslashes'],
  ['/admin/login;x', 'path parameter (routers cut the path at ;)'],
  ['/admin/api/tokens;/../../login', 'path parameter hiding a dot segment'],
  ['/admin/login%00', 'encoded NUL', 'parser'],
  ['/admin/login%00/../api/tokens', 'encoded NUL before a dot segment', 'parser'],
  ['/../admin/api/tokens', 'a walk above the root', 'parser'],
  ['/admin/login%0A', 'encoded line feed'],
  ['/admin/login#/../api/tokens', 'a fragment sent on the wire'],
  ['/ADMIN/api/tokens', 'console path in upper case'],
  ['/Admin/login', 'console path in mixed case'],
  ['/RabbitMQ/api/overview', 'third-party console in mixed case'],
  ['/rabbitmq/..%2Fadmin/api/tokens', 'leaving /rabbitmq/ through an encoded slash'],
  ['/rabbitmq/api/%2F..%2F..%2Fadmin/api/tokens', 'the vhost exception is the bare %2F segment only'],
  ['/rabbitmq/api/queues/%2f/q', 'the vhost exception is upper-case %2F only'],
  ['/rabbitmq/api/queues/%2F/../../../admin/api/tokens', 'vhost segment followed by dot segments'],
  ['/rabbitmq/%2F/x', 'the vhost exception is below /rabbitmq/api/ only'],
  ['/kibana/../admin/api/tokens', 'leaving /kibana/'],
  ['/alertmanager/%2E%2E/admin/api/tokens', 'leaving /alertmanager/'],
  ['/v1/../admin/api/tokens', 'from the public API into the console'],
  ['/v1/messages/%2E%2E%2F%2E%2E%2Fadmin%2Fapi%2Ftokens', 'an id that decodes to a walk'],
  ['/admin/queues/..%2F..%2Fadmin/login', 'bull-board towards the login'],
  ['/slack/events/..%2F..%2Fadmin/api/tokens', 'from a webhook into the console'],
  ['https://127.0.0.1/admin/api/tokens/..%2F..%2Flogin', 'absolute-form request target'],
];

describe('nginx: one spelling per path, credentials only where they belong', () => {
  const up = {} as Record<Name, UpstreamRecorder>;
  let nginx: NginxProcess;

  const seen = () => names.flatMap((n) => up[n].requests.map((r) => `${n} ${r.method} ${r.url}`));
  const get = (target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> =>
    sendRaw(nginx.httpsPort, target, { ca: nginx.certPem, headers, method });

  beforeAll(async () => {
    for (const n of names) up[n] = await new UpstreamRecorder(n).start();
    nginx = await new NginxProcess({
      NGINX_WEB_UPSTREAM: up.web.address,
      NGINX_ADMIN_UPSTREAM: up.admin.address,
      NGINX_ADMIN_AUTH_URL: `http://${up.admin.address}/auth`,
      NGINX_RABBITMQ_UPSTREAM: up.rabbitmq.address,
      NGINX_KIBANA_UPSTREAM: up.kibana.address,
      NGINX_ALERTMANAGER_UPSTREAM: up.alertmanager.address,
      NGINX_SLACK_UPSTREAM: up.slack.address,
      // The login rate limit has its own test; here it must not be what refuses.
      NGINX_LOGIN_RATE: '6000r/m',
      NGINX_LOGIN_BURST: '1000',
    }).start();
  });
  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(names.map((n) => up[n]?.close()));
  });
  beforeEach(() => {
    for (const n of names) up[n].requests.splice(0);
  });

  it('refuses every non-canonical spelling with 400 and a reason, before any upstream or /auth sees it', async () => {
    for (const [target, why, by] of REFUSED) {
      for (const headers of [{}, SIGNED_IN]) {
        const res = await get(target, headers);
        const label = `${target} (${why}, ${headers === SIGNED_IN ? 'signed in' : 'anonymous'})`;
        expect(res.status, label).toBe(400);
        expect(seen(), label).toEqual([]);
        if (by === 'parser') continue;
        expect(res.headers['content-type'], label).toBe('application/json');
        const body = JSON.parse(res.body) as { error: { code: string; message: string } };
        expect(body.error.code, label).toBe('SB_ERR_BAD_REQUEST');
        expect(body.error.message, label).toMatch(/canonical form|lower case/);
      }
    }
  });

  it('refuses the same spellings over HTTP/2, where the path travels as :path', async () => {
    const session = h2connect(`https://localhost:${nginx.httpsPort}`, {
      ca: nginx.certPem,
      host: '127.0.0.1',
    });
    try {
      for (const [target, , by] of REFUSED) {
        if (by === 'parser' || target.startsWith('https:')) continue;
        const status = await new Promise<number>((resolve, reject) => {
          const req = session.request({ ':path': target, ...SIGNED_IN });
          req.on('response', (h) => resolve(Number(h[':status'])));
          req.on('error', reject);
          req.resume();
          req.end();
        });
        expect(status, target).toBe(400);
        expect(seen(), target).toEqual([]);
      }
      // The canonical path still goes through, and the host the browser used (its :authority,
      // port included) reaches the admin service for its Origin check.
      const ok = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/admin/api/me', ...SIGNED_IN });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      expect(ok).toBe(200);
      const got = up.admin.requests.find((r) => r.url === '/admin/api/me');
      expect(got?.headers['x-forwarded-host']).toBe(`localhost:${nginx.httpsPort}`);
    } finally {
      session.close();
    }
  });

  it('refuses an escape of any single character, and a doubled slash or dot segment at any slash', async () => {
    const targets: string[] = [];
    for (const path of ['/admin/login', '/admin/api/tokens', '/rabbitmq/api/users', '/v1/messages']) {
      for (let i = 0; i < path.length; i++) {
        const hex = path.charCodeAt(i).toString(16);
        for (const esc of [`%${hex.toUpperCase()}`, `%${hex.toLowerCase()}`]) {
          targets.push(path.slice(0, i) + esc + path.slice(i + 1));
        }
        if (path[i] === '/') {
          const [head, tail] = [path.slice(0, i), path.slice(i)];
          targets.push(`${head}/${tail}`, `${head}/.${tail}`, `${head}/x/..${tail}`, `${head}/%2e${tail}`);
        }
      }
    }
    for (const target of new Set(targets)) {
      const res = await get(target, SIGNED_IN);
      expect(res.status, target).toBe(400);
      expect(seen(), target).toEqual([]);
    }
  });

  it('keeps the public login to exactly /admin/login: near misses need a session', async () => {
    for (const target of ['/admin/loginx', '/admin/login/', '/admin/login%3Bx', '/admin/login.json']) {
      const res = await get(target, { cookie: 'sb_session=forged' });
      expect(res.status, target).toBe(401);
      // /auth decided on exactly the path that was asked for; the only other request is the
      // public form shown with the 401, never the asked-for route.
      const auth = up.admin.requests.filter((r) => r.url === '/auth');
      expect(
        auth.map((r) => r.headers['x-original-uri']),
        target,
      ).toEqual([target]);
      expect(seen(), target).toEqual(['admin GET /auth', 'admin GET /admin/login']);
      up.admin.requests.splice(0);
    }
    // The query is not part of the path: the login page still reaches the login route only.
    for (const target of [
      '/admin/login',
      '/admin/login?next=%2Fadmin%2Fparking',
      '/admin/login?x=/../api/tokens',
    ]) {
      const res = await get(target);
      expect(res.status, target).toBe(200);
      expect(seen(), target).toEqual([`admin GET ${target}`]);
      up.admin.requests.splice(0);
    }
  });

  it('passes canonical paths through unchanged, /auth seeing the very path the upstream gets', async () => {
    const cases: Array<[string, Name]> = [
      ['/admin/api/tokens', 'admin'],
      ['/admin/api/conversations/tg%3Abot%3A42/messages', 'admin'],
      ['/admin/api/pairing/blocklist/caf%C3%A9%20bar', 'admin'],
      ['/admin/queues/api/queues?page=1', 'admin'],
      ['/rabbitmq/api/queues/%2F/sb.parking', 'rabbitmq'],
      ['/rabbitmq/api/exchanges/%2F/sb.inbound/bindings/source', 'rabbitmq'],
      ['/kibana/app/discover?_g=(time:(from:now-15m))', 'kibana'],
      ['/alertmanager/api/v2/silences', 'alertmanager'],
    ];
    for (const [target, name] of cases) {
      const res = await get(target, SIGNED_IN);
      expect(res.status, target).toBe(200);
      expect(JSON.parse(res.body), target).toEqual({ upstream: name, url: target });
      const auth = up.admin.requests.filter((r) => r.url === '/auth');
      expect(
        auth.map((r) => r.headers['x-original-uri']),
        target,
      ).toEqual([target]);
      expect(
        up[name].requests.filter((r) => r.url !== '/auth').map((r) => r.url),
        target,
      ).toEqual([target]);
      for (const n of names) up[n].requests.splice(0);
    }
    // The public side is not narrowed by the check either.
    for (const target of [
      '/',
      '/chat.js',
      '/v1/messages/3f1c0e2a-9b1d-4c55-8d0e-7a1b2c3d4e5f',
      '/v1/models',
    ]) {
      const res = await get(target);
      expect(res.status, target).toBe(200);
      expect(seen(), target).toEqual([`web GET ${target}`]);
      up.web.requests.splice(0);
    }
  });

  it("sends the console's cookie and token to the admin service only; third parties get at most their own", async () => {
    const cookie = 'sb_session=S3ss10n; sb_admin=L3gacy; sid=K1bana; theme=dark';
    const bearer = 'Bearer sbk_console_token';
    const basic = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
    const headers = { ...SIGNED_IN, cookie, authorization: bearer };
    const last = (n: Name) => up[n].requests.filter((r) => r.url !== '/auth').at(-1);
    const lastAuth = () => up.admin.requests.filter((r) => r.url === '/auth').at(-1);

    // The admin service: its own session cookie and the bearer token, at /auth and behind it.
    expect((await get('/admin/api/me', headers)).status).toBe(200);
    expect(lastAuth()?.headers).toMatchObject({
      cookie,
      authorization: bearer,
      'x-original-uri': '/admin/api/me',
      'x-original-method': 'GET',
    });
    expect(last('admin')?.headers).toMatchObject({ cookie, authorization: bearer, 'x-admin-user': 'alice' });
    // Hosts the client claims for itself are overwritten with the one it actually addressed.
    expect((await get('/admin/api/me', { ...headers, 'x-forwarded-host': 'evil.example' })).status).toBe(200);
    expect(last('admin')?.headers['x-forwarded-host']).toBe(`127.0.0.1:${nginx.httpsPort}`);
    expect((await get('/admin/login', { cookie }, 'POST')).status).toBe(200);
    expect(last('admin')?.headers.cookie).toBe(cookie);

    // RabbitMQ: no cookie, and only its own Basic credentials — never the console's bearer token,
    // and /auth is not shown RabbitMQ's password.
    expect((await get('/rabbitmq/api/overview', headers)).status).toBe(200);
    expect(last('rabbitmq')?.headers.cookie).toBeUndefined();
    expect(last('rabbitmq')?.headers.authorization).toBeUndefined();
    expect(lastAuth()?.headers).toMatchObject({
      cookie,
      authorization: bearer,
      'x-original-uri': '/rabbitmq/api/overview',
    });
    expect((await get('/rabbitmq/api/overview', { ...SIGNED_IN, cookie, authorization: basic })).status).toBe(
      200,
    );
    expect(last('rabbitmq')?.headers.authorization).toBe(basic);
    expect(last('rabbitmq')?.headers.cookie).toBeUndefined();
    expect(lastAuth()?.headers.cookie).toBe(cookie);
    expect(lastAuth()?.headers.authorization).toBeUndefined();

    // Kibana: its own `sid` session only.
    expect((await get('/kibana/app/home', headers)).status).toBe(200);
    expect(last('kibana')?.headers.cookie).toBe('sid=K1bana');
    expect(last('kibana')?.headers.authorization).toBeUndefined();

    // Alertmanager: nothing.
    expect((await get('/alertmanager/api/v2/status', headers)).status).toBe(200);
    expect(last('alertmanager')?.headers.cookie).toBeUndefined();
    expect(last('alertmanager')?.headers.authorization).toBeUndefined();

    // The chat page, the APIs (API keys travel as bearer tokens), the chat socket and the webhooks:
    // no cookie at all.
    for (const target of ['/', '/v1/messages', '/v1/ws']) {
      const wsHeaders: Record<string, string> =
        target === '/v1/ws' ? { upgrade: 'websocket', connection: 'Upgrade' } : {};
      expect((await get(target, { cookie, authorization: bearer, ...wsHeaders })).status, target).toBe(200);
      expect(last('web')?.headers.cookie, target).toBeUndefined();
      expect(last('web')?.headers.authorization, target).toBe(bearer);
    }
    expect((await get('/slack/events', { cookie }, 'POST')).status).toBe(200);
    expect(last('slack')?.headers.cookie).toBeUndefined();
  });
});
