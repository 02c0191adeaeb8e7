import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminTokenStore } from '@switchboard/core';
import amqplib from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName, waitFor } from '../support/infra.ts';
import { REDIS_URL } from './harness.ts';

const SCHEDULER_TOKEN = 'scheduler-api-token-for-admin-tests-0123';
const WORKFLOW = `name: disk-check
description: Disk usage on demand.
trigger:
  cron:
    schedule: "0 9 * * *"
steps:
  - id: disk
    type: tool
    with:
      tool: shell
      arguments: { command: df }
`;

/** The admin and the scheduler as the appliance runs them: processes started from source. */
describe('admin as a process, with the scheduler', () => {
  const prefix = uniqueName('admp');
  let db: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  let dir = '';
  let scheduler: ServiceProcess;
  let admin: ServiceProcess;
  const tokens: Record<string, string> = {};

  const env = () => ({
    AMQP_URL,
    DATABASE_URL: db.url,
    BROKER_PREFIX: prefix,
    BROKER_QUEUE_TYPE: 'classic',
    BROKER_PARTITIONS: '2',
    REDIS_URL,
    BULLMQ_PREFIX: prefix,
    LOG_LEVEL: 'info',
    HTTP_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });

  const call = async (path: string, as: string, init: RequestInit = {}) => {
    const res = await fetch(`${admin.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${tokens[as]}`, ...(init.headers as Record<string, string>) },
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    dir = await mkdtemp(join(tmpdir(), 'sb-admin-wf-'));
    await writeFile(join(dir, 'disk-check.yaml'), WORKFLOW);
    scheduler = await spawnService(
      'scheduler',
      { ...env(), WORKFLOWS_DIR: dir, WORKFLOW_WEBHOOK_TOKEN: SCHEDULER_TOKEN, STEP_TIMEOUT_MS: '500' },
      { readyTimeoutMs: 45_000 },
    );
    admin = await spawnService(
      'admin',
      { ...env(), SCHEDULER_URL: scheduler.url, SCHEDULER_TOKEN, COOKIE_SECURE: 'false' },
      { readyTimeoutMs: 45_000 },
    );
    const store = new AdminTokenStore(pool);
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      tokens[role] = (
        await store.create({ name: `${role}-p`, role, ttlMs: 3_600_000, createdBy: 'test' })
      ).token;
    }
  });

  afterAll(async () => {
    await admin?.kill();
    await scheduler?.kill();
    await pool?.end();
    await deleteBrokerPrefix(prefix, 2, 3);
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.deleteExchange(`${prefix}.logs`).catch(() => {});
    await conn.close().catch(() => {});
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ships its own log lines to the live log view', async () => {
    const lines = await waitFor('the start line in /admin/api/logs', async () => {
      const r = await call('/admin/api/logs?service=admin&q=admin%20started', 'viewer');
      const l = r.body.lines as Array<Record<string, unknown>>;
      return l.length ? l : undefined;
    });
    expect(lines[0]).toMatchObject({ message: 'admin started', 'service.name': 'admin' });
    // The refusal below is logged by the admin, shipped, and read back.
    expect((await call('/admin/api/tokens', 'viewer')).status).toBe(403);
    await waitFor('the refusal in the live logs', async () => {
      const r = await call('/admin/api/logs?level=warn&q=viewer-p', 'viewer');
      return (r.body.lines as unknown[]).length > 0;
    });
  });

  it('lists workflows, runs one and shows its runs through the scheduler', async () => {
    const list = await call('/admin/api/workflows', 'viewer');
    expect(list.status).toBe(200);
    expect((list.body.workflows as Array<{ name: string }>).map((w) => w.name)).toContain('disk-check');

    expect((await call('/admin/api/workflows/disk-check/run', 'viewer', { method: 'POST' })).status).toBe(
      403,
    );
    const run = await call('/admin/api/workflows/disk-check/run', 'operator', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(run.status).toBe(202);
    const runId = run.body.run_id as string;
    const runs = await call('/admin/api/workflows/disk-check/runs?limit=5', 'viewer');
    expect(runs.status).toBe(200);
    expect((runs.body.runs as Array<{ id: string; trigger_type: string }>)[0]).toMatchObject({
      id: runId,
      trigger_type: 'manual',
    });
    expect((await call('/admin/api/workflows/no-such/run', 'operator', { method: 'POST' })).status).toBe(404);
    const audit = await call('/admin/api/audit?action=workflow.run', 'viewer');
    expect(audit.body.entries).toMatchObject([
      { actor: 'operator-p', target: 'disk-check', details: { runId } },
    ]);
  });

  it('saves an edited workflow as YAML for the admin only, refusing bad YAML', async () => {
    const yaml = WORKFLOW.replace('disk-check', 'console-made').replace('on demand', 'made in the console');
    const put = (as: string, body: string, name = 'console-made') =>
      call(`/admin/api/workflows/${name}`, as, {
        method: 'PUT',
        headers: { 'content-type': 'application/yaml' },
        body,
      });
    expect((await put('operator', yaml)).status).toBe(403);
    expect((await put('admin', 'name: console-made\nsteps: nope\n')).status).toBe(400);
    expect((await put('admin', yaml, 'other-name')).status).toBe(400);
    expect((await pool.query('SELECT 1 FROM workflows')).rowCount).toBe(0);
    const ok = await put('admin', yaml);
    expect(ok.status).toBe(200);
    expect((await pool.query('SELECT source, updated_by FROM workflows')).rows).toEqual([
      { source: yaml, updated_by: 'admin:admin-p' },
    ]);
    // The scheduler picked it up through NOTIFY: it lists it.
    await waitFor('the scheduler to load the console workflow', async () => {
      const r = await call('/admin/api/workflows', 'viewer');
      return (r.body.workflows as Array<{ name: string }>).some((w) => w.name === 'console-made');
    });
    const audit = await call('/admin/api/audit?action=workflow.update', 'viewer');
    expect(audit.body.entries).toMatchObject([
      { actor: 'admin-p', target: 'console-made', details: { before: null, after: yaml } },
    ]);
  });

  it('login over plain HTTP when COOKIE_SECURE=false', async () => {
    const res = await fetch(`${admin.url}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: admin.url },
      body: JSON.stringify({ token: tokens.viewer }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('stops cleanly on SIGTERM with a stream open', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${admin.url}/admin/api/logs/stream`, {
      headers: { authorization: `Bearer ${tokens.viewer}` },
      signal: ctl.signal,
    });
    expect(res.status).toBe(200);
    expect(await admin.kill('SIGTERM', 15_000)).toBe(0);
    ctl.abort();
  });
});
