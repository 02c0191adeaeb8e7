import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName, waitFor } from './infra.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServiceProcess {
  readonly name: string;
  readonly logs: string[];
  url: string;
  proc: ChildProcess;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StackOptions {
  workers?: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  workerEnv?: Record<string, string>;
  webEnv?: Record<string, string>;
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
      ...this.o.env,
    };
  }

  async start(): Promise<this> {
    const db = await createTestDatabase();
    this.databaseUrl = db.url;
    this.dropDb = db.drop;
    this.web = await this.startService('ingress-web', { API_TOKENS: this.token, ...this.o.webEnv });
    for (let i = 0; i < (this.o.workers ?? 1); i++) await this.startWorker();
    return this;
  }

  async startWorker(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const w = await this.startService('agent-worker', { MODEL_CHAIN: 'ollama/fake-small', ...this.o.workerEnv, ...env });
    this.workers.push(w);
    return w;
  }

  /** Spawns a service and waits until it logs its address and answers /readyz. */
  async startService(name: string, env: Record<string, string>): Promise<ServiceProcess> {
    const proc = spawn(process.execPath, ['--import', 'tsx', `services/${name}/src/main.ts`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...this.baseEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    let url = '';
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        logs.push(line);
        const m = /"address":"(http:\/\/[^"]+)"/.exec(line);
        if (m && !url) url = m[1]!.replace('0.0.0.0', '127.0.0.1');
      }
    };
    proc.stdout!.on('data', onLine);
    proc.stderr!.on('data', onLine);
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const svc: ServiceProcess = {
      name,
      logs,
      proc,
      exited,
      get url() {
        return url;
      },
      set url(v) {
        url = v;
      },
      kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
        return exited;
      },
    };
    this.all.add(svc);
    let dead = false;
    void exited.then(() => {
      dead = true;
    });
    await waitFor(
      `${name} to become ready`,
      async () => {
        if (dead) throw new Error(`${name} exited:\n${logs.slice(-20).join('\n')}`);
        if (!url) return false;
        const r = await fetch(`${url}/readyz`);
        return r.ok;
      },
      30_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- ${name} log ---\n${logs.slice(-30).join('\n')}`);
    });
    return svc;
  }

  /** Logs of every service, for a failing test's message. */
  dumpLogs(lines = 40): string {
    return [...this.all].map((s) => `--- ${s.name} ---\n${s.logs.slice(-lines).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all([...this.all].map((s) => s.kill('SIGKILL')));
    await deleteBrokerPrefix(this.prefix, 4).catch(() => {});
    await this.dropDb?.().catch(() => {});
  }
}
