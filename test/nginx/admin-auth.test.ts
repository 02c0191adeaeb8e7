/**
 * nginx in front of the real admin service: the consoles' auth_request decided by the admin's own
 * policy, a login through nginx whose session cookie then opens the API and the third-party
 * consoles (which never receive it), and the roles per console.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminTestbed } from '../admin/harness.ts';
import { NginxProcess } from './nginx-process.ts';
import { send } from './send.ts';
import { UpstreamRecorder } from './upstream-recorder.ts';

describe('nginx + the real admin service', () => {
  const bed = new AdminTestbed();
  const up: Record<'rabbitmq' | 'alertmanager' | 'kibana', UpstreamRecorder> = {
    rabbitmq: new UpstreamRecorder('rabbitmq'),
    alertmanager: new UpstreamRecorder('alertmanager'),
    kibana: new UpstreamRecorder('kibana'),
  };
  let nginx: NginxProcess;
  let base = '';
  const bearer = (role: keyof AdminTestbed['tokens']) => ({ authorization: `Bearer ${bed.tokens[role]}` });

  beforeAll(async () => {
    await bed.start();
    for (const u of Object.values(up)) await u.start();
    const admin = bed.url.replace('http://', '');
    nginx = await new NginxProcess({
      NGINX_ADMIN_UPSTREAM: admin,
      NGINX_ADMIN_AUTH_URL: `${bed.url}/auth`,
      NGINX_RABBITMQ_UPSTREAM: up.rabbitmq.address,
      NGINX_ALERTMANAGER_UPSTREAM: up.alertmanager.address,
      NGINX_KIBANA_UPSTREAM: up.kibana.address,
    }).start();
    base = `https://127.0.0.1:${nginx.httpsPort}`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(Object.values(up).map((u) => u.close()));
    await bed.stop();
  });

  it('answers the API 401 without a token or with an expired one, and serves it with one', async () => {
    const none = await send(`${base}/admin/api/me`, { ca: nginx.certPem });
    expect(none.status).toBe(401);
    const expired = await send(`${base}/admin/api/me`, { ca: nginx.certPem, headers: bearer('expired') });
    expect(expired.status).toBe(401);
    const me = await send(`${base}/admin/api/me`, { ca: nginx.certPem, headers: bearer('viewer') });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ role: 'viewer' });
  });

  /** Signs in through nginx as a same-origin page does; returns the session cookie. */
  async function login(role: 'operator' | 'admin'): Promise<string> {
    const res = await send(`${base}/admin/login`, {
      ca: nginx.certPem,
      method: 'POST',
      // The Origin a browser sends from the console's own page: host and port, as nginx passes
      // them on in X-Forwarded-Host.
      headers: { 'content-type': 'application/json', origin: base },
      body: JSON.stringify({ token: bed.tokens[role], next: '/admin/parking' }),
    });
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ role, next: '/admin/parking' });
    const cookies = [res.headers['set-cookie'] ?? []].flat();
    // One session, scoped to the console and the three consoles nginx guards — never to `/`,
    // where the chat page and the APIs live.
    expect(cookies.map((c) => /;\s*Path=([^;]+)/i.exec(c)?.[1]).sort()).toEqual([
      '/admin',
      '/alertmanager/',
      '/kibana/',
      '/rabbitmq/',
    ]);
    for (const c of cookies) {
      expect(c).toMatch(/^sb_session=/);
      expect(c).toMatch(/HttpOnly/i);
      expect(c).toMatch(/;\s*Secure/i);
      expect(c).toMatch(/SameSite=Strict/i);
    }
    return cookies[0]?.split(';')[0] ?? '';
  }

  it('logs in through nginx: the HttpOnly session cookie then opens the API', async () => {
    const cookie = await login('operator');
    const me = await send(`${base}/admin/api/me`, { ca: nginx.certPem, headers: { cookie } });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ role: 'operator' });
  });

  it('refuses a login posted from another site, before it creates a session', async () => {
    const res = await send(`${base}/admin/login`, {
      ca: nginx.certPem,
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ token: bed.tokens.admin }),
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'SB_ERR_CROSS_SITE' } });
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('opens a third-party console with the session, which nginx keeps from the console itself', async () => {
    const cookie = await login('admin');
    const res = await send(`${base}/rabbitmq/api/overview`, {
      ca: nginx.certPem,
      headers: { cookie: `${cookie}; sid=kibana-own` },
    });
    expect(res.status).toBe(200);
    const got = up.rabbitmq.requests.filter((r) => r.url === '/rabbitmq/api/overview').at(-1);
    expect(got?.headers.cookie).toBeUndefined();
    expect(got?.headers.authorization).toBeUndefined();
    const kibana = await send(`${base}/kibana/app/home`, {
      ca: nginx.certPem,
      headers: { cookie: `${cookie}; sid=kibana-own` },
    });
    expect(kibana.status).toBe(200);
    expect(up.kibana.requests.at(-1)?.headers.cookie).toBe('sid=kibana-own');
  });

  it("applies each console's role: RabbitMQ changes need an admin, silences an operator", async () => {
    const ca = nginx.certPem;
    // Reading is for every role.
    for (const path of ['/rabbitmq/api/overview', '/kibana/app/home', '/alertmanager/api/v2/alerts'])
      expect((await send(`${base}${path}`, { ca, headers: bearer('viewer') })).status, path).toBe(200);
    // A viewer cannot change the broker or silence an alert; an operator can silence, not change the broker.
    const put = { ca, method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } };
    expect(
      (
        await send(`${base}/rabbitmq/api/queues/%2F/x`, {
          ...put,
          headers: { ...put.headers, ...bearer('viewer') },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await send(`${base}/rabbitmq/api/queues/%2F/x`, {
          ...put,
          headers: { ...put.headers, ...bearer('operator') },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await send(`${base}/rabbitmq/api/queues/%2F/x`, {
          ...put,
          headers: { ...put.headers, ...bearer('admin') },
        })
      ).status,
    ).toBe(200);
    const post = { ca, method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } };
    expect(
      (
        await send(`${base}/alertmanager/api/v2/silences`, {
          ...post,
          headers: { ...post.headers, ...bearer('viewer') },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await send(`${base}/alertmanager/api/v2/silences`, {
          ...post,
          headers: { ...post.headers, ...bearer('operator') },
        })
      ).status,
    ).toBe(200);
    // Only the allowed requests reached the consoles.
    expect(up.rabbitmq.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    expect(up.alertmanager.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('refuses a revoked token at the door as well', async () => {
    const res = await send(`${base}/rabbitmq/`, { ca: nginx.certPem, headers: bearer('revoked') });
    expect(res.status).toBe(401);
    expect(up.rabbitmq.requests.filter((r) => r.url === '/rabbitmq/')).toHaveLength(0);
  });
});
