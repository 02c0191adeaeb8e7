import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolQueueName } from '@switchboard/core';
import { toolRunnerEnv } from '../../scripts/lib/process-stack.ts';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName } from './infra.ts';

export type { ServiceProcess };

export interface StackOptions {
  workers?: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  webEnv?: Record<string, string>;
  /**
   * Also start a tool-runner (shell sandbox as its child) on a fresh temporary workspace; an
   * object is extra environment for it (e.g. SHELL_ALLOWLIST, TOOL_RUNNER_TOOLS). Absent: none.
   */
  tools?: boolean | Record<string, string>;
}

/**
 * Starts the process-mode stack for one suite: its own database, its own broker prefix, one
 * ingress-web and N agent-workers as real child processes, exactly as `npm run stack` runs them.
 */
export class TestStack {
  readonly token = randomBytes(24).toString('base64url');
  readonly prefix = uniqueName('t');
  databaseUrl = '';
  web!: ServiceProcess;
  workers: ServiceProcess[] = [];
  /** The tool-runner and its workspace, with the `tools` option. */
  toolRunner: ServiceProcess | undefined;
  workspaceDir = '';
  /** Queues a suite declared beyond the core topology (e.g. a connector's reply queue), deleted at stop. */
  readonly extraQueues: string[] = [];
  private dropDb: (() => Promise<void>) | undefined;
  private readonly all = new Set<ServiceProcess>();

  constructor(private readonly o: StackOptions = {}) {}

  get baseEnv(): Record<string, string> {
    return {
      AMQP_URL,
      DATABASE_URL: this.databaseUrl,
      BROKER_PREFIX: this.prefix,
      BROKER_PARTITIONS: '4',
      LOG_LEVEL: 'info',
      HTTP_PORT: '0',
      RETRY_DELAYS_MS: '100,200,400',
      MAX_ATTEMPTS: '3',
      OUTBOX_POLL_MS: '500',
      LEASE_INTERVAL_MS: '200',
      SHUTDOWN_TIMEOUT_MS: '15000',
      // Connector suites test the message path with fresh accounts; stranger policy (the appliance
      // defaults to verification_code) has its own suites, which set STRANGER_MODE themselves.
      STRANGER_MODE: 'open',
      ...this.o.env,
    };
  }

  async start(): Promise<this> {
    const db = await createTestDatabase();
    this.databaseUrl = db.url;
    this.dropDb = db.drop;
    this.web = await this.startService('ingress-web', { API_TOKENS: this.token, ...this.o.webEnv });
    if (this.o.tools) await this.startToolRunner(this.o.tools === true ? {} : this.o.tools);
    for (let i = 0; i < (this.o.workers ?? 1); i++) await this.startWorker();
    return this;
  }

  /** Starts a tool-runner on this suite's workspace (created on first use); `env` overrides. */
  async startToolRunner(env: Record<string, string> = {}): Promise<ServiceProcess> {
    this.workspaceDir ||= await mkdtemp(join(tmpdir(), 'sb-tools-'));
    this.toolRunner = await this.startService('tool-runner', {
      ...toolRunnerEnv({ ...this.baseEnv, ...env }, this.workspaceDir),
      ...env,
    });
    return this.toolRunner;
  }

  async startWorker(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const w = await this.startService('agent-worker', {
      MODEL_CHAIN: 'ollama/fake-small',
      ...this.o.workerEnv,
      ...env,
    });
    this.workers.push(w);
    return w;
  }

  /** Spawns a service and waits until it answers /readyz. */
  async startService(name: string, env: Record<string, string>): Promise<ServiceProcess> {
    const svc = await spawnService(name, { ...this.baseEnv, ...env });
    this.all.add(svc);
    return svc;
  }

  /** Workers whose process is still running. */
  get liveWorkers(): ServiceProcess[] {
    return this.workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
  }

  /** Logs of every service, for a failing test's message. */
  dumpLogs(lines = 40): string {
    return [...this.all].map((s) => `--- ${s.name} ---\n${s.logs.slice(-lines).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.all].map((s) => s.kill('SIGKILL')));
    // Every worker declares the tool queue, whether or not a tool-runner ran.
    await deleteBrokerPrefix(this.prefix, 4, 3, [
      ...this.extraQueues,
      toolQueueName(this.prefix),
      toolQueueName(this.prefix, 'browser'),
    ]).catch(() => {});
    await this.dropDb?.().catch(() => {});
    if (this.workspaceDir) await rm(this.workspaceDir, { recursive: true, force: true });
  }
}
