/**
 * nginx in front of the real admin service: the consoles' auth_request decided by the admin's own
 * policy, a login through nginx whose cookie then opens the API, and the roles per console.
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

  it('logs in through nginx: the Secure, HttpOnly cookie then opens the API', async () => {
    const login = await send(`${base}/admin/login`, {
      ca: nginx.certPem,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: bed.tokens.operator, next: '/admin/parking' }).toString(),
    });
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/admin/parking');
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/sb_admin=/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/Secure/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    const cookie = setCookie.split(';')[0] ?? '';
    const me = await send(`${base}/admin/api/me`, { ca: nginx.certPem, headers: { cookie } });
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ role: 'operator' });
  });

  it("applies each console's role: RabbitMQ changes need an admin, silences an operator", async () => {
    const ca = nginx.certPem;
    // Reading is for every role.
    expect((await send(`${base}/rabbitmq/api/overview`, { ca, headers: bearer('viewer') })).status).toBe(200);
    expect((await send(`${base}/kibana/app/home`, { ca, headers: bearer('viewer') })).status).toBe(200);
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
