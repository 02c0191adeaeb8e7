import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../scripts/lib/spawn-service.ts';
import { waitFor } from '../support/infra.ts';

/** The Debian packages' binaries (prometheus, prometheus-alertmanager). */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? 'prometheus-alertmanager';

export interface MonitoringProcess {
  url: string;
  logs: string[];
  stop(): Promise<void>;
}

/** Runs `files` (name → content) written into a fresh temp dir; `args` sees the dir and a free port. */
async function startBinary(
  bin: string,
  files: Record<string, string>,
  args: (dir: string, port: number) => string[],
): Promise<MonitoringProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-mon-'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const port = await freePort();
  const proc: ChildProcess = spawn(bin, args(dir, port), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const keep = (b: Buffer) => logs.push(...b.toString().split('\n').filter(Boolean));
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!dead) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`${bin} ready`, async () => {
      if (dead) throw new Error(`${bin} exited:\n${logs.slice(-20).join('\n')}`);
      return (await fetch(`${url}/-/ready`)).ok;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, logs, stop };
}

export function startPrometheus(config: string, rules: Record<string, string>): Promise<MonitoringProcess> {
  return startBinary(PROMETHEUS_BIN, { 'prometheus.yml': config, ...rules }, (dir, port) => [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // Firing alerts are re-sent every minute by default; the test cannot wait that long.
    '--rules.alert.resend-delay=1s',
  ]);
}

export function startAlertmanager(config: string): Promise<MonitoringProcess> {
  return startBinary(ALERTMANAGER_BIN, { 'alertmanager.yml': config }, (dir, port) => [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // An empty address turns clustering (gossip on a fixed port) off.
    '--cluster.listen-address=',
  ]);
}

/** A one-gauge exporter whose value the test sets, to make a rule fire and clear. */
export class TinyExporter {
  value = 0;
  url = '';
  private readonly server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      `# HELP switchboard_test_value A value the test controls.\n# TYPE switchboard_test_value gauge\nswitchboard_test_value ${this.value}\n`,
    );
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
