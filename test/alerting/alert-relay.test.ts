import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { type FakeRobots, startFakeRobots } from '../fakes/robots/server.ts';
import { post, RELAY_TOKEN, spawnAlertRelay, webhookPayload } from './relay-harness.ts';

describe('alert-relay (real process, fake robots)', () => {
  let robots: FakeRobots;
  let relay: ServiceProcess;

  beforeAll(async () => {
    robots = await startFakeRobots();
    relay = await spawnAlertRelay(robots);
  });
  afterAll(async () => {
    await relay?.kill();
    await robots?.stop();
  });
  afterEach(() => {
    robots.accepted.length = 0;
    robots.requests.length = 0;
  });

  it('renders firing and resolved distinctly on both robots, DingTalk signed', async () => {
    for (const status of ['firing', 'resolved'] as const) {
      for (const target of ['wecom', 'dingtalk']) {
        const res = await post(`${relay.url}/alerts/${target}`, webhookPayload(status, 'ServiceDown'));
        expect(res.status, await res.clone().text()).toBe(200);
      }
    }
    const [wFiring, dFiring, wResolved, dResolved] = robots.accepted;
    expect(wFiring?.robot).toBe('wecom');
    expect(wFiring?.text).toContain('<font color="warning">**[FIRING:1] ServiceDown**</font>');
    expect(wFiring?.text).toContain('[Runbook](docs/runbooks/service-down.md)');
    expect(wResolved?.text).toContain('<font color="info">**[RESOLVED] ServiceDown**</font>');
    // The fake answers 310000 unless timestamp and sign verify: acceptance is the signature check.
    expect(dFiring).toMatchObject({ robot: 'dingtalk', title: '[FIRING:1] ServiceDown' });
    expect(dFiring?.text).toContain('### <font color="#D93026">[FIRING:1] ServiceDown</font>');
    expect(dResolved).toMatchObject({ robot: 'dingtalk', title: '[RESOLVED] ServiceDown' });
  });

  it('retries a robot answering errcode ≠ 0 or HTTP 5xx, then succeeds', async () => {
    robots.failNext(
      'wecom',
      { kind: 'errcode', errcode: 45009, errmsg: 'api freq out of limit' },
      { kind: 'http', status: 502 },
    );
    robots.failNext(
      'dingtalk',
      { kind: 'http', status: 500 },
      { kind: 'errcode', errcode: 130101, errmsg: 'send too fast' },
    );
    expect((await post(`${relay.url}/alerts/wecom`, webhookPayload('firing'))).status).toBe(200);
    expect((await post(`${relay.url}/alerts/dingtalk`, webhookPayload('firing'))).status).toBe(200);
    expect(robots.requests.map((r) => `${r.robot}:${r.answer}`)).toEqual([
      'wecom:45009',
      'wecom:502',
      'wecom:0',
      'dingtalk:500',
      'dingtalk:130101',
      'dingtalk:0',
    ]);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(
      /switchboard_alert_notification_attempts_failed_total\{target="wecom",reason="SB_ERR_PLATFORM_RATE_LIMITED"[^}]*\} 1/,
    );
  });

  it('gives up after its attempts with 502, counts the failure and never logs the robot secrets', async () => {
    const fault = { kind: 'errcode', errcode: 93000, errmsg: 'invalid webhook url' } as const;
    robots.failNext('wecom', fault, fault, fault, fault);
    const res = await post(`${relay.url}/alerts/wecom`, webhookPayload('firing'));
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: { code: 'SB_ERR_PLATFORM_API_FAILED', message: 'wecom robot did not accept the notification' },
    });
    expect(robots.requests).toHaveLength(4);
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_alert_notifications_failed_total\{target="wecom"[^}]*\} 1/);
    expect(metrics).toMatch(/switchboard_alerts_received_total\{target="wecom",status="firing"[^}]*\} \d+/);
    const logs = relay.logs.join('\n');
    expect(logs).toContain('alert notification given up');
    for (const secret of [robots.wecomKey, robots.dingtalkToken, robots.dingtalkSecret]) {
      expect(logs).not.toContain(secret);
    }
  });

  it('answers 400 with the reason for a payload that is not Alertmanager’s, sending nothing', async () => {
    const noAlerts = { ...webhookPayload('firing'), alerts: [] };
    const res = await post(`${relay.url}/alerts/wecom`, noAlerts);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SB_ERR_BAD_REQUEST');
    expect(body.error.message).toMatch(/^not an Alertmanager webhook payload: alerts: /);
    const badStatus = await post(`${relay.url}/alerts/dingtalk`, {
      ...webhookPayload('firing'),
      status: 'exploded',
    });
    expect(badStatus.status).toBe(400);
    expect(((await badStatus.json()) as { error: { message: string } }).error.message).toContain('status');
    expect((await post(`${relay.url}/alerts/wecom`, 'not json')).status).toBe(400);
    expect(robots.requests).toHaveLength(0);
  });

  it('answers 404 for a target without a robot', async () => {
    const res = await post(`${relay.url}/alerts/slack`, webhookPayload('firing'));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      'no robot configured for "slack" (configured: wecom, dingtalk)',
    );
  });

  it('starts without any robot and answers "skipped" instead of pretending a delivery', async () => {
    const bare = await spawnService(
      'alert-relay',
      { LOG_LEVEL: 'warn', ALERT_RELAY_TOKEN: RELAY_TOKEN },
      { readyTimeoutMs: 15_000 },
    );
    try {
      const res = await post(`${bare.url}/alerts/wecom`, webhookPayload('firing'));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        status: 'skipped',
        target: 'wecom',
        reason: 'no wecom robot configured',
      });
      const metrics = await (await fetch(`${bare.url}/metrics`)).text();
      expect(metrics).toMatch(/switchboard_alert_notifications_skipped_total\{[^}]*target="wecom"[^}]*\} 1/);
      expect(robots.requests).toHaveLength(0);
    } finally {
      await bare.kill();
    }
  });

  it('refuses to start without ALERT_RELAY_TOKEN, or with a short one, naming the key', async () => {
    for (const [env, why] of [
      [{}, 'ALERT_RELAY_TOKEN: is required (set ALERT_RELAY_TOKEN or ALERT_RELAY_TOKEN_FILE)'],
      [{ ALERT_RELAY_TOKEN: 'too-short' }, 'ALERT_RELAY_TOKEN: must be at least 24 characters'],
    ] as const) {
      const start = spawnService('alert-relay', { LOG_LEVEL: 'warn', ...env }, { readyTimeoutMs: 15_000 });
      const err = await start.then(
        async (p) => {
          await p.kill();
          return new Error('alert-relay started without a valid token');
        },
        (e: unknown) => e as Error,
      );
      expect(err.message).toMatch(/^alert-relay exited during start/);
      expect(err.message).toContain(why);
    }
  });

  it('reads the token, robot URLs and secret from *_FILE, as Docker secrets and Vault templates provide them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sb-relay-'));
    try {
      await writeFile(join(dir, 'token'), `${RELAY_TOKEN}\n`);
      await writeFile(join(dir, 'wecom'), `${robots.wecomUrl}\n`);
      await writeFile(join(dir, 'dingtalk'), robots.dingtalkUrl);
      await writeFile(join(dir, 'secret'), robots.dingtalkSecret);
      const fromFiles = await spawnService('alert-relay', {
        ALERT_RELAY_TOKEN_FILE: join(dir, 'token'),
        WECOM_ROBOT_URL_FILE: join(dir, 'wecom'),
        DINGTALK_ROBOT_URL_FILE: join(dir, 'dingtalk'),
        DINGTALK_ROBOT_SECRET_FILE: join(dir, 'secret'),
      });
      try {
        expect((await post(`${fromFiles.url}/alerts/dingtalk`, webhookPayload('firing'))).status).toBe(200);
        expect((await post(`${fromFiles.url}/alerts/wecom`, webhookPayload('firing'))).status).toBe(200);
        expect(robots.accepted.map((m) => m.robot)).toEqual(['dingtalk', 'wecom']);
      } finally {
        await fromFiles.kill();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM', async () => {
    const other = await spawnAlertRelay(robots);
    expect(await other.kill('SIGTERM')).toBe(0);
  });
});
