import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT, type ServiceProcess } from '../../scripts/lib/spawn-service.ts';
import { type FakeRobots, startFakeRobots } from '../fakes/robots/server.ts';
import { waitFor } from '../support/infra.ts';
import {
  type MonitoringProcess,
  startAlertmanager,
  startPrometheus,
  TinyExporter,
} from './monitoring-processes.ts';
import { RELAY_TOKEN, spawnAlertRelay } from './relay-harness.ts';

interface Route {
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: Route[];
}

interface Webhook {
  url: string;
  http_config?: { authorization?: { type?: string; credentials_file?: string } };
}

/**
 * The shipped alertmanager.yml with its waits shortened, alert-relay's compose address replaced
 * by the test's and its token file by one holding the test relay's token: routing, grouping keys,
 * receivers and the way Alertmanager authenticates stay as shipped.
 */
function testAlertmanagerConfig(relayUrl: string, tokenFile: string): string {
  const cfg = parse(readFileSync(join(ROOT, 'infra/prometheus/alertmanager.yml'), 'utf8')) as {
    route: Route;
    receivers: Array<{ webhook_configs?: Webhook[] }>;
  };
  const shorten = (r: Route) => {
    if (r.group_wait) r.group_wait = '1s';
    if (r.group_interval) r.group_interval = '1s';
    if (r.repeat_interval) r.repeat_interval = '1h';
    r.routes?.forEach(shorten);
  };
  shorten(cfg.route);
  for (const r of cfg.receivers) {
    for (const w of r.webhook_configs ?? []) {
      w.url = w.url.replace('http://alert-relay:9103', relayUrl);
      const auth = w.http_config?.authorization;
      if (auth?.credentials_file !== '/run/switchboard/secrets/alert_relay_token')
        throw new Error(`${w.url}: the shipped webhook does not present alert-relay's token`);
      auth.credentials_file = tokenFile;
    }
  }
  return stringify(cfg);
}

const TEST_RULE = `
groups:
  - name: pipeline-test
    rules:
      - alert: TestValueHigh
        expr: switchboard_test_value > 1
        labels:
          severity: critical
        annotations:
          summary: 'test value is {{ $value }}'
          description: 'The test exporter reports a value above 1.'
          runbook_url: docs/runbooks/service-down.md
`;

describe('paging: Prometheus → Alertmanager → alert-relay → WeCom and DingTalk robots', () => {
  let robots: FakeRobots;
  let relay: ServiceProcess;
  let exporter: TinyExporter;
  let alertmanager: MonitoringProcess;
  let prometheus: MonitoringProcess;
  let tokenDir: string | undefined;

  beforeAll(async () => {
    robots = await startFakeRobots();
    relay = await spawnAlertRelay(robots);
    exporter = await new TinyExporter().start();
    tokenDir = await mkdtemp(join(tmpdir(), 'sb-am-token-'));
    await writeFile(join(tokenDir, 'alert_relay_token'), `${RELAY_TOKEN}\n`, { mode: 0o600 });
    alertmanager = await startAlertmanager(
      testAlertmanagerConfig(relay.url, join(tokenDir, 'alert_relay_token')),
    );
    const promConfig = stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ['test-rules.yml'],
      alerting: {
        alertmanagers: [{ static_configs: [{ targets: [alertmanager.url.replace('http://', '')] }] }],
      },
      scrape_configs: [
        { job_name: 'test-exporter', static_configs: [{ targets: [exporter.url] }] },
        { job_name: 'alert-relay', static_configs: [{ targets: [relay.url.replace('http://', '')] }] },
      ],
    });
    prometheus = await startPrometheus(promConfig, { 'test-rules.yml': TEST_RULE });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await relay?.kill();
    await exporter?.stop();
    await robots?.stop();
    if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
  });

  it('pages both robots when the rule fires, retrying a refusal, and again as resolved when it clears', async () => {
    // The first DingTalk attempt is refused: the notification must still arrive.
    robots.failNext('dingtalk', { kind: 'errcode', errcode: 130101, errmsg: 'send too fast' });
    exporter.value = 5;

    const fired = await waitFor(
      'firing notification on both robots',
      () => {
        const w = robots.accepted.find(
          (m) => m.robot === 'wecom' && m.text.includes('[FIRING:1] TestValueHigh'),
        );
        const d = robots.accepted.find(
          (m) => m.robot === 'dingtalk' && m.title === '[FIRING:1] TestValueHigh',
        );
        return w && d ? { w, d } : undefined;
      },
      45_000,
    );
    expect(fired.w.text).toContain('<font color="warning">');
    expect(fired.w.text).toContain('test value is 5');
    expect(fired.w.text).toContain('[Runbook](docs/runbooks/service-down.md)');
    expect(fired.d.text).toContain('The test exporter reports a value above 1.');
    expect(robots.requests.find((r) => r.robot === 'dingtalk')?.answer).toBe(130101);

    exporter.value = 0;
    const resolved = await waitFor(
      'resolved notification on both robots',
      () => {
        const w = robots.accepted.find(
          (m) => m.robot === 'wecom' && m.text.includes('[RESOLVED] TestValueHigh'),
        );
        const d = robots.accepted.find(
          (m) => m.robot === 'dingtalk' && m.title === '[RESOLVED] TestValueHigh',
        );
        return w && d ? { w, d } : undefined;
      },
      45_000,
    );
    expect(resolved.w.text).toContain('<font color="info">');
    expect(resolved.w.text).toContain('Resolved (1):');
    expect(resolved.d.text).toContain('#1E8E3E');

    // Prometheus itself scrapes alert-relay's counters, as the shipped prometheus.yml has it do.
    await waitFor('Prometheus to see alert-relay send notifications', async () => {
      const q = encodeURIComponent('sum(switchboard_alert_notifications_sent_total{job="alert-relay"})');
      const body = (await (await fetch(`${prometheus.url}/api/v1/query?query=${q}`)).json()) as {
        data: { result: Array<{ value: [number, string] }> };
      };
      return Number(body.data.result[0]?.value[1] ?? 0) >= 4;
    });
    const metrics = await (await fetch(`${relay.url}/metrics`)).text();
    expect(metrics).toMatch(
      /switchboard_alerts_received_total\{target="dingtalk",status="resolved"[^}]*\} [1-9]/,
    );
    expect(metrics).toMatch(/switchboard_alert_notifications_sent_total\{target="wecom"[^}]*\} [2-9]/);
  }, 120_000);
});
