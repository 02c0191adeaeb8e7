import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, ROOT } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import { ConnectionRecorder, startSite, startToolBed, type ToolBed } from './harness.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Pids of a process's descendants whose command line names Chromium. */
async function chromiumUnder(root: number): Promise<number[]> {
  const parent = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  const out: number[] = [];
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (/chrom/i.test(cmd.split('\0')[0] ?? '')) out.push(pid);
  }
  return out;
}

/**
 * The compose layout in process form: the tool-runner (BROWSER_RENDER=remote) takes the browser
 * call, checks its grant and stores the screenshot; tool-browser, started with no database URL at
 * all, runs Chromium and answers the render RPC.
 */
describe('browser rendered by tool-browser, which holds no database URL', () => {
  let site: Awaited<ReturnType<typeof startSite>>;
  let recorder: ConnectionRecorder;
  let bed: ToolBed;
  let browser: ChildProcess;
  const browserLogs: string[] = [];

  beforeAll(async () => {
    site = await startSite({
      '/page': (_req, res) =>
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end('<title>Remote board</title><body><h1>Rendered elsewhere</h1></body>'),
    });
    recorder = await new ConnectionRecorder().start();
    const allow = `127.0.0.1:${site.port}`;
    bed = await startToolBed({ BROWSER_RENDER: 'remote', EGRESS_ALLOWLIST: allow });
    // Only what its configuration reads: the broker and the renderer's settings, no DATABASE_URL.
    browser = spawn(process.execPath, ['--import', 'tsx', 'services/tool-runner/src/browser/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        AMQP_URL,
        BROKER_PREFIX: bed.topology.prefix,
        BROKER_PARTITIONS: '1',
        RETRY_DELAYS_MS: '100,200',
        MAX_ATTEMPTS: '2',
        LOG_LEVEL: 'info',
        HTTP_PORT: String(await freePort()),
        SHUTDOWN_TIMEOUT_MS: '10000',
        EGRESS_ALLOWLIST: allow,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    browser.stdout?.on('data', (c: Buffer) => browserLogs.push(c.toString()));
    browser.stderr?.on('data', (c: Buffer) => browserLogs.push(c.toString()));
    await waitFor(
      'tool-browser to start',
      () => browserLogs.join('').includes('tool-browser started'),
      30_000,
    );
  }, 120_000);

  afterAll(async () => {
    if (browser && browser.exitCode === null) {
      const exited = new Promise((r) => browser.once('exit', r));
      browser.kill('SIGTERM');
      await exited;
    }
    await bed?.stop();
    await recorder?.close();
    site?.server.closeAllConnections();
    await new Promise((r) => site?.server.close(r));
  }, 60_000);

  const attachmentCount = async () => {
    const db = new pg.Client({ connectionString: bed.databaseUrl });
    await db.connect();
    try {
      return Number((await db.query('SELECT count(*) AS n FROM attachments')).rows[0].n);
    } finally {
      await db.end();
    }
  };

  it('renders the page in tool-browser and stores the screenshot from the tool-runner', async () => {
    const environ = await readFile(`/proc/${browser.pid}/environ`, 'utf8');
    expect(environ.split('\0').filter((kv) => /^(DATABASE_URL|PG)/.test(kv))).toEqual([]);
    const r = await bed.call('browser', { url: `${site.url}/page` }, { timeoutMs: 60_000 });
    expect(r.ok, r.output).toBe(true);
    expect(r.output).toContain('title: Remote board');
    expect(r.output).toContain('Rendered elsewhere');
    // Chromium runs under tool-browser, never under the runner that holds the database URL.
    expect((await chromiumUnder(browser.pid!)).length).toBeGreaterThan(0);
    expect(await chromiumUnder(bed.runner.proc.pid!)).toEqual([]);
    const a = r.attachments[0]!;
    expect(a).toMatchObject({ kind: 'image', name: 'screenshot.png', mimeType: 'image/png' });
    const db = new pg.Client({ connectionString: bed.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query('SELECT size, data FROM attachments WHERE id = $1', [
        a.url.slice('attachment://'.length),
      ]);
      expect(rows[0].size).toBe(a.size);
      expect((rows[0].data as Buffer).subarray(0, 8)).toEqual(PNG_SIGNATURE);
    } finally {
      await db.end();
    }
  }, 90_000);

  it('refuses an internal address in tool-browser: nothing contacted, nothing stored', async () => {
    const before = await attachmentCount();
    const r = await bed.call('browser', { url: `http://127.0.0.1:${recorder.port}/` }, { timeoutMs: 30_000 });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('TOOL_REFUSED');
    expect(r.output).toMatch(/127\.0\.0\.1/);
    expect(recorder.connections).toBe(0);
    expect(await attachmentCount()).toBe(before);
  }, 60_000);
});
