import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Broker,
  type BrokerOptions,
  createLogger,
  serveTools,
  TOOL_PROTOCOL_VERSION,
  type ToolRequest,
  type ToolResult,
  type ToolServer,
} from '@switchboard/core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName } from '../support/infra.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const API_TOKEN = 'workflow-api-token-for-tests-0123456789';

/** Shell output the fake tool-runner answers, per program, in the real runner's format. */
const SHELL_OUTPUT: Record<string, string> = {
  df: 'Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 50G 20G 30G 40% /',
  uptime: ' 09:00:01 up 3 days,  2:04,  load average: 0.10, 0.20, 0.30',
  date: 'Mon Jan  1 09:00:00 UTC 2024',
  hostname: 'ops-host-1',
};

function result(
  req: ToolRequest,
  ok: boolean,
  output: string,
  code?: 'TOOL_FAILED' | 'TOOL_UNKNOWN',
): ToolResult {
  return {
    v: TOOL_PROTOCOL_VERSION,
    id: req.id,
    ok,
    output,
    truncated: false,
    error: ok ? undefined : { code: code ?? 'TOOL_FAILED', message: output },
    attachments: [],
    durationMs: 1,
  };
}

/**
 * One suite's world: its own database, broker prefix, BullMQ prefix and workflow folder; a fake
 * tool-runner answering shell and send_message over our real RPC protocol; scheduler processes.
 */
export class WorkflowTestbed {
  readonly prefix = uniqueName('wf');
  readonly bullPrefix = uniqueName('bwf');
  readonly partitions = 2;
  dir = '';
  databaseUrl = '';
  db!: pg.Pool;
  broker!: Broker;
  /** Every tool request the fake runner received. */
  readonly calls: ToolRequest[] = [];
  readonly schedulers: ServiceProcess[] = [];
  /** Other services of the suite (an agent-worker), stopped before the broker and database. */
  readonly services: ServiceProcess[] = [];
  private toolServer: ToolServer | undefined;
  private dropDb: (() => Promise<void>) | undefined;

  get topology(): BrokerOptions {
    return {
      url: AMQP_URL,
      prefix: this.prefix,
      queueType: 'classic',
      partitions: this.partitions,
      prefetch: 16,
      retryDelaysMs: [100, 200],
      maxAttempts: 3,
    };
  }

  async start(files: Record<string, string>): Promise<void> {
    const db = await createTestDatabase();
    this.databaseUrl = db.url;
    this.dropDb = db.drop;
    this.db = new pg.Pool({ connectionString: db.url, max: 3 });
    this.dir = await mkdtemp(join(tmpdir(), 'sb-workflows-'));
    for (const [name, text] of Object.entries(files)) await this.writeWorkflow(name, text);
    const log = createLogger('workflow-test', 'warn');
    this.broker = new Broker(this.topology, log);
    await this.broker.start();
    this.toolServer = await serveTools(
      this.broker,
      this.topology,
      async (req) => {
        this.calls.push(req);
        if (req.tool === 'send_message') return result(req, true, `sent to ${String(req.arguments.channel)}`);
        if (req.tool !== 'shell') return result(req, false, `there is no tool "${req.tool}"`, 'TOOL_UNKNOWN');
        const program = String(req.arguments.command);
        if (program === 'false') return result(req, false, 'the command ended with exit code 1');
        const out = SHELL_OUTPUT[program] ?? `ran ${program}`;
        return result(req, true, `$ ${program}\nexit code 0\n${out}`);
      },
      log,
      { concurrency: 8 },
    );
  }

  async writeWorkflow(file: string, text: string): Promise<void> {
    await writeFile(join(this.dir, file), text);
  }

  async removeWorkflow(file: string): Promise<void> {
    await rm(join(this.dir, file), { force: true });
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      AMQP_URL,
      DATABASE_URL: this.databaseUrl,
      BROKER_PREFIX: this.prefix,
      BROKER_QUEUE_TYPE: 'classic',
      BROKER_PARTITIONS: String(this.partitions),
      RETRY_DELAYS_MS: '100,200',
      MAX_ATTEMPTS: '3',
      REDIS_URL,
      BULLMQ_PREFIX: this.bullPrefix,
      WORKFLOWS_DIR: this.dir,
      WORKFLOW_WEBHOOK_TOKEN: API_TOKEN,
      LOG_LEVEL: 'info',
      HTTP_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '10000',
      ...extra,
    };
  }

  async spawnScheduler(extra: Record<string, string> = {}): Promise<ServiceProcess> {
    const svc = await spawnService('scheduler', this.env(extra), { readyTimeoutMs: 45_000 });
    this.schedulers.push(svc);
    return svc;
  }

  /** An agent-worker on this suite's broker prefix and database, e.g. to serve skill steps. */
  async spawnAgentWorker(extra: Record<string, string>): Promise<ServiceProcess> {
    const svc = await spawnService(
      'agent-worker',
      {
        AMQP_URL,
        DATABASE_URL: this.databaseUrl,
        BROKER_PREFIX: this.prefix,
        BROKER_QUEUE_TYPE: 'classic',
        BROKER_PARTITIONS: String(this.partitions),
        RETRY_DELAYS_MS: '100,200',
        MAX_ATTEMPTS: '3',
        REDIS_URL,
        LOG_LEVEL: 'info',
        HTTP_PORT: '0',
        LEASE_INTERVAL_MS: '200',
        SHUTDOWN_TIMEOUT_MS: '10000',
        ...extra,
      },
      { readyTimeoutMs: 45_000 },
    );
    this.services.push(svc);
    return svc;
  }

  /** Calls a scheduler's HTTP API. */
  async api(
    svc: ServiceProcess,
    path: string,
    o: { method?: string; token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const token = o.token === undefined ? API_TOKEN : o.token;
    const res = await fetch(`${svc.url}${path}`, {
      method: o.method ?? 'GET',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
      },
      body: o.body !== undefined ? JSON.stringify(o.body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async runs(workflow: string): Promise<Array<Record<string, unknown>>> {
    return (
      await this.db.query('SELECT * FROM workflow_runs WHERE workflow = $1 ORDER BY created_at', [workflow])
    ).rows;
  }

  async stepRows(runId: string): Promise<Array<Record<string, unknown>>> {
    return (
      await this.db.query('SELECT * FROM workflow_step_runs WHERE run_id = $1 ORDER BY position, attempt', [
        runId,
      ])
    ).rows;
  }

  sent(): Array<{ channel: string; text: string }> {
    return this.calls
      .filter((c) => c.tool === 'send_message')
      .map((c) => {
        const { channel, text } = c.arguments as { channel: string; text: string };
        return { channel, text };
      });
  }

  /** Stops everything; resolves with the schedulers' exit codes (0: a clean SIGTERM shutdown). */
  async stop(): Promise<Array<number | null>> {
    const codes = await Promise.all(this.schedulers.map((s) => s.kill('SIGTERM', 15_000)));
    await Promise.all(this.services.map((s) => s.kill('SIGTERM', 15_000)));
    await this.toolServer?.stop().catch(() => {});
    await this.broker?.close().catch(() => {});
    await this.db?.end().catch(() => {});
    await deleteBrokerPrefix(this.prefix, this.partitions, 2, [
      `${this.prefix}.tools`,
      `${this.prefix}.skills`,
      `${this.prefix}.scheduler.messages`,
    ]).catch(() => {});
    await this.dropDb?.().catch(() => {});
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.bullPrefix}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
    return codes;
  }
}
