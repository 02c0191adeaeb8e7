import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { PairingStore } from '@switchboard/connector';
import amqplib from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, createTestDatabase, waitFor } from '../support/infra.ts';
import { postMessage } from '../support/web-client.ts';
import { CliStack, runCli } from './cli-stack.ts';

/** Each CLI run is a fresh Node process (about a second on a busy machine): generous limits. */
const SLOW = 180_000;

/** The `switchboard` CLI as a child process against the process-mode stack with admin, scheduler, backup. */
const s = new CliStack();
let db: pg.Pool;
const tokens: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' };
const actor = `cli:${userInfo().username}`;

/** Runs the CLI with `as`'s token (or none) and any extra environment. */
const cli = (args: string[], as?: keyof typeof tokens | null, extra: Record<string, string> = {}) =>
  runCli(args, s.env({ ...(as ? { SWITCHBOARD_TOKEN: tokens[as] } : {}), ...extra }));
const json = <T = Record<string, unknown>>(stdout: string) => JSON.parse(stdout) as T;

/** The admin API directly, for waiting on state without a CLI start each poll. */
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${s.admin.url}${path}`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
  return (await res.json()) as T;
}

beforeAll(async () => {
  await s.start();
  db = new pg.Pool({ connectionString: s.databaseUrl, max: 2 });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await s.stop();
});

describe('usage', () => {
  it(
    'prints help with exit 0 on every level, usage and exit 2 on bad input',
    async () => {
      const top = await runCli(['--help'], {}, { bin: true });
      expect(top.code).toBe(0);
      for (const c of [
        'status',
        'token create',
        'trace',
        'top',
        'parking replay',
        'pairing approve',
        'backup restore',
        'workflow run',
      ])
        expect(top.stdout).toContain(`switchboard ${c}`);
      const group = await runCli(['parking', '--help'], {});
      expect(group.code).toBe(0);
      expect(group.stdout).toContain('switchboard parking discard');
      const sub = await runCli(['token', 'create', '--help'], {});
      expect(sub.code).toBe(0);
      expect(sub.stdout).toContain('--expire');

      const unknown = await runCli(['frobnicate'], {});
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^switchboard: unknown command "frobnicate"\n/);
      expect(unknown.stderr).toContain('usage: switchboard');
      expect((await runCli([], {})).code).toBe(2);
      const noSub = await runCli(['token'], {});
      expect(noSub.code).toBe(2);
      expect(noSub.stderr).toContain('which one? create, list, revoke');
      const badFlag = await runCli(['status', '--bogus'], {});
      expect(badFlag.code).toBe(2);
      expect(badFlag.stderr).toContain("Unknown option '--bogus'");
      const missing = await runCli(['parking', 'replay'], {});
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('switchboard: parking replay: missing <id>');
      expect(missing.stderr).toContain('usage: switchboard parking replay <id>');
      const extra = await runCli(['status', 'now'], {});
      expect(extra.code).toBe(2);
    },
    SLOW,
  );
});

describe('token', () => {
  it(
    'creates the first tokens in PostgreSQL, each audited as the OS user',
    async () => {
      const made = await cli([
        'token',
        'create',
        '--role',
        'admin',
        '--expire',
        '8h',
        '--name',
        'alice',
        '--json',
      ]);
      expect(made.code, made.stderr).toBe(0);
      const a = json<{ token: string; id: string; name: string; role: string; expiresAt: string }>(
        made.stdout,
      );
      expect(a).toMatchObject({ name: 'alice', role: 'admin' });
      expect(a.token).toMatch(new RegExp(`^sbt_${a.id}_[A-Za-z0-9_-]{43}$`));
      const hours = (Date.parse(a.expiresAt) - Date.now()) / 3_600_000;
      expect(hours).toBeGreaterThan(7.9);
      expect(hours).toBeLessThanOrEqual(8);
      tokens.admin = a.token;

      // Human output: the token alone on stdout (for $(…)), what it is on stderr.
      for (const role of ['operator', 'viewer'] as const) {
        const r = await cli(['token', 'create', '--role', role, '--expire', '1h', '--name', `${role}-bob`]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^sbt_[a-z0-9]{12}_[A-Za-z0-9_-]{43}\n$/);
        expect(r.stderr).toContain(`"${role}-bob" (${role})`);
        expect(r.stderr).toContain('shown only now');
        tokens[role] = r.stdout.trim();
      }
      const audit = await db.query(
        `SELECT actor, action, target, details->>'role' AS role FROM audit_log WHERE action = 'token.create' ORDER BY id`,
      );
      expect(audit.rows).toEqual([
        { actor, action: 'token.create', target: a.id, role: 'admin' },
        { actor, action: 'token.create', target: expect.any(String), role: 'operator' },
        { actor, action: 'token.create', target: expect.any(String), role: 'viewer' },
      ]);
      // And the admin service takes them.
      const me = await fetch(`${s.admin.url}/admin/api/me`, {
        headers: { authorization: `Bearer ${a.token}` },
      });
      expect(await me.json()).toMatchObject({ name: 'alice', role: 'admin' });
    },
    SLOW,
  );

  it(
    'lists, revokes (a revoked token is refused with exit 4) and refuses bad input',
    async () => {
      const temp = json<{ id: string; token: string }>(
        (await cli(['token', 'create', '--role', 'viewer', '--expire', '30m', '--name', 'temp', '--json']))
          .stdout,
      );
      const list = await cli(['token', 'list', '--json']);
      expect(list.code).toBe(0);
      const listed = json<{ tokens: Array<{ id: string; name: string; role: string; state: string }> }>(
        list.stdout,
      );
      expect(listed.tokens.map((t) => t.name)).toEqual(['alice', 'operator-bob', 'viewer-bob', 'temp']);
      expect(listed.tokens.every((t) => t.state === 'active')).toBe(true);
      const human = await cli(['token', 'list']);
      expect(human.stdout).toMatch(/^ID\s+NAME\s+ROLE\s+STATE/);
      expect(human.stdout).toMatch(new RegExp(`${temp.id}\\s+temp\\s+viewer\\s+active`));
      expect(human.stdout).not.toContain('sbt_');

      const revoked = await cli(['token', 'revoke', temp.id]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`token ${temp.id} "temp" (viewer) revoked at`);
      expect(
        (
          await db.query(`SELECT actor FROM audit_log WHERE action = 'token.revoke' AND target = $1`, [
            temp.id,
          ])
        ).rows,
      ).toEqual([{ actor }]);
      expect(
        json<{ tokens: Array<{ id: string }> }>((await cli(['token', 'list', '--json'])).stdout).tokens.map(
          (t) => t.id,
        ),
      ).not.toContain(temp.id);
      const all = json<{ tokens: Array<{ id: string; state: string }> }>(
        (await cli(['token', 'list', '--all', '--json'])).stdout,
      );
      expect(all.tokens.find((t) => t.id === temp.id)?.state).toBe('revoked');
      const refused = await cli(['status'], null, { SWITCHBOARD_TOKEN: temp.token });
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/^switchboard: not authorised by the admin API: admin token revoked\n$/);

      expect((await cli(['token', 'revoke', 'zzzzzzzzzzzz'])).code).toBe(3);
      expect((await cli(['token', 'revoke', 'nope'])).code).toBe(2);
      const role = await cli(['token', 'create', '--role', 'root', '--expire', '8h']);
      expect(role.code).toBe(2);
      expect(role.stderr).toContain('--role "root": one of viewer, operator, admin');
      const long = await cli(['token', 'create', '--role', 'viewer', '--expire', '100d']);
      expect(long.code).toBe(2);
      expect(long.stderr).toContain('longer than the 90 days');
      expect((await cli(['token', 'create', '--role', 'viewer'])).code).toBe(2);
      const noDb = await runCli(['token', 'list'], {});
      expect(noDb.code).toBe(2);
      expect(noDb.stderr).toContain('set DATABASE_URL or DATABASE_URL_FILE');
      const dbDown = await cli(['token', 'list'], null, {
        DATABASE_URL: 'postgres://sbtest:sbtest@127.0.0.1:1/x',
      });
      expect(dbDown.code).toBe(5);
      expect(dbDown.stderr).toContain('cannot reach PostgreSQL');
    },
    SLOW,
  );

  it(
    'refuses a missing or bad admin token with exit 4',
    async () => {
      const none = await cli(['status']);
      expect(none.code).toBe(4);
      expect(none.stderr).toContain('no admin token');
      const bad = await cli(['parking', 'list'], null, {
        SWITCHBOARD_TOKEN: `sbt_${'a'.repeat(12)}_${'b'.repeat(43)}`,
      });
      expect(bad.code).toBe(4);
      expect(bad.stderr).toContain('unknown admin token');
      // SWITCHBOARD_TOKEN_FILE, as a Docker secret would hold it.
      const file = join(tmpdir(), `sb-cli-token-${process.pid}`);
      await writeFile(file, `${tokens.viewer}\n`, { mode: 0o600 });
      expect((await cli(['parking', 'list'], null, { SWITCHBOARD_TOKEN_FILE: file })).code).toBe(0);
      await rm(file, { force: true });
      // --token wins over the environment.
      expect(
        (await cli(['parking', 'list', '--token', tokens.viewer], null, { SWITCHBOARD_TOKEN: 'x' })).code,
      ).toBe(0);
    },
    SLOW,
  );
});

describe('status, trace and top', () => {
  it(
    'status: every service ready, queue depths, exit 0',
    async () => {
      const r = await cli(['status', '--json'], 'viewer');
      expect(r.code, r.stderr).toBe(0);
      const st = json<{ services: Array<{ name: string; ready: boolean }>; queues: Array<{ name: string }> }>(
        r.stdout,
      );
      expect(st.services.map((x) => [x.name, x.ready])).toEqual([
        ['ingress-web', true],
        ['agent-worker', true],
        ['scheduler', true],
        ['backup', true],
      ]);
      expect(st.queues.map((q) => q.name)).toContain(`${s.prefix}.agent.in.0`);
      const human = await cli(['status'], 'viewer');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/ingress-web\s+ready\s+http:\/\/127\.0\.0\.1:\d+/);
      expect(human.stdout).toMatch(new RegExp(`${s.prefix}\\.parking\\s+\\d+`));
      expect(human.stdout).toContain('4 of 4 services ready');
    },
    SLOW,
  );

  it(
    'trace: the hops of a message that went through the stack; exit 3 for an unknown id',
    async () => {
      const sent = await postMessage(s.stack.web.url, s.stack.token, {
        conversationId: 'cli-trace',
        text: 'hello cli',
      });
      expect(sent.status).toBe(202);
      const id = String(sent.body.id);
      await waitFor('the answer', async () => {
        const r = await fetch(`${s.stack.web.url}/v1/messages/${encodeURIComponent(id)}`, {
          headers: { authorization: `Bearer ${s.stack.token}` },
        });
        return ((await r.json()) as { status: string }).status === 'answered';
      });
      const r = await cli(['trace', id, '--json'], 'viewer');
      expect(r.code, r.stderr).toBe(0);
      const t = json<{
        messageId: string;
        traceId: string;
        hops: Array<{ service: string; event: string }>;
        modelCalls: Array<{ model: string }>;
      }>(r.stdout);
      expect(t).toMatchObject({ messageId: id, traceId: sent.body.traceId });
      expect(t.hops.map((h) => h.service)).toEqual(expect.arrayContaining(['ingress-web', 'agent-worker']));
      expect(t.modelCalls[0]?.model).toBe('ollama/fake-small');
      const human = await cli(['trace', id], 'viewer');
      expect(human.stdout).toContain(`trace   ${String(sent.body.traceId)}`);
      expect(human.stdout).toMatch(/agent-worker\s+processed/);
      expect(human.stdout).toContain('ollama/fake-small');
      const unknown = await cli(['trace', 'web:web:no-such-message'], 'viewer');
      expect(unknown.code).toBe(3);
      expect(unknown.stderr).toBe('switchboard: no message web:web:no-such-message\n');
    },
    SLOW,
  );

  it(
    'top --once: rates per platform, service and model',
    async () => {
      const r = await cli(['top', '--once', '--json'], 'viewer');
      expect(r.code, r.stderr).toBe(0);
      const o = json<{ platforms: Array<{ platform: string; messages: number }>; models: unknown[] }>(
        r.stdout,
      );
      expect(o.platforms.find((p) => p.platform === 'web')?.messages).toBeGreaterThanOrEqual(1);
      const human = await cli(['top', '--once', '--window', '1h'], 'viewer');
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('window 1h');
      expect(human.stdout).toMatch(/^web\s+\d+\.\d\s+[1-9]/m);
      expect(human.stdout).toMatch(/^agent-worker\s+\d+\.\d/m);
      expect(human.stdout).toMatch(/^ollama\/fake-small\s+/m);
      expect((await cli(['top', '--once', '--window', 'soon'], 'viewer')).code).toBe(2);
    },
    SLOW,
  );

  it(
    'top without --once polls until Ctrl-C (one JSON line a frame with --json)',
    async () => {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', 'packages/cli/src/main.ts', 'top', '--interval', '0.5', '--json'],
        { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...s.env({ SWITCHBOARD_TOKEN: tokens.viewer }) } },
      );
      let out = '';
      proc.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      const closed = new Promise<number | null>((r) => proc.on('close', r));
      await waitFor('two frames', () => out.split('\n').filter(Boolean).length >= 2, 30_000);
      proc.kill('SIGINT');
      expect(await closed).toBe(0);
      for (const line of out.split('\n').filter(Boolean))
        expect(JSON.parse(line)).toMatchObject({ window: '5m', platforms: expect.any(Array) });
    },
    SLOW,
  );
});

describe('parking', () => {
  it(
    'lists what a worker parked; a viewer may not replay; an operator replays and discards',
    async () => {
      // A message no worker can read: the worker parks it straight away, with the reason.
      const conn = await amqplib.connect(AMQP_URL);
      const ch = await conn.createConfirmChannel();
      ch.publish(`${s.prefix}.inbound`, 'in.0.web', Buffer.from('{"not":"an envelope"}'), {
        persistent: true,
        messageId: 'cli-park-1',
        contentType: 'application/json',
        headers: { 'x-sb-trace-id': 'trace-cli-park' },
      });
      await ch.waitForConfirms();
      await conn.close();
      const parked = async () =>
        (
          await api<{ messages: Array<{ id: string; messageId: string }> }>('/admin/api/parking')
        ).messages.filter((m) => m.messageId === 'cli-park-1');
      await waitFor('the worker to park it', async () => (await parked()).length === 1);

      const list = await cli(['parking', 'list', '--json'], 'viewer');
      expect(list.code, list.stderr).toBe(0);
      const [m] = json<{ messages: Array<Record<string, unknown>> }>(list.stdout).messages;
      expect(m).toMatchObject({
        messageId: 'cli-park-1',
        routingKey: `${s.prefix}.agent.in.0`,
        errorCode: 'SB_ERR_ENVELOPE_INVALID',
      });
      const id = String(m?.id);
      const human = await cli(['parking', 'list'], 'viewer');
      expect(human.stdout).toMatch(new RegExp(`${id}\\s+cli-park-1\\s+${s.prefix}\\.agent\\.in\\.0`));
      expect(human.stdout).toContain('SB_ERR_ENVELOPE_INVALID');
      const show = await cli(['parking', 'show', id, '--json'], 'viewer');
      expect(json(show.stdout)).toMatchObject({ id, body: { not: 'an envelope' } });

      const denied = await cli(['parking', 'replay', id], 'viewer');
      expect(denied.code).toBe(4);
      expect(denied.stderr).toMatch(
        /^switchboard: this needs the operator role; token "viewer-bob" is viewer\n$/,
      );
      const gone = await cli(['parking', 'replay', '0'.repeat(24)], 'operator');
      expect(gone.code).toBe(3);
      expect((await cli(['parking', 'replay', 'xyz'], 'operator')).code).toBe(2);

      const replay = await cli(['parking', 'replay', id, '--json'], 'operator');
      expect(replay.code, replay.stderr).toBe(0);
      expect(json(replay.stdout)).toEqual({
        replayed: { id, messageId: 'cli-park-1', queue: `${s.prefix}.agent.in.0` },
      });
      // Still unreadable: the worker parks it again, as a new parking entry.
      const again = await waitFor('it to be parked again', async () => {
        const p = await parked();
        return p.length === 1 && p[0]?.id !== id ? p[0] : undefined;
      });
      const discard = await cli(['parking', 'discard', again.id], 'operator');
      expect(discard.code, discard.stderr).toBe(0);
      expect(discard.stdout).toBe(`discarded ${again.id} (message cli-park-1)\n`);
      expect((await cli(['parking', 'discard', again.id], 'operator')).code).toBe(3);
      const audit = await db.query(
        `SELECT actor, action FROM audit_log WHERE action LIKE 'parking.%' ORDER BY id`,
      );
      expect(audit.rows).toEqual([
        { actor: 'operator-bob', action: 'parking.replay' },
        { actor: 'operator-bob', action: 'parking.discard' },
      ]);
    },
    SLOW,
  );
});

describe('pairing', () => {
  it(
    'lists pending requests, approves and denies them as an operator',
    async () => {
      const store = new PairingStore(db);
      const open = async (ext: string) =>
        (await store.open({
          platform: 'telegram',
          botId: 'bot1',
          externalId: ext,
          userName: `name-${ext}`,
          conversationId: `tg-${ext}`,
          messageId: `tg:bot1:${ext}`,
          code: '123456',
          ttlSeconds: 600,
        }))!.id;
      const a = await open('u-approve');
      const d = await open('u-deny');
      const list = await cli(['pairing', 'list', '--json'], 'viewer');
      expect(list.code, list.stderr).toBe(0);
      expect(json<{ pending: Array<{ id: string }> }>(list.stdout).pending.map((p) => p.id)).toEqual([a, d]);
      const human = await cli(['pairing', 'list'], 'viewer');
      expect(human.stdout).toMatch(new RegExp(`^${a}\\s+telegram\\s+u-approve\\s+name-u-approve`, 'm'));

      expect((await cli(['pairing', 'approve', a], 'viewer')).code).toBe(4);
      expect((await cli(['pairing', 'approve', '99999'], 'operator')).code).toBe(3);
      expect((await cli(['pairing', 'approve', 'abc'], 'operator')).code).toBe(2);
      const ok = await cli(['pairing', 'approve', a], 'operator');
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toBe(`approved pairing request ${a}: telegram user u-approve is paired\n`);
      const twice = await cli(['pairing', 'approve', a], 'operator');
      expect(twice.code).toBe(1);
      expect(twice.stderr).toContain('already approved');

      const denied = await cli(['pairing', 'deny', d, '--block', '2h', '--json'], 'operator');
      expect(denied.code, denied.stderr).toBe(0);
      expect(json(denied.stdout)).toMatchObject({
        request: { id: d, status: 'denied', decidedBy: 'admin:operator-bob' },
      });
      const after = json<{ pending: unknown[]; blocklist: Array<{ id: string; until: string }> }>(
        (await cli(['pairing', 'list', '--json'], 'viewer')).stdout,
      );
      expect(after.pending).toEqual([]);
      expect(after.blocklist.map((b) => b.id)).toEqual(['telegram:u-deny']);
      const hours = (Date.parse(after.blocklist[0]!.until) - Date.now()) / 3_600_000;
      expect(hours).toBeGreaterThan(1.9);
    },
    SLOW,
  );
});

describe('workflow', () => {
  it(
    'lists the scheduler workflows and runs one as an operator',
    async () => {
      const list = await cli(['workflow', 'list', '--json'], 'viewer');
      expect(list.code, list.stderr).toBe(0);
      expect(json<{ workflows: Array<{ name: string }> }>(list.stdout).workflows.map((w) => w.name)).toEqual([
        'disk-check',
      ]);
      const human = await cli(['workflow', 'list'], 'viewer');
      expect(human.stdout).toMatch(/^disk-check\s+yes\s+cron 0 9 \* \* \*/m);

      expect((await cli(['workflow', 'run', 'disk-check'], 'viewer')).code).toBe(4);
      const run = await cli(['workflow', 'run', 'disk-check', '--input', '{"why":"cli test"}'], 'operator');
      expect(run.code, run.stderr).toBe(0);
      const runId = /run ([0-9a-f-]{36})/.exec(run.stdout)?.[1];
      expect(runId).toBeDefined();
      const runs = json<{ runs: Array<{ id: string; trigger_type: string }> }>(
        (await cli(['workflow', 'runs', 'disk-check', '--json'], 'viewer')).stdout,
      );
      expect(runs.runs[0]).toMatchObject({ id: runId, trigger_type: 'manual' });
      expect((await cli(['workflow', 'run', 'no-such'], 'operator')).code).toBe(3);
      expect((await cli(['workflow', 'run', 'disk-check', '--input', '[1]'], 'operator')).code).toBe(2);
    },
    SLOW,
  );
});

describe('backup', () => {
  it(
    'takes and lists backups through the backup service, restores one into another database',
    async () => {
      const now = await cli(['backup', 'now', '--json']);
      expect(now.code, now.stderr).toBe(0);
      const { id } = json<{ id: string }>(now.stdout);
      expect(id).toMatch(/^\d{8}T\d{9}Z$/);
      const list = await cli(['backup', 'list', '--json']);
      expect(json<{ backups: Array<{ id: string }> }>(list.stdout).backups.map((b) => b.id)).toEqual([id]);
      const human = await cli(['backup', 'list']);
      expect(human.stdout).toMatch(new RegExp(`^${id}\\s+\\d{4}-\\d\\d-\\d\\d .*postgresql:ok`, 'm'));
      const badToken = await cli(['backup', 'list'], null, { BACKUP_TOKEN: 'not-the-token-at-all' });
      expect(badToken.code).toBe(4);
      expect(badToken.stderr).toContain('backup service');

      const target = await createTestDatabase();
      try {
        const env = { DATABASE_URL: target.url };
        const unconfirmed = await cli(['backup', 'restore', id], null, env);
        expect(unconfirmed.code).toBe(2);
        expect(unconfirmed.stderr).toContain('pass --yes');
        expect((await cli(['backup', 'restore', '20200101T000000000Z', '--yes'], null, env)).code).toBe(3);
        const restored = await cli(['backup', 'restore', id, '--yes'], null, env);
        expect(restored.code, restored.stderr).toBe(0);
        expect(restored.stdout).toContain(`verified`);
        expect(restored.stdout).toContain('PostgreSQL restored');
        const c = new pg.Client({ connectionString: target.url });
        await c.connect();
        const names = (await c.query<{ name: string }>('SELECT name FROM admin_tokens ORDER BY created_at'))
          .rows;
        await c.end();
        expect(names.map((n) => n.name)).toContain('alice');
      } finally {
        await target.drop();
      }
    },
    SLOW,
  );
});

describe('when services are down', () => {
  it(
    'status exits 1 naming the service that is not ready',
    async () => {
      await s.backup.kill('SIGTERM', 10_000);
      const r = await cli(['status'], 'viewer');
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/backup\s+NOT READY/);
      expect(r.stderr).toBe('switchboard: 1 not ready: backup\n');
      const j = await cli(['status', '--json'], 'viewer');
      expect(j.code).toBe(1);
      expect(
        json<{ services: Array<{ name: string; ready: boolean }> }>(j.stdout).services.find(
          (x) => x.name === 'backup',
        )?.ready,
      ).toBe(false);
      expect((await cli(['backup', 'list'])).code).toBe(5);
    },
    SLOW,
  );

  it(
    'exits 5 when the admin service cannot be reached',
    async () => {
      await s.admin.kill('SIGTERM', 10_000);
      const r = await cli(['parking', 'list'], 'viewer');
      expect(r.code).toBe(5);
      expect(r.stderr).toBe(`switchboard: cannot reach the admin API at ${s.admin.url}: ECONNREFUSED\n`);
    },
    SLOW,
  );
});
