import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AdminRole,
  AdminTokenStore,
  createLogger,
  createMetricsRegistry,
  ENVELOPE_VERSION,
  Headers,
  partitionOf,
} from '@switchboard/core';
import amqplib from 'amqplib';
import pg from 'pg';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT, type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { type AdminService, createAdminService } from '../../services/admin/src/app.ts';
import { loadAdminConfig } from '../../services/admin/src/config.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { AMQP_URL, uniqueName, waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';
import { postMessage } from '../support/web-client.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PARTITIONS = 4;

/** Where the screenshots go: docs/console/ with UPDATE_SCREENSHOTS=1, a temporary folder otherwise. */
export function screenshotDir(): string {
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const dir = join(ROOT, 'docs', 'console');
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  return mkdtempSync(join(tmpdir(), 'sb-console-shots-'));
}

/**
 * The console's world: the real message path (ingress-web and an agent-worker as child processes,
 * the fake LLM), the real admin service built in-process by its app factory on the same database
 * and broker prefix, admin tokens of every role, and Debian's Chromium.
 */
export class ConsoleTestbed {
  llm!: FakeLlm;
  stack!: TestStack;
  admin!: AdminService;
  browser!: Browser;
  db!: pg.Pool;
  url = '';
  readonly bullPrefix = uniqueName('bcon');
  scheduler!: ServiceProcess;
  private workflowsDir = '';
  readonly tokens: Record<AdminRole, string> = { viewer: '', operator: '', admin: '' };

  async start(): Promise<void> {
    this.llm = await startFakeLlm();
    this.stack = await new TestStack({
      workers: 1,
      // A long periodic reload: a routing change must reach the worker through NOTIFY.
      workerEnv: { OLLAMA_URL: this.llm.url, ROUTING_RELOAD_MS: '600000' },
    }).start();
    this.db = new pg.Pool({ connectionString: this.stack.databaseUrl, max: 2 });
    // A real scheduler with the shipped seed and a workflow that needs no tool-runner.
    this.workflowsDir = mkdtempSync(join(tmpdir(), 'sb-console-workflows-'));
    copyFileSync(
      join(ROOT, 'workspace/workflows/daily-report.yaml'),
      join(this.workflowsDir, 'daily-report.yaml'),
    );
    writeFileSync(
      join(this.workflowsDir, 'web-health.yaml'),
      [
        'name: web-health',
        'description: Asks the chat API whether it is ready, on demand.',
        'trigger:',
        '  webhook: {}',
        'steps:',
        '  - id: readyz',
        '    type: http',
        '    with:',
        `      url: ${this.stack.web.url}/readyz`,
        '',
      ].join('\n'),
    );
    const workflowToken = randomBytes(24).toString('base64url');
    this.scheduler = await spawnService('scheduler', {
      AMQP_URL,
      DATABASE_URL: this.stack.databaseUrl,
      BROKER_PREFIX: this.stack.prefix,
      BROKER_PARTITIONS: String(PARTITIONS),
      RETRY_DELAYS_MS: '100,200,400',
      MAX_ATTEMPTS: '3',
      REDIS_URL,
      BULLMQ_PREFIX: this.bullPrefix,
      WORKFLOWS_DIR: this.workflowsDir,
      WORKFLOW_WEBHOOK_TOKEN: workflowToken,
      // web-health's http step goes to loopback, which the egress policy refuses unless allowlisted.
      EGRESS_ALLOWLIST: new URL(this.stack.web.url).host,
      LOG_LEVEL: 'warn',
      HTTP_PORT: '0',
    });
    const cfg = loadAdminConfig({
      SCHEDULER_URL: this.scheduler.url,
      SCHEDULER_TOKEN: workflowToken,
      AMQP_URL,
      DATABASE_URL: this.stack.databaseUrl,
      BROKER_PREFIX: this.stack.prefix,
      BROKER_PARTITIONS: String(PARTITIONS),
      RETRY_DELAYS_MS: '100,200,400',
      MAX_ATTEMPTS: '3',
      REDIS_URL,
      BULLMQ_PREFIX: this.bullPrefix,
      LOG_LEVEL: 'error',
      HTTP_PORT: '0',
      // Chromium talks plain HTTP to 127.0.0.1 here; behind nginx the cookie is Secure.
      COOKIE_SECURE: 'false',
      ADMIN_SERVICES: `ingress-web=${this.stack.web.url},agent-worker=${this.stack.workers[0]!.url}`,
      ADMIN_PROBE_TIMEOUT_MS: '2000',
    });
    this.admin = await createAdminService(
      cfg,
      createLogger('admin', 'error'),
      createMetricsRegistry('admin'),
    );
    await this.admin.http.listen({ host: '127.0.0.1', port: 0 });
    this.url = `http://127.0.0.1:${(this.admin.http.server.address() as AddressInfo).port}`;

    const store = new AdminTokenStore(this.db);
    for (const role of ['viewer', 'operator', 'admin'] as AdminRole[]) {
      this.tokens[role] = (
        await store.create({ name: `${role}-user`, role, ttlMs: 3_600_000, createdBy: 'console-test' })
      ).token;
    }
    this.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // This machine has no network: without these flags Chromium keeps trying to reach Google.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }

  async stop(): Promise<void> {
    await this.browser?.close().catch(() => {});
    await this.admin?.http.close().catch(() => {});
    await this.admin?.closeDependencies().catch(() => {});
    await this.db?.end().catch(() => {});
    await this.scheduler?.kill('SIGTERM');
    if (this.workflowsDir) rmSync(this.workflowsDir, { recursive: true, force: true });
    await this.stack?.stop();
    await this.llm?.close();
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    ch.on('error', () => {});
    await ch.deleteExchange(`${this.stack?.prefix}.logs`).catch(() => {});
    await conn.close().catch(() => {});
  }

  /** A fresh browser context (its own cookies) logged in as `role` through the login form. */
  async login(
    role: AdminRole,
    next = '/admin/',
  ): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await this.browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${this.url}/admin/login?next=${encodeURIComponent(next)}`);
    await page.fill('#token', this.tokens[role]);
    await page.click('#login button[type=submit]');
    await page.waitForSelector(`#who:has-text("${role}-user")`);
    return { context, page, errors };
  }

