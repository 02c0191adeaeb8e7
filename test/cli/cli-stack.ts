import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqplib from 'amqplib';
import { ROOT, type ServiceProcess } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { AMQP_URL, uniqueName } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const WORKFLOW = `name: disk-check
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

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI from source as a child process, as an operator would (`switchboard …`). */
export function runCli(
  args: string[],
  env: Record<string, string>,
  o: { bin?: boolean; timeoutMs?: number } = {},
): Promise<CliResult> {
  const entry = o.bin
    ? ['packages/cli/bin/switchboard.mjs']
    : ['--import', 'tsx', 'packages/cli/src/main.ts'];
  const proc = spawn(process.execPath, [...entry, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), o.timeoutMs ?? 45_000);
  return new Promise((resolve) =>
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/**
 * The process-mode stack (ingress-web, an agent-worker on the fake model) plus what the CLI talks
 * to: the admin service, the scheduler with one workflow, and the backup service, each a real
 * child process started from source on this suite's database and broker prefix.
 */
export class CliStack {
  stack!: TestStack;
  readonly bullPrefix = uniqueName('bcli');
  readonly schedulerToken = randomBytes(24).toString('base64url');
  readonly backupToken = randomBytes(24).toString('base64url');
  llm!: FakeLlm;
  scheduler!: ServiceProcess;
  backup!: ServiceProcess;
  admin!: ServiceProcess;
  workflowsDir = '';
  backupDir = '';

  get prefix(): string {
    return this.stack.prefix;
  }

  get databaseUrl(): string {
    return this.stack.databaseUrl;
  }

  async start(): Promise<this> {
    this.llm = await startFakeLlm();
    this.stack = new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: this.llm.url } });
    await this.stack.start();

    this.workflowsDir = await mkdtemp(join(tmpdir(), 'sb-cli-wf-'));
    await writeFile(join(this.workflowsDir, 'disk-check.yaml'), WORKFLOW);
    this.backupDir = await mkdtemp(join(tmpdir(), 'sb-cli-backups-'));
    const common = { REDIS_URL, BULLMQ_PREFIX: this.bullPrefix };
    this.scheduler = await this.stack.startService('scheduler', {
      ...common,
      WORKFLOWS_DIR: this.workflowsDir,
      WORKFLOW_WEBHOOK_TOKEN: this.schedulerToken,
      STEP_TIMEOUT_MS: '500',
    });
    this.backup = await this.stack.startService('backup', {
      BACKUP_DIR: this.backupDir,
      BACKUP_TOKEN: this.backupToken,
      BACKUP_SCHEDULE: '0 3 1 1 *',
    });
    const worker = this.stack.workers[0]!;
    this.admin = await this.stack.startService('admin', {
      ...common,
      SCHEDULER_URL: this.scheduler.url,
      SCHEDULER_TOKEN: this.schedulerToken,
      COOKIE_SECURE: 'false',
      ADMIN_PROBE_TIMEOUT_MS: '1000',
      ADMIN_SERVICES: [
        `ingress-web=${this.stack.web.url}`,
        `agent-worker=${worker.url}`,
        `scheduler=${this.scheduler.url}`,
        `backup=${this.backup.url}`,
      ].join(','),
    });
    return this;
  }

  /** The environment of an operator's shell pointed at this stack; `extra` adds or overrides. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      SWITCHBOARD_URL: this.admin?.url ?? 'http://127.0.0.1:1',
      DATABASE_URL: this.databaseUrl,
      BACKUP_URL: this.backup?.url ?? 'http://127.0.0.1:1',
      BACKUP_TOKEN: this.backupToken,
      BACKUP_DIR: this.backupDir,
      ...extra,
    };
  }

  async stop(): Promise<void> {
    await this.stack?.stop();
    const conn = await amqplib.connect(AMQP_URL).catch(() => undefined);
    if (conn) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      await ch.deleteExchange(`${this.prefix}.logs`).catch(() => {});
      await conn.close().catch(() => {});
    }
    await this.llm?.close();
    for (const dir of [this.workflowsDir, this.backupDir])
      if (dir) await rm(dir, { recursive: true, force: true });
  }
}
