import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { outboundEnvelopeSchema } from '@switchboard/core';
import { builtinToolSpecs } from '@switchboard/tools';
import amqplib from 'amqplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import {
  childrenOf,
  isAlive,
  processesRunning,
  startSandboxProcess,
  startSite,
  startToolBed,
  type ToolBed,
} from './harness.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('tool-runner: every tool end to end over the RabbitMQ RPC', () => {
  let bed: ToolBed;
  let site: Awaited<ReturnType<typeof startSite>>;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;
  let outQueue: string;

  beforeAll(async () => {
    site = await startSite({
      '/hello': (_req, res) =>
        res
          .writeHead(200, { 'content-type': 'text/plain; charset=utf-8', etag: '"v1"' })
          .end('hello from the site ✓'),
      '/echo': (req, res, body) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            method: req.method,
            body,
            ct: req.headers['content-type'],
            x: req.headers['x-test'],
          }),
        ),
      '/moved': (_req, res) => res.writeHead(302, { location: '/hello' }).end(),
      '/see-other': (_req, res) => res.writeHead(303, { location: '/echo' }).end(),
      '/big': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(300_000)),
      '/image': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG_SIGNATURE),
      '/page': (_req, res) =>
        res
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(
            '<!doctype html><html><head><title>Status board</title></head><body><h1>All systems nominal</h1><p id="p">disk 42% used</p><script>document.getElementById("p").textContent += " (checked)";</script></body></html>',
          ),
    });
    bed = await startToolBed({
      SHELL_ALLOWLIST: 'echo,uname,ls,sleep,cat',
      SHELL_MAX_CONCURRENT: '2',
      EGRESS_ALLOWLIST: `127.0.0.1:${site.port}`,
      HTTP_FETCH_MAX_BYTES: '4096',
      FILES_MAX_READ_BYTES: '2048',
      CHANNELS_JSON: JSON.stringify({
        'ops-alerts': { platform: 'slack', botId: 'B01', conversationId: 'C123' },
        'on-call': { platform: 'telegram', botId: 'tg1', conversationId: '4242' },
      }),
    });
    amqp = await amqplib.connect(AMQP_URL);
    ch = await amqp.createChannel();
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    outQueue = q.queue;
    await ch.bindQueue(outQueue, bed.broker.names.outbound, bed.broker.names.outboundKey('slack', 'B01'));
  });

  afterAll(async () => {
    await ch?.close().catch(() => {});
    await amqp?.close().catch(() => {});
    await bed?.stop();
    site?.server.closeAllConnections();
    await new Promise((r) => site?.server.close(r));
  });

  describe('shell', () => {
    it("runs an allowlisted command in the caller's folder and returns its output and exit code", async () => {
      // Written through the files tool: the same caller, so the same folder.
      expect((await bed.call('files', { op: 'write', path: 'marker.txt', content: 'here' })).ok).toBe(true);
      const r = await bed.call('shell', { command: 'ls', args: ['-1'] });
      expect(r).toMatchObject({ ok: true, truncated: false });
      expect(r.output).toContain('$ ls -1\nexit code 0\n');
      expect(r.output).toContain('marker.txt');
      const u = await bed.call('shell', { command: 'uname', args: ['-s'] });
      expect(u.output).toContain('Linux');
    });

    it('splits a one-string command on spaces when no args are given', async () => {
      const r = await bed.call('shell', { command: 'echo hello   world' });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('exit code 0\nhello world\n');
    });

    it('queues commands beyond the sandbox concurrency instead of failing them', async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) => bed.call('shell', { command: 'echo', args: [`n${i}`] })),
      );
      results.forEach((r, i) => {
        expect(r.ok).toBe(true);
        expect(r.output).toContain(`exit code 0\nn${i}\n`);
      });
      const slow = await Promise.all(
        Array.from({ length: 4 }, () => bed.call('shell', { command: 'sleep', args: ['0.2'] })),
      );
      expect(slow.every((r) => r.ok)).toBe(true);
    });

    it('reports a non-zero exit as a failure, with the output', async () => {
      const r = await bed.call('shell', { command: 'ls', args: ['no-such-file'] });
      expect(r.ok).toBe(false);
      expect(r.error).toEqual({ code: 'TOOL_FAILED', message: 'the command ended with exit code 2' });
      expect(r.output).toMatch(/no-such-file.*No such file/);
    });
  });

  describe('http_fetch', () => {
    it('GETs a permitted URL: status, the headers of interest and the body', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/hello` });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('HTTP 200\ncontent-type: text/plain; charset=utf-8\n');
      expect(r.output).toContain('etag: "v1"');
      expect(r.output.endsWith('\n\nhello from the site ✓')).toBe(true);
    });

    it('POSTs a body with extra headers', async () => {
      const r = await bed.call('http_fetch', {
        url: `${site.url}/echo`,
        method: 'POST',
        body: '{"a":1}',
        headers: { 'content-type': 'application/json', 'X-Test': 'yes' },
      });
      expect(r.ok).toBe(true);
      const body = JSON.parse(r.output.split('\n\n')[1]!);
      expect(body).toEqual({ method: 'POST', body: '{"a":1}', ct: 'application/json', x: 'yes' });
    });

    it('follows redirects hop by hop (303 turns a POST into a GET)', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/moved` });
      expect(r.output).toContain(`final url: ${site.url}/hello (after 1 redirect(s))`);
      expect(r.output).toContain('hello from the site');
      const p = await bed.call('http_fetch', { url: `${site.url}/see-other`, method: 'POST', body: 'x' });
      expect(JSON.parse(p.output.split('\n\n')[1]!)).toMatchObject({ method: 'GET', body: '' });
    });

    it('caps the body at HTTP_FETCH_MAX_BYTES with a truncation marker', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/big` });
      expect(r.ok).toBe(true);
      expect(r.truncated).toBe(true);
      expect(r.output).toContain(`${'x'.repeat(4096)}\n[… output truncated at 4096 bytes]`);
      expect(r.output).not.toContain('x'.repeat(4097));
    });

    it('does not dump binary bodies into the model', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/image` });
      expect(r.output).toContain('(image/png body of 8 bytes, not shown)');
    });

    it('refuses forbidden request headers with a clear reason', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/hello`, headers: { Host: 'evil.example' } });
      expect(r.error).toEqual({ code: 'TOOL_BAD_ARGUMENTS', message: 'the header "Host" cannot be set' });
    });
  });

  describe('files', () => {
    it('writes, reads, appends and lists inside the workspace', async () => {
      const w = await bed.call('files', {
        op: 'write',
        path: 'notes/today.md',
        content: '# Today\nrestart nginx\n',
      });
      expect(w).toMatchObject({ ok: true, output: 'wrote 22 bytes to notes/today.md' });
      expect(await readFile(join(bed.home, 'notes/today.md'), 'utf8')).toBe('# Today\nrestart nginx\n');
      await bed.call('files', {
        op: 'write',
        path: 'notes/today.md',
        content: 'check disks\n',
        append: true,
      });
      const r = await bed.call('files', { op: 'read', path: 'notes/today.md' });
      expect(r.output).toBe('notes/today.md (34 bytes)\n\n# Today\nrestart nginx\ncheck disks\n');
      const l = await bed.call('files', { op: 'list', recursive: true });
      expect(l.output).toContain('dir  notes/\nfile notes/today.md (34 bytes)');
    });

    it('pages through a file bigger than the read cap', async () => {
      await writeFile(join(bed.home, 'big.log'), `${'a'.repeat(2048)}${'b'.repeat(100)}`);
      const first = await bed.call('files', { op: 'read', path: 'big.log' });
      expect(first.truncated).toBe(true);
      expect(first.output).toContain(
        '[… output truncated at 2048 bytes] (file is 2148 bytes; read on with offset 2048)',
      );
      const rest = await bed.call('files', { op: 'read', path: 'big.log', offset: 2048 });
      expect(rest).toMatchObject({ ok: true, truncated: false });
      expect(rest.output).toBe(`big.log (2148 bytes)\n\n${'b'.repeat(100)}`);
    });

    it('searches by substring and by regular expression, with file and line', async () => {
      await mkdir(join(bed.home, 'runbooks'), { recursive: true });
      await writeFile(
        join(bed.home, 'runbooks/disk.md'),
        'If the disk is full:\n  run df -h\nthen clean /var/log\n',
      );
      await writeFile(join(bed.home, 'runbooks/db.md'), 'Postgres DISK usage: check pg_database_size\n');
      const s = await bed.call('files', { op: 'search', path: 'runbooks', query: 'disk' });
      expect(s.output.split('\n')).toEqual([
        '2 match(es) in 2 file(s) under runbooks',
        'runbooks/db.md:1: Postgres DISK usage: check pg_database_size',
        'runbooks/disk.md:1: If the disk is full:',
      ]);
      const re = await bed.call('files', {
        op: 'search',
        query: '^\\s+run \\w+',
        regex: true,
        caseSensitive: true,
      });
      expect(re.output).toContain('runbooks/disk.md:2:   run df -h');
      const bad = await bed.call('files', { op: 'search', query: '(unclosed', regex: true });
      expect(bad.error?.code).toBe('TOOL_BAD_ARGUMENTS');
    });

    it('explains missing arguments per operation', async () => {
      const r = await bed.call('files', { op: 'write', path: 'x.txt' });
      expect(r.error?.code).toBe('TOOL_BAD_ARGUMENTS');
      expect(r.output).toContain('write needs content');
    });
  });

  describe('browser', () => {
    it('opens a page in Chromium: title, rendered text and a PNG screenshot stored as an attachment', async () => {
      const r = await bed.call('browser', { url: `${site.url}/page` }, { timeoutMs: 60_000 });
      expect(r.ok, r.output).toBe(true);
      expect(r.output).toContain('title: Status board');
      expect(r.output).toContain('status: 200');
      expect(r.output).toContain('All systems nominal\n\ndisk 42% used (checked)');
      expect(r.attachments).toHaveLength(1);
      const a = r.attachments[0]!;
      expect(a).toMatchObject({ kind: 'image', name: 'screenshot.png', mimeType: 'image/png' });
      expect(a.url).toMatch(/^attachment:\/\/[0-9a-f-]{36}$/);
      const db = new pg.Client({ connectionString: bed.databaseUrl });
      await db.connect();
      try {
        const { rows } = await db.query(
          'SELECT platform, mime_type, size, data FROM attachments WHERE id = $1',
          [a.url.slice('attachment://'.length)],
        );
        expect(rows[0]).toMatchObject({ platform: 'tool', mime_type: 'image/png', size: a.size });
        expect((rows[0].data as Buffer).subarray(0, 8)).toEqual(PNG_SIGNATURE);
      } finally {
        await db.end();
      }
    });
  });

  describe('send_message', () => {
    it('publishes an outbound envelope to the configured channel', async () => {
      const req = bed.request('send_message', { channel: 'ops-alerts', text: 'disk on db1 is at 91%' });
      const r = await bed.client.invoke(req);
      expect(r).toMatchObject({ ok: true, output: 'sent to ops-alerts (slack), 21 characters' });
      const msg = await waitFor('the outbound envelope', async () => {
        const m = await ch.get(outQueue, { noAck: true });
        return m || undefined;
      });
      const env = outboundEnvelopeSchema.parse(JSON.parse(msg.content.toString()));
      expect(env).toMatchObject({
        kind: 'outbound',
        platform: 'slack',
        botId: 'B01',
        conversationId: 'C123',
        text: 'disk on db1 is at 91%',
        status: 'ok',
        id: `tool:${req.id}`,
        traceId: req.caller.traceId,
      });
      expect(msg.properties.messageId).toBe(`tool:${req.id}`);
    });

    it('refuses an unknown channel and names the configured ones', async () => {
      const r = await bed.call('send_message', { channel: 'everyone', text: 'hi' });
      expect(r.ok).toBe(false);
      expect(r.error).toEqual({
        code: 'TOOL_REFUSED',
        message: 'unknown channel "everyone"; configured channels: on-call, ops-alerts',
      });
    });
  });

  describe('what the runner re-checks', () => {
    it('refuses a tool the route does not allow, and logs it (warn) with the caller', async () => {
      const req = bed.request('shell', { command: 'uname' }, { allowedTools: ['files'] });
      const r = await bed.client.invoke(req);
      expect(r).toMatchObject({
        ok: false,
        error: { code: 'TOOL_NOT_ALLOWED', message: 'the tool "shell" is not allowed in this conversation' },
      });
      expect(r.output).toBe(r.error?.message);
      const line = await waitFor('the refusal log line', () =>
        bed
          .logLines()
          .find(
            (l) =>
              l.message === 'tool call refused' && (l.trace as { id?: string })?.id === req.caller.traceId,
          ),
      );
      expect(line).toMatchObject({
        'log.level': 'warn',
        labels: {
          tool: 'shell',
          call_id: req.id,
          platform: 'web',
          conversation: 'conv-1',
          route: 'test-route',
        },
        user: { id: 'user-1' },
        error: { code: 'TOOL_NOT_ALLOWED' },
      });
    });

    it('refuses unknown tools and invalid arguments with stable codes', async () => {
      const u = await bed.call('rm_rf', {}, { allowedTools: ['rm_rf'] });
      expect(u.error?.code).toBe('TOOL_UNKNOWN');
      expect(u.output).toContain('available tools: shell, http_fetch, files, browser, send_message');
      const b = await bed.call('http_fetch', { url: 42 });
      expect(b.error?.code).toBe('TOOL_BAD_ARGUMENTS');
      expect(b.output).toMatch(/invalid arguments for http_fetch: .*url/);
    });

    it('counts calls by tool and outcome on /metrics', async () => {
      const text = await (await fetch(`${bed.runner.url}/metrics`)).text();
      expect(text).toMatch(
        /switchboard_tool_calls_total\{tool="shell",outcome="ok",service="tool-runner"\} [1-9]/,
      );
      expect(text).toMatch(
        /switchboard_tool_calls_total\{tool="shell",outcome="TOOL_NOT_ALLOWED",service="tool-runner"\} 1/,
      );
    });
  });

  it('offers every built-in tool to the model as plain JSON-schema data', () => {
    expect(builtinToolSpecs.map((s) => s.name)).toEqual([
      'shell',
      'http_fetch',
      'files',
      'browser',
      'send_message',
    ]);
    for (const s of builtinToolSpecs) {
      expect(s.description.length).toBeGreaterThan(40);
      expect(s.parameters).toMatchObject({ type: 'object' });
      expect(s.parameters).not.toHaveProperty('$schema');
      expect(JSON.parse(JSON.stringify(s))).toEqual(s);
    }
    expect(builtinToolSpecs[0]!.parameters).toMatchObject({ required: ['command'] });
  });
});

describe('the shell sandbox as a separate service (the container layout)', () => {
  it('runs commands through a sandbox on a socket, and reports it in /readyz when it is gone', async () => {
    const dir = await realpath(await mkdtemp(join(tmpdir(), 'sb-sock-')));
    const workspace = await realpath(await mkdtemp(join(tmpdir(), 'sb-ws-')));
    const socket = join(dir, 'shell.sock');
    const sandboxEnv = { WORKSPACE_DIR: workspace, SHELL_ALLOWLIST: 'echo,ls' };
    let sandbox = await startSandboxProcess(socket, sandboxEnv);
    const bed = await startToolBed(
      { SHELL_SANDBOX: 'socket', SANDBOX_SOCKET: socket, SHELL_ALLOWLIST: 'echo,ls' },
      { workspace },
    );
    try {
      // The runner makes the caller's folder; the sandbox, in its own container, sees the same one.
      expect((await bed.call('files', { op: 'write', path: 'shared.txt', content: 'x' })).ok).toBe(true);
      const r = await bed.call('shell', { command: 'ls' });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('shared.txt');
      expect(bed.logLines().find((l) => l.message === 'tool-runner started')).toMatchObject({
        labels: { sandbox: socket },
      });

      await sandbox.stop();
      const down = await waitFor('the runner to report the sandbox down', async () => {
        const res = await fetch(`${bed.runner.url}/readyz`);
        return res.status === 503 ? ((await res.json()) as { checks: Record<string, string> }) : undefined;
      });
      expect(down.checks.sandbox).toMatch(/shell sandbox unreachable/);
      const gone = await bed.call('shell', { command: 'echo', args: ['hi'] });
      expect(gone.error?.code).toBe('TOOL_UNAVAILABLE');

      sandbox = await startSandboxProcess(socket, sandboxEnv);
      await waitFor('ready again', async () => (await fetch(`${bed.runner.url}/readyz`)).ok);
      expect((await bed.call('shell', { command: 'echo', args: ['back'] })).output).toContain('back');
    } finally {
      await bed.stop();
      await sandbox.stop();
      await rm(dir, { recursive: true, force: true });
      await rm(workspace, { recursive: true, force: true });
    }
  });
});

describe('tool-runner shutdown', () => {
  it('on SIGTERM finishes the call in hand, answers it, and exits 0', async () => {
    const bed = await startToolBed({ SHELL_ALLOWLIST: 'sleep', TOOLS_ENABLED: 'shell' });
    try {
      const pending = bed.call('shell', { command: 'sleep', args: ['1.5171'] });
      await waitFor(
        'the command to be running',
        async () => (await processesRunning(['sleep', '1.5171'])).length > 0,
      );
      const exit = bed.runner.kill('SIGTERM', 15_000);
      const r = await pending;
      expect(r).toMatchObject({ ok: true });
      expect(r.output).toContain('$ sleep 1.5171\nexit code 0');
      expect(await exit).toBe(0);
    } finally {
      await bed.stop();
    }
  });

  it('a runner killed with SIGKILL does not leave its sandbox behind', async () => {
    const bed = await startToolBed({ SHELL_ALLOWLIST: 'echo', TOOLS_ENABLED: 'shell' });
    try {
      const runnerPid = bed.runner.proc.pid!;
      const children = await childrenOf(runnerPid);
      expect(children).toHaveLength(1);
      const sandboxPid = children[0]!;
      expect(await readFile(`/proc/${sandboxPid}/cmdline`, 'utf8')).toContain('sandbox/main.ts');
      await bed.runner.kill('SIGKILL');
      await waitFor('the orphaned sandbox to exit', () => !isAlive(sandboxPid));
    } finally {
      await bed.stop();
    }
  });
});
