import { randomBytes } from 'node:crypto';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import type { FakeRobots } from '../fakes/robots/server.ts';

/** The bearer token the test relays require (ALERT_RELAY_TOKEN) and the test Alertmanager presents. */
export const RELAY_TOKEN = `relay-${randomBytes(24).toString('base64url')}`;

/** alert-relay as a real process, pointed at the fake robots, with retries short enough for a test. */
export function spawnAlertRelay(
  robots: FakeRobots,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  return spawnService('alert-relay', {
    LOG_LEVEL: 'debug',
    WECOM_ROBOT_URL: robots.wecomUrl,
    DINGTALK_ROBOT_URL: robots.dingtalkUrl,
    DINGTALK_ROBOT_SECRET: robots.dingtalkSecret,
    ROBOT_RETRY_MIN_MS: '20',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ALERT_RELAY_TOKEN: RELAY_TOKEN,
    ...env,
  });
}

/** An Alertmanager webhook payload (version 4) with one alert. */
export function webhookPayload(status: 'firing' | 'resolved', alertname = 'TestAlert') {
  const labels = { alertname, severity: 'critical', instance: 'agent-worker:9101' };
  return {
    version: '4',
    groupKey: `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
    status,
    receiver: 'chat-robots',
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: { summary: 'agent-worker is down', runbook_url: 'docs/runbooks/service-down.md' },
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels,
        annotations: { summary: 'agent-worker is down', description: 'cannot scrape' },
        startsAt: '2026-11-23T08:00:00Z',
        endsAt: status === 'resolved' ? '2026-11-23T08:10:00Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint: 'abc',
      },
    ],
  };
}

/** A POST as Alertmanager makes it: JSON, with the relay's bearer token unless `token` says otherwise. */
export function post(url: string, body: unknown, token: string | null = RELAY_TOKEN): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
