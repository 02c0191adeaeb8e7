import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AdminRole,
  AdminTokenStore,
  Broker,
  type BrokerOptions,
  createLogger,
  createMetricsRegistry,
} from '@switchboard/core';
import amqplib from 'amqplib';
import pg from 'pg';
import { type AdminService, createAdminService } from '../../services/admin/src/app.ts';
import { loadAdminConfig } from '../../services/admin/src/config.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName } from '../support/infra.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

/**
 * One admin suite's world: its own database and broker prefix, the real admin service built by its
 * app factory and listening on a free port, tokens of every role, and a core Broker to park with.
 */
export class AdminTestbed {
  readonly prefix = uniqueName('adm');
  readonly bullPrefix = uniqueName('badm');
  readonly partitions = 2;
  databaseUrl = '';
  db!: pg.Pool;
  broker!: Broker;
  svc!: AdminService;
  url = '';
  readonly tokens: Record<'viewer' | 'operator' | 'admin' | 'expired' | 'revoked', string> = {
    viewer: '',
    operator: '',
    admin: '',
    expired: '',
    revoked: '',
  };
  private dropDb: (() => Promise<void>) | undefined;
  private readyServer: Server | undefined;
  readyUrl = '';

  get topology(): BrokerOptions {
    return {
      url: AMQP_URL,
      prefix: this.prefix,
      queueType: 'quorum',
      partitions: this.partitions,
      prefetch: 16,
      retryDelaysMs: [100, 200],
      maxAttempts: 3,
    };
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      AMQP_URL,
      DATABASE_URL: this.databaseUrl,
      BROKER_PREFIX: this.prefix,
      BROKER_QUEUE_TYPE: 'quorum',
      BROKER_PARTITIONS: String(this.partitions),
      RETRY_DELAYS_MS: '100,200',
      MAX_ATTEMPTS: '3',
      REDIS_URL,
      BULLMQ_PREFIX: this.bullPrefix,
      LOG_LEVEL: 'info',
      HTTP_PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '10000',
      ...extra,
    };
  }

  async start(extraEnv: Record<string, string> = {}): Promise<void> {
    const db = await createTestDatabase();
    this.databaseUrl = db.url;
    this.dropDb = db.drop;
    this.db = new pg.Pool({ connectionString: db.url, max: 3 });
    // A service that answers /readyz, for the status page.
    this.readyServer = createServer((req, res) => {
      res.writeHead(req.url === '/readyz' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ready', checks: { fake: 'ok' } }));
    });
    await new Promise<void>((r) => this.readyServer!.listen(0, '127.0.0.1', r));
    this.readyUrl = `http://127.0.0.1:${(this.readyServer.address() as AddressInfo).port}`;

    const cfg = loadAdminConfig(
      this.env({
        ADMIN_SERVICES: `fake-up=${this.readyUrl},fake-down=http://127.0.0.1:1`,
        ADMIN_PROBE_TIMEOUT_MS: '1000',
        ...extraEnv,
      }),
    );
    const log = createLogger('admin', 'error');
    this.svc = await createAdminService(cfg, log, createMetricsRegistry('admin'));
    await this.svc.http.listen({ host: '127.0.0.1', port: 0 });
    this.url = `http://127.0.0.1:${(this.svc.http.server.address() as AddressInfo).port}`;

    const store = new AdminTokenStore(this.db);
    for (const role of ['viewer', 'operator', 'admin'] as AdminRole[]) {
      this.tokens[role as 'viewer'] = (
        await store.create({ name: `${role}-user`, role, ttlMs: 3_600_000, createdBy: 'test' })
      ).token;
    }
    const past = new AdminTokenStore(this.db, () => new Date(Date.now() - 7_200_000));
    this.tokens.expired = (
      await past.create({ name: 'expired-user', role: 'admin', ttlMs: 3_600_000, createdBy: 'test' })
    ).token;
    const revoked = await store.create({
      name: 'revoked-user',
      role: 'admin',
      ttlMs: 3_600_000,
      createdBy: 'test',
    });
    await store.revoke(revoked.record.id);
    this.tokens.revoked = revoked.token;

    this.broker = new Broker(this.topology, createLogger('admin-test', 'warn'));
    await this.broker.start();
  }

  async stop(): Promise<void> {
    await this.svc?.http.close();
    await this.svc?.closeDependencies();
    await this.broker?.close();
    await new Promise<void>((r) => (this.readyServer ? this.readyServer.close(() => r()) : r()));
    await this.db?.end();
    await deleteBrokerPrefix(this.prefix, this.partitions, 2);
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.deleteExchange(`${this.prefix}.logs`).catch(() => {});
    await conn.close().catch(() => {});
    await this.dropDb?.();
  }

  /** Calls the admin API as `who` (a role's token, a raw token string, or nobody). */
  async call(
    method: string,
    path: string,
    o: {
      as?: keyof AdminTestbed['tokens'] | null;
      token?: string;
      body?: unknown;
      headers?: Record<string, string>;
      raw?: string;
    } = {},
  ): Promise<Reply> {
    const token = o.token ?? (o.as ? this.tokens[o.as] : undefined);
    const res = await fetch(`${this.url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...o.headers,
      },
      body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // HTML (bull-board) or empty.
    }
    return { status: res.status, headers: res.headers, body, text };
  }
}
