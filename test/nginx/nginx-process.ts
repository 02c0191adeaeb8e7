import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../scripts/lib/spawn-service.ts';
import { waitFor } from '../support/infra.ts';
import { type NginxTemplateValues, renderProductionTemplate } from './render-config.ts';

const run = promisify(execFile);
export const NGINX_BIN = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
const GENERATE_CERT = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../infra/nginx/generate-self-signed.sh',
);

/** Generates a certificate with the same script the container runs on first start. */
export async function generateCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, 'certs/fullchain.pem');
  const key = join(dir, 'certs/privkey.pem');
  await run('sh', [GENERATE_CERT, cert, key, 'localhost']);
  return { cert, key };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The real nginx binary on a rendered config in its own prefix directory, on free loopback ports,
 * in the foreground as a child process (no pid file or log outside the prefix).
 */
export class NginxProcess {
  dir = '';
  httpPort = 0;
  httpsPort = 0;
  certPem = '';
  private proc: ChildProcess | undefined;
  private output = '';

  constructor(private readonly values: NginxTemplateValues) {}

  get confPath(): string {
    return join(this.dir, 'conf/nginx.conf');
  }

  async start(allowlist?: string): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'sb-nginx-'));
    await Promise.all(
      ['conf/admin-allowlist.d', 'logs', 'temp'].map((d) => mkdir(join(this.dir, d), { recursive: true })),
    );
    if (allowlist) await writeFile(join(this.dir, 'conf/admin-allowlist.d/test.conf'), allowlist);
    const { cert, key } = await generateCertificate(this.dir);
    this.certPem = await readFile(cert, 'utf8');
    this.httpPort = await freePort();
    this.httpsPort = await freePort();
    const conf = renderProductionTemplate({
      NGINX_HTTP_LISTEN: `127.0.0.1:${this.httpPort}`,
      NGINX_HTTPS_LISTEN: `127.0.0.1:${this.httpsPort}`,
      NGINX_HTTPS_PORT_SUFFIX: `:${this.httpsPort}`,
      NGINX_ACCESS_LOG: join(this.dir, 'logs/access.log'),
      NGINX_RESOLVER: '127.0.0.1',
      NGINX_TLS_CERT: cert,
      NGINX_TLS_KEY: key,
      ...this.values,
    });
    await writeFile(this.confPath, conf);
    this.proc = spawn(NGINX_BIN, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (d) => {
      this.output += d;
    });
    this.proc.stderr?.on('data', (d) => {
      this.output += d;
    });
    await waitFor(
      'nginx listening',
      async () => {
        if (this.proc?.exitCode !== null) throw new Error(`nginx exited: ${this.output}`);
        return (await portOpen(this.httpsPort)) && (await portOpen(this.httpPort));
      },
      10_000,
    );
    return this;
  }

  /** `-p` keeps every relative path (temp, includes) inside the prefix; `-e` the early error log. */
  args(extra: string[] = []): string[] {
    return [
      '-p',
      this.dir,
      '-c',
      this.confPath,
      '-e',
      join(this.dir, 'logs/error.log'),
      '-g',
      `daemon off; pid ${join(this.dir, 'nginx.pid')}; error_log ${join(this.dir, 'logs/error.log')} warn;`,
      ...extra,
    ];
  }

  async errorLog(): Promise<string> {
    return readFile(join(this.dir, 'logs/error.log'), 'utf8').catch(() => '');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      // A stop that hangs must not hang the suite: escalate after a grace period, then wait for
      // the exit itself, whichever signal caused it.
      const escalate = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(escalate);
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
