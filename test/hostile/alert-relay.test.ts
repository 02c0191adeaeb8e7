/**
 * alert-relay pages the on-call team. Its webhook was public, on the grounds that Alertmanager
 * sends no credential: any container on the compose network (or any local process) could page
 * with a forged alert. Now the route is declared `{ caller: ['service'] }` and only a caller
 * presenting ALERT_RELAY_TOKEN as a bearer token gets past the access hook — before the body is
 * read, the robot called or anything counted. Each forgery below is refused with a reason, and
 * the fake robots received nothing and no counter moved; the real token still pages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceProcess } from '../../scripts/lib/spawn-service.ts';
import { post, RELAY_TOKEN, spawnAlertRelay, webhookPayload } from '../alerting/relay-harness.ts';
import { type FakeRobots, startFakeRobots } from '../fakes/robots/server.ts';
import { rawRequest, spellings } from './raw-http.ts';

const COUNTERS =
  /^switchboard_(alerts_received_total|alert_notifications_\w+_total|alert_notification_attempts_failed_total)\{/;

describe('hostile: a forged alert pages nobody', () => {
  let robots: FakeRobots;
  let relay: ServiceProcess;

  /** Every relay counter line (received, sent, failed, skipped, attempts): what "nothing counted" means. */
  const counters = async () =>
    (await (await fetch(`${relay.url}/metrics`)).text())
      .split('\n')
      .filter((l) => COUNTERS.test(l))
      .sort();

  beforeAll(async () => {
    robots = await startFakeRobots();
    relay = await spawnAlertRelay(robots);
  });
  afterAll(async () => {
    await relay?.kill();
    await robots?.stop();
  });

  const expectNothingSent = async (before: string[]) => {
    expect(robots.requests, 'a robot was called').toEqual([]);
    expect(robots.accepted).toEqual([]);
    expect(await counters()).toEqual(before);
  };

  it('refuses a webhook without the token, with a wrong one, or with it anywhere but the Authorization header', async () => {
    const before = await counters();
    const body = JSON.stringify(webhookPayload('firing', 'ForgedAlert'));
    const json = { 'content-type': 'application/json' };
    const wrong = `${RELAY_TOKEN.slice(0, -1)}${RELAY_TOKEN.endsWith('A') ? 'B' : 'A'}`;
    const q = encodeURIComponent(RELAY_TOKEN);
    const attempts: Array<[string, string, Record<string, string>]> = [
      ['no credential', '/alerts/wecom', json],
      ['a wrong token of the same length', '/alerts/wecom', { ...json, authorization: `Bearer ${wrong}` }],
      ['the token with a suffix', '/alerts/dingtalk', { ...json, authorization: `Bearer ${RELAY_TOKEN}x` }],
      [
        'a prefix of the token',
        '/alerts/wecom',
        { ...json, authorization: `Bearer ${RELAY_TOKEN.slice(0, 24)}` },
      ],
      ['the token in the query string', `/alerts/wecom?token=${q}`, json],
      ['the token as access_token', `/alerts/dingtalk?access_token=${q}`, json],
      ['the token in another header', '/alerts/wecom', { ...json, 'x-alert-relay-token': RELAY_TOKEN }],
      ['the token as Basic credentials', '/alerts/wecom', { ...json, authorization: `Basic ${RELAY_TOKEN}` }],
      ['the token without a scheme', '/alerts/wecom', { ...json, authorization: RELAY_TOKEN }],
      ['an empty bearer', '/alerts/wecom', { ...json, authorization: 'Bearer ' }],
    ];
    for (const [what, path, headers] of attempts) {
      const res = await rawRequest(relay.url, 'POST', path, { headers, body });
      expect(res.status, `${what}: ${res.body}`).toBe(401);
      const err = (JSON.parse(res.body) as { error: { code: string; message: string } }).error;
      expect(err.code, what).toBe('SB_ERR_UNAUTHORIZED');
      expect(err.message, what).toMatch(/^(authentication required|invalid alert-relay token)/);
    }
    await expectNothingSent(before);
  });

  it('refuses every spelling of /alerts/wecom without the token: none reaches the robot', async () => {
    const before = await counters();
    const body = JSON.stringify(webhookPayload('firing', 'ForgedAlert'));
    const routed: string[] = [];
    for (const path of ['/alerts/wecom', ...spellings('/alerts/wecom')]) {
      const res = await rawRequest(relay.url, 'POST', path, {
        headers: { 'content-type': 'application/json' },
        body,
      });
      // 401 where the router matched the route, 404 where it matched nothing: never a delivery.
      expect([401, 404], `${path}: ${res.status} ${res.body}`).toContain(res.status);
      const err = (JSON.parse(res.body) as { error: { code: string; message: string } }).error;
      if (res.status === 401) {
        expect(err.code, path).toBe('SB_ERR_UNAUTHORIZED');
        routed.push(path);
      } else
        expect(err, path).toMatchObject({
          code: 'SB_ERR_NOT_FOUND',
          message: expect.stringMatching(/^no route for POST /),
        });
    }
    // The spellings the router decodes to the route itself were refused by the access hook.
    expect(routed).toEqual(expect.arrayContaining(['/alerts/wecom', '/alerts/%77ecom', '/%61lerts/wecom']));
    await expectNothingSent(before);
  });

  it('still pages for the caller presenting the token (the refusals above were the token’s doing)', async () => {
    const res = await post(`${relay.url}/alerts/wecom`, webhookPayload('firing', 'RealAlert'));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toEqual({ status: 'sent', target: 'wecom' });
    expect(robots.accepted.map((m) => m.robot)).toEqual(['wecom']);
    expect(robots.accepted[0]?.text).toContain('RealAlert');
    expect(await counters()).toContainEqual(
      expect.stringMatching(/^switchboard_alert_notifications_sent_total\{target="wecom"[^}]*\} 1$/),
    );
    // Nothing forged slipped in beside it.
    expect(robots.accepted.some((m) => m.text.includes('ForgedAlert'))).toBe(false);
  });
});
