import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { createTestDatabase, waitFor } from '../support/infra.ts';
import { runCli } from './cli-harness.ts';

const TOKEN = 'test-backup-token-0123456789';

async function metric(svc: ServiceProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${svc.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('backup service', () => {
  let dbUrl: string;
  let dropDb: () => Promise<void>;
  let work: string;
  let svc: ServiceProcess | undefined;

  beforeAll(async () => {
    ({ url: dbUrl, drop: dropDb } = await createTestDatabase());
    work = await mkdtemp(join(tmpdir(), 'sb-backup-svc-'));
  });
  afterEach(async () => {
    await svc?.kill('SIGKILL');
    svc = undefined;
  });
  afterAll(async () => {
    await dropDb?.();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const start = (dir: string, extra: Record<string, string> = {}) =>
    spawnService('backup', {
      DATABASE_URL: dbUrl,
      BACKUP_DIR: dir,
      BACKUP_TOKEN: TOKEN,
      LOG_LEVEL: 'info',
      ...extra,
    });

  it('takes scheduled backups, updates the metric and prunes to the retention policy', async () => {
    const dir = join(work, 'scheduled');
    svc = await start(dir, { BACKUP_SCHEDULE: '* * * * * *', BACKUP_TZ: 'Asia/Shanghai' });
    const s = svc;
    const ts = await waitFor('a scheduled backup in the metric', async () => {
      const v = await metric(s, 'switchboard_backup_last_success_timestamp_seconds');
      return v && v > 0 ? v : undefined;
    });
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
    await waitFor('a second scheduled run', async () => {
      const v = await metric(s, 'switchboard_backups_total{outcome="success"');
      return (v ?? 0) >= 2;
    });
    const line = s.logs.find((l) => l.includes('"backup finished"'));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)['log.level']).toBe('info');
    // SIGTERM lets a run in progress finish (pruning included) and leaves no half-written folder.
    expect(await svc.kill('SIGTERM')).toBe(0);
    // Every run falls on the same day, week and month: the policy keeps only the newest.
    expect((await readdir(dir)).length).toBe(1);
  });

  it('takes a backup on an authenticated POST /backups and refuses a bad token', async () => {
    const dir = join(work, 'on-demand');
    svc = await start(dir);
    const none = await fetch(`${svc.url}/backups`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe('SB_ERR_UNAUTHORIZED');
    const wrong = await fetch(`${svc.url}/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}x` },
    });
    expect(wrong.status).toBe(401);
    expect(await readdir(dir)).toEqual([]);

    const ok = await fetch(`${svc.url}/backups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(ok.status).toBe(201);
    const body = await ok.json();
    expect(body.id).toMatch(/^\d{8}T\d{9}Z$/);
    expect(await readdir(dir)).toEqual([body.id]);
    expect(await metric(svc, 'switchboard_backups_total{outcome="success"')).toBe(1);
    expect(await metric(svc, 'switchboard_backups_total{outcome="failure"')).toBe(0);

    const listed = await fetch(`${svc.url}/backups`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect((await listed.json()).backups.map((m: { id: string }) => m.id)).toEqual([body.id]);
  });

  it('answers 409 to a second request while a backup runs', async () => {
    svc = await start(join(work, 'concurrent'));
    const post = () =>
      fetch(`${svc?.url}/backups`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    const statuses = (await Promise.all([post(), post()])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409]);
  });

  it('restores the last-success metric from the newest manifest at start', async () => {
    const dir = join(work, 'restart');
    const made = await runCli(['now'], { DATABASE_URL: dbUrl, BACKUP_DIR: dir });
    expect(made.code).toBe(0);
    const id = /backup (\S+) written/.exec(made.stdout)?.[1] ?? '';
    const iso = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.${id.slice(15, 18)}Z`;
    svc = await start(dir);
    expect(await metric(svc, 'switchboard_backup_last_success_timestamp_seconds')).toBe(
      Date.parse(iso) / 1000,
    );
  });

  it('refuses to start with a bad schedule, naming the key', async () => {
    await expect(start(join(work, 'bad'), { BACKUP_SCHEDULE: 'every night' })).rejects.toThrow(
      /BACKUP_SCHEDULE/,
    );
  });
});
