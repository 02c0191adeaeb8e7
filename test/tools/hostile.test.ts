import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxCall } from '../../services/tool-runner/src/sandbox/protocol.ts';
import { waitFor } from '../support/infra.ts';
import { ConnectionRecorder, processesRunning, startSite, startToolBed, type ToolBed } from './harness.ts';

/**
 * Everything here is an attack a chat user (through the model) could try. Each must be refused —
 * or, for shell metacharacters in arguments, be inert text — and where a target can listen, the
 * listener proves no connection was ever made to it.
 */
describe('hostile input against the tool-runner', () => {
  let bed: ToolBed;
  let site: Awaited<ReturnType<typeof startSite>>;
  let recorder: ConnectionRecorder;
  /** Allowlisted like the site: shows the recorders do see the connections that are made. */
  let control: ConnectionRecorder;
  let outside: string;

  beforeAll(async () => {
    recorder = await new ConnectionRecorder().start();
    control = await new ConnectionRecorder().start();
    const r = recorder.port;
    site = await startSite({
      '/ok': (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('fine'),
      '/to-recorder': (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${r}/` }).end(),
      '/to-localhost': (_req, res) => res.writeHead(301, { location: `http://localhost:${r}/` }).end(),
      '/to-metadata': (_req, res) =>
        res
          .writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' })
          .end(),
      '/to-private': (_req, res) => res.writeHead(302, { location: 'http://10.0.0.1/admin' }).end(),
      '/to-file': (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end(),
      '/loop': (_req, res) => res.writeHead(302, { location: '/loop' }).end(),
      '/embeds-control': (_req, res) =>
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<!doctype html><title>control</title><img src="http://127.0.0.1:${control.port}/pixel.png">`),
      '/embeds': (_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>embeds</title>
<body><p>visible text</p>
<img src="http://127.0.0.1:${r}/pixel.png">
<img src="http://localhost:${r}/pixel2.png">
<script src="http://[::1]:${r}/x.js"></script>
<iframe src="http://127.0.0.1:${r}/frame"></iframe>
<link rel="stylesheet" href="http://169.254.169.254/latest/meta-data/">
<script>
  fetch('http://127.0.0.1:${r}/xhr').catch(() => {});
  try { new WebSocket('ws://127.0.0.1:${r}/ws'); } catch {}
  navigator.sendBeacon && navigator.sendBeacon('http://127.0.0.1:${r}/beacon', 'x');
</script></body>`),
    });
    bed = await startToolBed({
      SHELL_ALLOWLIST: 'echo,ls,cat,sleep,yes,seq',
      SHELL_TIMEOUT_MS: '1500',
      SHELL_MAX_OUTPUT_BYTES: '4096',
      // Only the site's and the control's ports are allowed: the recorder, on the same address, is not.
      EGRESS_ALLOWLIST: `127.0.0.1:${site.port},127.0.0.1:${control.port}`,
      FILES_MAX_WRITE_BYTES: '2048',
      FILES_TIMEOUT_MS: '1000',
    });
    outside = await realpath(await mkdtemp(join(tmpdir(), 'sb-outside-')));
    await writeFile(join(outside, 'target.txt'), 'original');
    await writeFile(join(outside, 'secret.txt'), 'needle-from-outside');
    // The same traps at the root (where shell commands run) and in the caller's own folder (where
    // its files tool looks).
    for (const dir of [bed.workspace, bed.home]) {
      await writeFile(join(dir, 'canary.txt'), 'still here');
      await writeFile(join(dir, 'notes.txt'), 'inside');
      await mkdir(join(dir, 'sub'));
      await symlink('/etc', join(dir, 'etc-link'));
      await symlink('/etc/passwd', join(dir, 'passwd-link'));
      await symlink(outside, join(dir, 'escape'));
      await symlink(join(outside, 'target.txt'), join(dir, 'target-link'));
      await symlink('../..', join(dir, 'sub', 'up'));
      await symlink('notes.txt', join(dir, 'inner-link'));
    }
  });

  afterAll(async () => {
    await bed?.stop();
    await recorder?.close();
    await control?.close();
    site?.server.closeAllConnections();
    await new Promise((r) => site?.server.close(r));
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  const workspaceEntries = async () => (await readdir(bed.workspace)).sort();

  describe('shell', () => {
    it('refuses commands off the allowlist, paths to programs, and shell syntax in the command', async () => {
      const before = await workspaceEntries();
      const attempts: Array<Record<string, unknown>> = [
        { command: 'rm', args: ['-rf', '.'] },
        { command: 'bash', args: ['-c', 'id'] },
        { command: 'sh', args: ['-c', 'touch pwned'] },
        { command: '/bin/ls' },
        { command: './ls' },
        { command: '../../bin/ls' },
        { command: 'ls; rm -rf canary.txt' },
        { command: 'ls;rm' },
        { command: 'echo $(touch pwned)' },
        { command: 'echo `touch pwned`' },
        { command: 'ls | cat' },
        { command: 'ls && rm canary.txt' },
        { command: 'ls\nrm canary.txt' },
        { command: 'echo hi > pwned' },
        { command: 'ls\0' },
        { command: 'echo', args: ['ok\0'] },
      ];
      for (const args of attempts) {
        const r = await bed.call('shell', args);
        expect(r.ok, JSON.stringify(args)).toBe(false);
        expect(r.error?.code, JSON.stringify(args)).toBe('TOOL_REFUSED');
      }
      const offList = await bed.call('shell', { command: 'rm', args: ['-rf', '.'] });
      expect(offList.output).toBe(
        '"rm" is not on the allowlist; allowed commands: echo, ls, cat, sleep, yes, seq',
      );
      const syntax = await bed.call('shell', { command: 'ls | cat' });
      expect(syntax.output).toMatch(/^commands run without a shell/);
      expect(await workspaceEntries()).toEqual(before);
    });

    it('passes metacharacters in arguments as plain text: nothing is interpreted', async () => {
      const before = await workspaceEntries();
      const args = [
        '; rm -rf canary.txt',
        '$(touch pwned1)',
        '`touch pwned2`',
        '| touch pwned3',
        '&& touch pwned4',
        'x\ntouch pwned5',
        '> pwned6',
        '$HOME',
        '*',
      ];
      const r = await bed.call('shell', { command: 'echo', args });
      expect(r.ok).toBe(true);
      expect(r.output).toContain(`exit code 0\n${args.join(' ')}\n`);
      expect(await workspaceEntries()).toEqual(before);
      expect(await readFile(join(bed.workspace, 'canary.txt'), 'utf8')).toBe('still here');
    });

    it('gives commands no secret: their environment is a fixed minimal set', async () => {
      const environ = await bed.call('shell', { command: 'cat', args: ['/proc/self/environ'] });
      expect(environ.error?.code).toBe('TOOL_REFUSED');
      expect(environ.output).toMatch(/"\/proc\/self\/environ" is outside the workspace/);
      // Read from outside, while the command runs: what the program itself was given.
      const pending = bed.call('shell', { command: 'sleep', args: ['1.2468'] });
      const [pid] = await waitFor('the command to run', async () => {
        const pids = await processesRunning(['sleep', '1.2468']);
        return pids.length > 0 ? pids : undefined;
      });
      const env = await readFile(`/proc/${pid}/environ`, 'utf8');
      const names = env
        .split('\0')
        .filter(Boolean)
        .map((kv) => kv.split('=')[0])
        .sort();
      expect(names).toEqual([
        'HOME',
        'LANG',
        'LC_ALL',
        'NO_COLOR',
        'PAGER',
        'PATH',
        'SYSTEMD_COLORS',
        'SYSTEMD_PAGER',
        'TERM',
      ]);
      expect(env).not.toMatch(/AMQP|DATABASE|postgres:|amqp:/);
      expect((await pending).ok).toBe(true);
    });

    it('kills a command at the timeout, with the whole process group', async () => {
      const started = Date.now();
      const r = await bed.call('shell', { command: 'sleep', args: ['30.4242'] });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.ok).toBe(false);
      expect(r.error).toEqual({ code: 'TOOL_TIMEOUT', message: 'the command was killed after 1500 ms' });
      expect(r.output).toContain('$ sleep 30.4242');
      expect(r.output).toContain('[killed after 1500 ms]');
      await waitFor(
        'no sleep left behind',
        async () => (await processesRunning(['sleep', '30.4242'])).length === 0,
      );
    });

    it('caps endless output with the truncation marker and stops the command', async () => {
      const r = await bed.call('shell', { command: 'yes', args: ['flood'] });
      expect(r.truncated).toBe(true);
      expect(r.output).toContain('[… output truncated at 4096 bytes]');
      expect(r.output.length).toBeLessThan(4096 + 200);
      await waitFor('yes stopped', async () => (await processesRunning(['yes', 'flood'])).length === 0);
      const s = await bed.call('shell', { command: 'seq', args: ['1', '100000'] });
      expect(s.truncated).toBe(true);
      expect(s.output).toMatch(/\n\[… output truncated at 4096 bytes\]$/);
    });

    it('the sandbox re-checks the allowlist itself, whoever asks', async () => {
      const line = bed.logLines().find((l) => l.message === 'shell sandbox listening');
      const socket = (line?.labels as { socket?: string })?.socket;
      expect(socket).toBeTruthy();
      const res = await sandboxCall(socket!, {
        op: 'run',
        id: 'direct',
        program: 'bash',
        args: ['-c', 'touch pwned'],
        timeoutMs: 1000,
      });
      expect(res).toEqual({
        status: 'refused',
        message: expect.stringContaining('"bash" is not on the allowlist'),
      });
      expect(existsSync(join(bed.workspace, 'pwned'))).toBe(false);
    });
  });

  describe('files', () => {
    const traversal = [
      '../../etc/passwd',
      '/etc/passwd',
      'sub/../../etc/passwd',
      'a/b/../../../x',
      '..',
      'notes.txt\0.png',
    ];

    it('refuses "..", absolute paths and NUL for every operation', async () => {
      for (const path of traversal) {
        for (const args of [
          { op: 'read', path },
          { op: 'write', path, content: 'x' },
          { op: 'list', path },
          { op: 'search', path, query: 'root' },
        ]) {
          const r = await bed.call('files', args);
          expect(r.error?.code, JSON.stringify(args)).toBe('TOOL_REFUSED');
          expect(r.output).not.toContain('root:x:0:0');
        }
      }
    });

    it('refuses symlinks that lead out of the workspace, and changes nothing through them', async () => {
      for (const args of [
        { op: 'read', path: 'etc-link/passwd' },
        { op: 'read', path: 'passwd-link' },
        { op: 'read', path: 'sub/up/etc/passwd' },
        { op: 'read', path: 'escape/secret.txt' },
        { op: 'list', path: 'escape' },
        { op: 'list', path: 'sub/up' },
        { op: 'search', path: 'escape', query: 'needle' },
        { op: 'write', path: 'escape/new.txt', content: 'x' },
        { op: 'write', path: 'target-link', content: 'overwritten' },
        { op: 'write', path: 'etc-link/evil.conf', content: 'x' },
        { op: 'write', path: 'sub/up/planted.txt', content: 'x' },
      ]) {
        const r = await bed.call('files', args);
        expect(r.error?.code, JSON.stringify(args)).toBe('TOOL_REFUSED');
        expect(r.output).toMatch(/leads out of the workspace/);
      }
      expect(await readFile(join(outside, 'target.txt'), 'utf8')).toBe('original');
      expect(existsSync(join(outside, 'new.txt'))).toBe(false);
      expect(existsSync(join(bed.home, '..', 'planted.txt'))).toBe(false);
    });

    it('never follows a symlink while listing or searching the workspace', async () => {
      const s = await bed.call('files', { op: 'search', query: 'needle-from-outside' });
      expect(s.output).toMatch(/^0 match\(es\)/);
      const l = await bed.call('files', { op: 'list', recursive: true });
      expect(l.output).toContain(`link escape -> ${outside}`);
      expect(l.output).not.toContain('secret.txt');
    });

    it('follows a symlink that stays inside', async () => {
      const r = await bed.call('files', { op: 'read', path: 'inner-link' });
      expect(r).toMatchObject({ ok: true, output: 'notes.txt (6 bytes)\n\ninside' });
    });

    it('refuses a write over the size cap and leaves no file', async () => {
      const r = await bed.call('files', { op: 'write', path: 'huge.txt', content: 'x'.repeat(2049) });
      expect(r.error).toEqual({
        code: 'TOOL_REFUSED',
        message: 'content is 2049 bytes, over the 2048-byte limit for one write',
      });
      expect(existsSync(join(bed.home, 'huge.txt'))).toBe(false);
    });

    it('stops a catastrophic regular expression at the timeout without stalling the runner', async () => {
      await writeFile(join(bed.home, 'redos.txt'), `${'a'.repeat(40)}!\n`);
      const slow = bed.call('files', { op: 'search', path: 'redos.txt', query: '^(a+)+$', regex: true });
      // Asked while the regex spins: answered at once, so the runner's event loop is free.
      const started = Date.now();
      const quick = await bed.call('files', { op: 'read', path: 'notes.txt' });
      expect(quick.ok).toBe(true);
      expect(Date.now() - started).toBeLessThan(900);
      const r = await slow;
      expect(r.error?.code).toBe('TOOL_TIMEOUT');
      expect(r.output).toMatch(/stopped after 1000 ms/);
    });
  });

  describe('SSRF: http_fetch', () => {
    it('reaches allowlisted servers (the control case: the recorder does see connections)', async () => {
      const r = await bed.call('http_fetch', { url: `${site.url}/ok` });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('fine');
      const c = await bed.call('http_fetch', { url: `http://127.0.0.1:${control.port}/` });
      expect(c.output).toContain('secret');
      expect(control.connections).toBe(1);
    });

    it('refuses loopback in every spelling, and never connects', async () => {
      const p = recorder.port;
      for (const url of [
        `http://127.0.0.1:${p}/`,
        `http://[::1]:${p}/`,
        `http://localhost:${p}/`,
        `http://LOCALHOST.:${p}/`,
        `http://0.0.0.0:${p}/`,
        `http://2130706433:${p}/`,
        `http://0x7f000001:${p}/`,
        `http://127.1:${p}/`,
        `http://0177.0.0.1:${p}/`,
        `http://[::ffff:127.0.0.1]:${p}/`,
        `http://[::ffff:7f00:1]:${p}/`,
        `http://[0:0:0:0:0:0:0:1]:${p}/`,
        `http://[::]:${p}/`,
      ]) {
        const r = await bed.call('http_fetch', { url });
        expect(r.error?.code, url).toBe('TOOL_REFUSED');
        expect(r.output, url).toMatch(/is a (loopback|unspecified) address/);
      }
      expect(recorder.connections).toBe(0);
    });

    it('refuses metadata, private, link-local, CGNAT, multicast and IPv6 internal addresses', async () => {
      const cases: Array<[string, RegExp]> = [
        ['http://169.254.169.254/latest/meta-data/', /cloud metadata address/],
        ['http://[fd00:ec2::254]/latest/meta-data/', /cloud metadata address/],
        ['http://100.100.100.200/latest/meta-data/', /cloud metadata address/],
        ['http://10.0.0.1/', /private address/],
        ['http://172.16.5.4/', /private address/],
        ['http://192.168.1.1/', /private address/],
        ['http://169.254.1.1/', /link-local address/],
        ['http://100.64.0.1/', /carrier-grade NAT address/],
        ['http://224.0.0.1/', /multicast address/],
        ['http://[fe80::1]/', /link-local address/],
        ['http://[fd12:3456::1]/', /unique-local address/],
        ['http://[64:ff9b::a00:1]/', /IPv4-embedding address/],
      ];
      for (const [url, reason] of cases) {
        const started = Date.now();
        const r = await bed.call('http_fetch', { url });
        expect(r.error?.code, url).toBe('TOOL_REFUSED');
        expect(r.output, url).toMatch(reason);
        // Refused before any connect attempt: no connect timeout was waited out.
        expect(Date.now() - started, url).toBeLessThan(2_000);
      }
    });

    it('re-checks every redirect hop: a permitted server cannot bounce us inside', async () => {
      for (const [path, reason] of [
        [
          '/to-recorder',
          /redirect to http:\/\/127\.0\.0\.1:\d+\/ refused: 127\.0\.0\.1 is a loopback address/,
        ],
        [
          '/to-localhost',
          /redirect to http:\/\/localhost:\d+\/ refused: localhost \((127\.0\.0\.1|::1)\) is a loopback address/,
        ],
        ['/to-metadata', /refused: 169\.254\.169\.254 is a cloud metadata address/],
        ['/to-private', /refused: 10\.0\.0\.1 is a private address/],
        ['/to-file', /redirect from .* refused: only http:\/\/ and https:\/\/ URLs can be opened, not file:/],
      ] as const) {
        const r = await bed.call('http_fetch', { url: `${site.url}${path}` });
        expect(r.error?.code, path).toBe('TOOL_REFUSED');
        expect(r.output, path).toMatch(reason);
      }
      const loop = await bed.call('http_fetch', { url: `${site.url}/loop` });
      expect(loop.error).toEqual({
        code: 'TOOL_FAILED',
        message: `stopped after 5 redirects (last: ${site.url}/loop)`,
      });
      expect(recorder.connections).toBe(0);
    });

    it('refuses other schemes and credentials in URLs', async () => {
      for (const url of [
        'file:///etc/passwd',
        'ftp://127.0.0.1/',
        'gopher://127.0.0.1:6379/_INFO',
        `http://user:pw@127.0.0.1:${site.port}/ok`,
      ]) {
        const r = await bed.call('http_fetch', { url });
        expect(r.error?.code, url).toBe('TOOL_REFUSED');
      }
    });
  });

  describe('SSRF: browser', () => {
    it('loads what the page embeds from an allowlisted server (control case)', async () => {
      const before = control.connections;
      const r = await bed.call('browser', { url: `${site.url}/embeds-control` }, { timeoutMs: 60_000 });
      expect(r.ok, r.output).toBe(true);
      expect(r.output).not.toContain('blocked');
      expect(control.connections).toBeGreaterThan(before);
    });

    it('refuses an internal navigation target before any connection', async () => {
      for (const url of [
        `http://127.0.0.1:${recorder.port}/`,
        `http://localhost:${recorder.port}/`,
        'http://169.254.169.254/',
        'file:///etc/passwd',
      ]) {
        const r = await bed.call('browser', { url });
        expect(r.error?.code, url).toBe('TOOL_REFUSED');
      }
      expect(recorder.connections).toBe(0);
    });

    it('refuses a redirect of the page to an internal address', async () => {
      const r = await bed.call('browser', { url: `${site.url}/to-recorder` }, { timeoutMs: 60_000 });
      expect(r.error?.code, r.output).toBe('TOOL_REFUSED');
      expect(r.output).toMatch(/refused address: 127\.0\.0\.1 is a loopback address/);
      expect(recorder.connections).toBe(0);
    });

    it('blocks every internal request the page makes (images, scripts, frames, fetch, WebSocket, beacons)', async () => {
      const r = await bed.call('browser', { url: `${site.url}/embeds` }, { timeoutMs: 60_000 });
      expect(r.ok, r.output).toBe(true);
      expect(r.output).toContain('title: embeds');
      expect(r.output).toContain('visible text');
      expect(r.output).toMatch(/blocked \d+ request\(s\) to refused addresses/);
      expect(r.output).toContain(
        `http://127.0.0.1:${recorder.port}/pixel.png — 127.0.0.1 is a loopback address`,
      );
      expect(r.output).toContain('169.254.169.254 is a cloud metadata address');
      expect(recorder.connections).toBe(0);
    });
  });
});
