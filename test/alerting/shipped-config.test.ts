import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/lib/spawn-service.ts';

const run = promisify(execFile);
const PROM_DIR = join(ROOT, 'infra/prometheus');
const RULE_FILES = readdirSync(join(PROM_DIR, 'rules'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(PROM_DIR, 'rules', f));

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function rules(): Rule[] {
  return RULE_FILES.flatMap((f) =>
    (parse(readFileSync(f, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules),
  );
}

describe('shipped Prometheus and Alertmanager configuration', () => {
  it('passes promtool check config (which also checks the rule files it loads)', async () => {
    const { stdout } = await run('promtool', ['check', 'config', join(PROM_DIR, 'prometheus.yml')]);
    expect(stdout).toContain(`SUCCESS: ${RULE_FILES.length} rule files found`);
  });

  it('passes promtool check rules', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', ...RULE_FILES]);
    expect(stdout.match(/SUCCESS/g)).toHaveLength(RULE_FILES.length);
  });

  it('passes the rules unit tests (every alert fires on its condition, with its annotations)', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'tests/rules.test.yml'], { cwd: PROM_DIR });
    expect(stdout).toContain('SUCCESS');
  });

  it('passes amtool check-config', async () => {
    const { stdout } = await run('amtool', ['check-config', join(PROM_DIR, 'alertmanager.yml')]);
    expect(stdout).toContain('SUCCESS');
  });

  it('has the alerts the runbooks promise, each with summary, description and an existing runbook', () => {
    const all = rules();
    expect(all.map((r) => r.alert).sort()).toEqual([
      'AgentWorkersMissing',
      'BackupTooOld',
      'HostCpuHigh',
      'HostDiskHigh',
      'HostMemoryHigh',
      'MessageLatencyHigh',
      'ModelFailureRateHigh',
      'ParkingQueueGrowing',
      'QueueBacklogGrowing',
      'ReplyQueueWithoutConsumer',
      'ServiceDown',
      'UnroutedRepliesGrowing',
    ]);
    for (const r of all) {
      expect(r.labels?.severity, r.alert).toMatch(/^(critical|warning)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      const kebab = r.alert!.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
      expect(r.annotations?.runbook_url, r.alert).toBe(`docs/runbooks/${kebab}.md`);
      expect(existsSync(join(ROOT, r.annotations!.runbook_url!)), r.annotations!.runbook_url).toBe(true);
    }
  });

  it('uses the metric names the services actually export', () => {
    const exprs = rules()
      .map((r) => r.expr)
      .join('\n');
    const workerMetrics = readFileSync(join(ROOT, 'services/agent-worker/src/metrics.ts'), 'utf8');
    for (const name of ['message_latency_seconds', 'model_calls_total']) {
      expect(workerMetrics).toContain(`'${name}'`);
      expect(exprs).toContain(`switchboard_${name}`);
    }
    const backupMetrics = readFileSync(join(ROOT, 'services/backup/src/metrics.ts'), 'utf8');
    expect(backupMetrics).toContain("'backup_last_success_timestamp_seconds'");
    expect(exprs).toContain('switchboard_backup_last_success_timestamp_seconds');
  });

  it('scrapes every service and exporter by its compose name', () => {
    const cfg = parse(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{
        job_name: string;
        static_configs?: Array<{ targets: string[] }>;
        dns_sd_configs?: Array<{ names: string[]; type: string; port: number }>;
      }>;
    };
    // Static targets, and names looked up by DNS (scaled workers, profile-only connectors).
    const targets = cfg.scrape_configs.flatMap((s) => [
      ...(s.static_configs ?? []).flatMap((c) => c.targets),
      ...(s.dns_sd_configs ?? []).flatMap((c) => c.names.map((n) => `${n}:${c.port}`)),
    ]);
    expect(targets).toEqual(
      expect.arrayContaining([
        'ingress-web:8080',
        'agent-worker:9101',
        'tool-runner:9102',
        'ingress-telegram:8080',
        'ingress-slack:8080',
        'ingress-discord:8080',
        'ingress-wecom:8080',
        'ingress-dingtalk:8080',
        'alert-relay:9103',
        'backup:8090',
        'scheduler:9105',
        'rabbitmq:15692',
        'postgres-exporter:9187',
        'redis-exporter:9121',
        'node-exporter:9100',
      ]),
    );
  });

  it('repeats no faster than the robots allow and sends resolved notifications to alert-relay', () => {
    const am = parse(readFileSync(join(PROM_DIR, 'alertmanager.yml'), 'utf8')) as {
      route: { group_interval: string; repeat_interval: string };
      receivers: Array<{
        name: string;
        webhook_configs: Array<{ url: string; send_resolved: boolean; http_config?: unknown }>;
      }>;
    };
    expect(am.route.group_interval).toBe('5m');
    const hooks = am.receivers.flatMap((r) => r.webhook_configs);
    expect(hooks.map((h) => h.url).sort()).toEqual([
      'http://alert-relay:9103/alerts/dingtalk',
      'http://alert-relay:9103/alerts/wecom',
    ]);
    expect(hooks.every((h) => h.send_resolved)).toBe(true);
    // alert-relay refuses any caller without its token: every webhook presents it, from the file
    // init-secrets puts in Alertmanager's own secrets volume.
    for (const h of hooks)
      expect(h.http_config, h.url).toEqual({
        authorization: { type: 'Bearer', credentials_file: '/run/switchboard/secrets/alert_relay_token' },
      });
  });
});
