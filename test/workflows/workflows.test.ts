import { readFileSync } from 'node:fs';
import { ENVELOPE_VERSION, type InboundEnvelope, newTraceId } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '../support/infra.ts';
import { WorkflowTestbed } from './harness.ts';

const SEED = readFileSync(new URL('../../workspace/workflows/daily-report.yaml', import.meta.url), 'utf8');

const HOOK = `
name: hook
trigger:
  webhook: {}
steps:
  - id: host
    type: tool
    with: { tool: shell, arguments: { command: hostname } }
  - id: post
    type: send_message
    with:
      channel: ops
      text: "host {{ steps.host.output.stdout }} asked by {{ trigger.body.who }}"
      files: ["reports/{{ trigger.body.who }}.txt"]
`;

const FLAKY = `
name: flaky
trigger:
  webhook: {}
steps:
  - id: check
    type: tool
    with: { tool: shell, arguments: { command: "false" } }
    retry: { attempts: 3, backoff_ms: 50 }
    timeout_ms: 5000
  - id: never
    type: send_message
    with: { channel: ops, text: "not reached" }
on_failure:
  send_message:
    channel: alerts
    text: "{{ workflow.name }} failed at {{ error.step }}: {{ error.message }}"
`;

const ON_DEPLOY = `
name: on-deploy
trigger:
  message: { pattern: "^deploy (\\\\w+)$", platform: web }
steps:
  - id: note
    type: send_message
    with: { channel: ops, text: "deploy of {{ trigger.match[1] }} requested by {{ trigger.user.id }}" }
`;

const TICK = `
name: tick
trigger:
  cron: { schedule: "* * * * * *", timezone: Europe/Berlin }
steps:
  - id: now
    type: tool
    with: { tool: shell, arguments: { command: date } }
`;

// steps[1] misses its channel; the folder's other workflows must keep working.
const BROKEN = `
name: broken
trigger:
  webhook: {}
steps:
  - id: one
    type: tool
    with: { tool: shell, arguments: { command: date } }
  - id: post
    type: send_message
    with: { text: "{{ steps.one.output.stdout }}" }
`;