  /** Sends a message through ingress-web's HTTP API and waits for the worker's answer. */
  async ask(
    conversationId: string,
    text: string,
  ): Promise<{ id: string; reply: { text: string; status: string } }> {
    const sent = await postMessage(this.stack.web.url, this.stack.token, { conversationId, text });
    if (sent.status !== 202)
      throw new Error(`ingress-web answered ${sent.status}: ${JSON.stringify(sent.body)}`);
    const id = String(sent.body.id);
    const reply = await this.replyTo(id);
    return { id, reply };
  }

  /** Polls GET /v1/messages/:id until the message is answered. */
  async replyTo(id: string, timeoutMs = 20_000): Promise<{ text: string; status: string }> {
    return waitFor(
      `the reply to ${id}`,
      async () => {
        const res = await fetch(`${this.stack.web.url}/v1/messages/${encodeURIComponent(id)}`, {
          headers: { authorization: `Bearer ${this.stack.token}` },
        });
        const body = (await res.json()) as { reply?: { text: string; status: string } };
        return body.reply;
      },
      timeoutMs,
      100,
    );
  }

  /**
   * Parks an inbound envelope exactly as a worker's Delivery.park does after its last attempt:
   * published to the parking exchange with the origin queue, reason, code, time and attempts.
   */
  async park(conversationId: string, text: string, reason: string): Promise<{ id: string; traceId: string }> {
    const id = `web:web:${uniqueName('parked-')}`;
    const traceId = uniqueName('trace-');
    const env = {
      v: ENVELOPE_VERSION,
      kind: 'inbound',
      id,
      platform: 'web',
      botId: 'web',
      conversationId,
      user: { id: 'parked-user' },
      text,
      attachments: [],
      receivedAt: new Date().toISOString(),
      traceId,
    };
    const origin = `${this.stack.prefix}.agent.in.${partitionOf(`web:web:${conversationId}`, PARTITIONS)}`;
    const conn = await amqplib.connect(AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish(`${this.stack.prefix}.parking`, origin, Buffer.from(JSON.stringify(env)), {
        persistent: true,
        contentType: 'application/json',
        messageId: id,
        timestamp: Math.floor(Date.now() / 1000),
        headers: {
          [Headers.traceId]: traceId,
          [Headers.originQueue]: origin,
          [Headers.parkReason]: reason,
          [Headers.parkCode]: 'SB_ERR_PROCESSING_FAILED',
          [Headers.parkedAt]: new Date().toISOString(),
          [Headers.attempts]: 3,
        },
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close().catch(() => {});
    }
    return { id, traceId };
  }
}