describe('scheduler workflows (real Redis, RabbitMQ, PostgreSQL; two scheduler processes)', () => {
  const bed = new WorkflowTestbed();

  beforeAll(async () => {
    await bed.start({
      'daily-report.yaml': SEED,
      'hook.yaml': HOOK,
      'flaky.yaml': FLAKY,
      'on-deploy.yaml': ON_DEPLOY,
      'broken.yaml': BROKEN,
    });
    await Promise.all([bed.spawnScheduler(), bed.spawnScheduler()]);
  }, 120_000);

  afterAll(async () => {
    // SIGTERM: both schedulers close their worker, queue, broker and database and exit 0.
    expect(await bed.stop()).toEqual([0, 0]);
  }, 60_000);

  it('runs a cron workflow once per tick across two scheduler processes', async () => {
    await bed.writeWorkflow('tick.yaml', TICK);
    const ticks = await waitFor(
      'four finished ticks',
      async () => {
        const { rows } = await bed.db.query<{ tick: Date; n: number }>(
          `SELECT scheduled_for AS tick, count(*)::int AS n FROM workflow_runs
           WHERE workflow = 'tick' AND status = 'succeeded' GROUP BY scheduled_for ORDER BY scheduled_for`,
        );
        return rows.length >= 4 ? rows : undefined;
      },
      30_000,
      100,
    );
    await bed.removeWorkflow('tick.yaml');
    // One scheduler removes it; the other finds it gone.
    await waitFor('the tick schedule removed', () =>
      bed.schedulers.some((s) => s.logs.some((l) => l.includes('workflow schedule removed'))),
    );
    const { rows } = await bed.db.query<{ tick: Date; n: number; jobs: number }>(
      `SELECT scheduled_for AS tick, count(*)::int AS n, count(DISTINCT job_id)::int AS jobs
       FROM workflow_runs WHERE workflow = 'tick' GROUP BY scheduled_for ORDER BY scheduled_for`,
    );
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    for (const r of rows) {
      expect(r.n).toBe(1);
      expect(r.tick.getUTCMilliseconds()).toBe(0);
    }
    // Ticks are whole, distinct seconds.
    const seconds = rows.map((r) => r.tick.getTime() / 1000);
    expect(new Set(seconds).size).toBe(seconds.length);
    for (let i = 1; i < seconds.length; i++) expect(seconds[i]! - seconds[i - 1]!).toBeGreaterThanOrEqual(1);
    const steps = await bed.db.query(
      `SELECT s.* FROM workflow_step_runs s JOIN workflow_runs r ON r.id = s.run_id
       WHERE r.workflow = 'tick' AND r.status = 'succeeded'`,
    );
    expect(steps.rows.length).toBe(ticks.reduce((n, t) => n + t.n, 0));
    expect(steps.rows.every((s) => (s.output as { stdout: string }).stdout.startsWith('Mon Jan'))).toBe(true);
  });

  it('refuses a webhook with a bad or missing token and queues nothing', async () => {
    const [a] = bed.schedulers;
    const bad = await bed.api(a!, '/workflows/hook/trigger', {
      method: 'POST',
      token: 'wrong-token',
      body: {},
    });
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED' } });
    const missing = await bed.api(a!, '/workflows/hook/trigger', { method: 'POST', token: null, body: {} });
    expect(missing.status).toBe(401);
    // The shared authorization hook answers before the route: the reason says how to authenticate.
    expect(JSON.stringify(missing.body)).toMatch(/Authorization: Bearer <token>/);
    // Without the right token an unknown workflow looks the same; with it, it is a 404.
    expect(
      (await bed.api(a!, '/workflows/nope/trigger', { method: 'POST', token: 'x', body: {} })).status,
    ).toBe(401);
    expect((await bed.api(a!, '/workflows/nope/trigger', { method: 'POST', body: {} })).status).toBe(404);
    expect((await bed.api(a!, '/workflows', { token: 'wrong-token' })).status).toBe(401);
    expect(await bed.runs('hook')).toHaveLength(0);
  });

  it('runs a webhook workflow: 202 with the run id, step outputs stored, templates fed from earlier steps', async () => {
    const [a, b] = bed.schedulers;
    const key = uniqueName('idem');
    const res = await bed.api(a!, '/workflows/hook/trigger', {
      method: 'POST',
      body: { who: 'alice' },
      headers: { 'idempotency-key': key },
    });
    expect(res.status).toBe(202);
    const runId = String(res.body.run_id);
    // The same request again (a retried webhook), even at the other replica: the same run.
    const again = await bed.api(b!, '/workflows/hook/trigger', {
      method: 'POST',
      body: { who: 'alice' },
      headers: { 'idempotency-key': key },
    });
    expect(again.body).toMatchObject({ run_id: runId, duplicate: true });

    const run = await waitFor('the hook run to succeed', async () => {
      const r = (await bed.runs('hook')).find((x) => x.id === runId);
      return r?.status === 'succeeded' ? r : undefined;
    });
    expect(run).toMatchObject({ trigger_type: 'webhook', error: null });
    expect(await bed.runs('hook')).toHaveLength(1);
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => [s.step_id, s.attempt, s.status])).toEqual([
      ['host', 1, 'succeeded'],
      ['post', 1, 'succeeded'],
    ]);
    expect(steps[0]!.output).toMatchObject({ stdout: 'ops-host-1', exit_code: 0 });
    expect(bed.sent()).toContainEqual({ channel: 'ops', text: 'host ops-host-1 asked by alice' });
    // Files go to the tool-runner's send_message as workspace paths, templates resolved.
    const post = bed.calls.find(
      (c) => c.tool === 'send_message' && c.arguments.text === 'host ops-host-1 asked by alice',
    );
    expect(post?.arguments.files).toEqual(['reports/alice.txt']);

    const detail = await bed.api(a!, `/workflows/hook/runs/${runId}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: runId, status: 'succeeded' });
    const list = await bed.api(b!, '/workflows/hook/runs');
    expect((list.body.runs as unknown[]).length).toBe(1);
  });

  it('retries a failing step, fails the run and sends the on_failure notification with the error', async () => {
    const [a] = bed.schedulers;
    const res = await bed.api(a!, '/workflows/flaky/trigger', { method: 'POST', body: {} });
    expect(res.status).toBe(202);
    const runId = String(res.body.run_id);
    const run = await waitFor('the flaky run to fail and notify', async () => {
      const r = (await bed.runs('flaky')).find((x) => x.id === runId);
      return r?.status === 'failed' && r.notified !== null ? r : undefined;
    });
    expect(run).toMatchObject({ failed_step: 'check', notified: true });
    expect(String(run.error)).toMatch(/exit code 1/);
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => [s.step_id, s.attempt, s.status])).toEqual([
      ['check', 1, 'failed'],
      ['check', 2, 'failed'],
      ['check', 3, 'failed'],
    ]);
    expect(steps.every((s) => /TOOL_FAILED: the command ended with exit code 1/.test(String(s.error)))).toBe(
      true,
    );
    const shellCalls = bed.calls.filter((c) => c.tool === 'shell' && c.arguments.command === 'false');
    expect(shellCalls).toHaveLength(3);
    const note = bed.sent().find((m) => m.channel === 'alerts');
    expect(note?.text).toMatch(
      /^flaky failed at check: step check: shell: TOOL_FAILED: the command ended with exit code 1/,
    );
    expect(bed.sent().some((m) => m.text === 'not reached')).toBe(false);
  });

  it('runs the seed daily report, and refuses an invalid file by name while the others run', async () => {
    const [a, b] = bed.schedulers;
    const listed = await bed.api(b!, '/workflows');
    expect(listed.status).toBe(200);
    const names = (listed.body.workflows as Array<{ name: string }>).map((w) => w.name);
    expect(names).toEqual(expect.arrayContaining(['daily-report', 'hook', 'flaky', 'on-deploy']));
    expect(names).not.toContain('broken');
    const seed = (listed.body.workflows as Array<Record<string, unknown>>).find(
      (w) => w.name === 'daily-report',
    );
    expect(seed).toMatchObject({
      enabled: true,
      trigger: { type: 'cron', schedule: '0 9 * * *', timezone: 'Asia/Shanghai' },
    });
    expect(String(seed?.next_run)).toMatch(/T01:00:00\.000Z$/);
    const problems = listed.body.problems as Array<{ ref: string; reason: string }>;
    expect(problems).toHaveLength(1);
    expect(problems[0]!.ref).toMatch(/broken\.yaml$/);
    expect(problems[0]!.reason).toMatch(/steps\[1\] \(id "post"\)\.with\.channel/);
    for (const s of bed.schedulers) {
      const line = s.logs.find((l) => l.includes('workflow refused: invalid'));
      expect(line).toBeDefined();
      expect(line).toMatch(/broken\.yaml/);
    }

    // A manual run of the cron workflow through the API token.
    const res = await bed.api(a!, '/workflows/daily-report/trigger', { method: 'POST' });
    expect(res.status).toBe(202);
    const runId = String(res.body.run_id);
    await waitFor('the daily report to succeed', async () => {
      const r = (await bed.runs('daily-report')).find((x) => x.id === runId);
      return r?.status === 'succeeded';
    });
    const steps = await bed.stepRows(runId);
    expect(steps.map((s) => s.step_id)).toEqual(['disk', 'uptime', 'post']);
    const report = bed.sent().find((m) => m.text.startsWith('**Daily report**'));
    expect(report?.channel).toBe('ops');
    expect(report?.text).toContain('/dev/sda1 50G 20G 30G 40% /');
    expect(report?.text).toContain('load average: 0.10');
    const df = bed.calls.find((c) => c.tool === 'shell' && c.arguments.command === 'df');
    expect(df?.arguments).toEqual({ command: 'df', args: ['-h'] });
    expect(df?.caller).toMatchObject({ botId: 'scheduler', conversationId: 'workflow:daily-report' });
    expect(df?.allowedTools).toEqual(['shell']);
  });

  it('starts exactly one run for an inbound message matching the pattern', async () => {
    const id = `web:bot:${uniqueName('m')}`;
    const env = (text: string, msgId: string): InboundEnvelope => ({
      v: ENVELOPE_VERSION,
      kind: 'inbound',
      id: msgId,
      platform: 'web',
      botId: 'bot',
      conversationId: 'c1',
      user: { id: 'u-42' },
      text,
      attachments: [],
      receivedAt: new Date().toISOString(),
      traceId: newTraceId(),
    });
    await bed.broker.publishInbound(env('hello there', `${id}-other`));
    await bed.broker.publishInbound(env('deploy api', id));
    // The same message again (a platform's redelivery): still one run.
    await bed.broker.publishInbound(env('deploy api', id));
    await waitFor('the duplicate to be recognised', () =>
      bed.schedulers.some((s) => s.logs.some((l) => l.includes('message trigger: run exists already'))),
    );
    const run = await waitFor('the on-deploy run to succeed', async () => {
      const runs = await bed.runs('on-deploy');
      return runs.length === 1 && runs[0]!.status === 'succeeded' ? runs[0] : undefined;
    });
    expect(run).toMatchObject({ trigger_type: 'message' });
    expect(bed.sent()).toContainEqual({ channel: 'ops', text: 'deploy of api requested by u-42' });
    expect(await bed.runs('on-deploy')).toHaveLength(1);
  });

  it('loads workflows made in the console from PostgreSQL and reloads them on NOTIFY', async () => {
    const source = HOOK.replace('name: hook', 'name: console-made');
    await bed.db.query(
      `INSERT INTO workflows (name, source, updated_by) VALUES ('console-made', $1, 'admin:test')`,
      [source],
    );
    await bed.db.query(`INSERT INTO workflows (name, source) VALUES ('bad-row', 'name: bad-row\nsteps: []')`);
    const listing = async (svc: (typeof bed.schedulers)[number]) => {
      const res = await bed.api(svc, '/workflows');
      return res.body as {
        workflows: Array<{ name: string; enabled: boolean; source: string }>;
        problems: Array<{ ref: string; reason: string }>;
      };
    };
    for (const svc of bed.schedulers) {
      await waitFor('the stored workflow on every scheduler', async () => {
        const l = await listing(svc);
        return l.workflows.some((w) => w.name === 'console-made' && w.source === 'database') &&
          l.problems.some((p) => p.ref === 'workflows/bad-row')
          ? true
          : undefined;
      });
    }
    const problem = (await listing(bed.schedulers[0]!)).problems.find((p) => p.ref === 'workflows/bad-row');
    expect(problem?.reason).toMatch(/trigger: .*steps: /);
    const [a] = bed.schedulers;
    const res = await bed.api(a!, '/workflows/console-made/trigger', {
      method: 'POST',
      body: { who: 'bob' },
    });
    expect(res.status).toBe(202);
    await waitFor('the stored workflow run to succeed', async () => {
      const runs = await bed.runs('console-made');
      return runs[0]?.status === 'succeeded';
    });
    await bed.db.query(`UPDATE workflows SET enabled = false WHERE name = 'console-made'`);
    for (const svc of bed.schedulers) {
      await waitFor('the workflow disabled on every scheduler', async () =>
        (await listing(svc)).workflows.some((w) => w.name === 'console-made' && !w.enabled),
      );
    }
    const refused = await bed.api(a!, '/workflows/console-made/trigger', { method: 'POST', body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: 'SB_ERR_WORKFLOW_DISABLED' } });
    expect(await bed.runs('console-made')).toHaveLength(1);
  });
});
