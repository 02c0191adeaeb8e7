import cookie from '@fastify/cookie';
import {
  AdminTokenStore,
  AuditLog,
  ConsoleSessions,
  createPool,
  createServiceHttp,
  type Logger,
  type MetricsRegistry,
  migrate,
  type Pool,
  pingDatabase,
  type TopologyOptions,
  topologyNames,
} from '@switchboard/core';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { AmqpLink } from './amqp-link.ts';
import { adminAuthenticators } from './auth/auth.ts';
import { registerAuthRoutes } from './auth/routes.ts';
import { mountBullBoard } from './bull-board.ts';
import type { AdminConfig } from './config.ts';
import { LogTail } from './log-tail.ts';
import { ParkingQueue } from './parking-queue.ts';
import { QueueStats } from './queue-stats.ts';
import { registerAuditRoutes } from './routes/audit.ts';
import { registerConfigRoutes } from './routes/config.ts';
import { registerConversationRoutes } from './routes/conversations.ts';
import { registerLogRoutes } from './routes/logs.ts';
import { registerOverviewRoutes } from './routes/overview.ts';
import { registerPairingRoutes } from './routes/pairing.ts';
import { registerParkingRoutes } from './routes/parking.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerTokenRoutes } from './routes/tokens.ts';
import { registerWorkflowRoutes } from './routes/workflows.ts';

export interface AdminService {
  http: FastifyInstance;
  pool: Pool;
  link: AmqpLink;
  tail: LogTail;
  bullQueue: Queue;
  /** Closes everything but the HTTP server (the caller closes that first, so requests finish). */
  closeDependencies(): Promise<void>;
}

/** Builds the whole service (connections, routes) without listening: main.ts and the tests share it. */
export async function createAdminService(
  cfg: AdminConfig,
  log: Logger,
  registry: MetricsRegistry,
): Promise<AdminService> {
  const pool = createPool(cfg.DATABASE_URL, log, { max: cfg.DB_POOL_SIZE, applicationName: 'admin' });
  await migrate(pool, log);
  const topology: TopologyOptions = {
    prefix: cfg.BROKER_PREFIX,
    queueType: cfg.BROKER_QUEUE_TYPE,
    partitions: cfg.BROKER_PARTITIONS,
    retryDelaysMs: cfg.RETRY_DELAYS_MS,
    maxAttempts: cfg.MAX_ATTEMPTS,
  };
  const names = topologyNames(cfg.BROKER_PREFIX, cfg.BROKER_PARTITIONS);
  const link = new AmqpLink({ url: cfg.AMQP_URL, topology, log, name: 'admin' });
  // Not fatal at start: the console still shows the database's pages while the broker is away.
  await link
    .connection()
    .catch((err) => log.warn('broker not reachable yet', { error: { message: String(err.message) } }));
  const tail = new LogTail({
    url: cfg.AMQP_URL,
    prefix: cfg.BROKER_PREFIX,
    capacity: cfg.LOG_BUFFER_LINES,
    log,
  });
  await tail.start();

  const tokens = new AdminTokenStore(pool);
  const sessions = new ConsoleSessions(pool);
  await sessions.prune();
  const authenticators = adminAuthenticators(tokens, sessions);
  const audit = new AuditLog(pool);
  const queues = new QueueStats({
    link,
    prefix: cfg.BROKER_PREFIX,
    partitions: cfg.BROKER_PARTITIONS,
    retryTiers: cfg.RETRY_DELAYS_MS.length,
    management: cfg.RABBITMQ_MANAGEMENT_URL
      ? {
          url: cfg.RABBITMQ_MANAGEMENT_URL,
          user: cfg.RABBITMQ_MANAGEMENT_USER,
          password: cfg.RABBITMQ_MANAGEMENT_PASSWORD,
          timeoutMs: cfg.ADMIN_PROBE_TIMEOUT_MS,
        }
      : undefined,
  });
  const parking = new ParkingQueue({
    link,
    queue: names.parking,
    requeueExchange: names.requeue,
    scanLimit: cfg.PARKING_SCAN_LIMIT,
  });

  const http = createServiceHttp({
    log,
    registry,
    readiness: { database: () => pingDatabase(pool), broker: link.readiness },
    fastify: { bodyLimit: 1_048_576 },
    access: {
      authenticators,
      // A cross-site form can send none of these types, and no browser sends a cookie-carrying
      // change without its Origin: together they close CSRF on the console, login included.
      sameOrigin: {
        bodyTypes: ['application/json', 'application/yaml', 'application/x-yaml', 'text/yaml'],
        allowedOrigins: cfg.CONSOLE_ORIGINS,
      },
    },
  });
  await http.register(cookie);
  // No form parser: the API takes JSON (and workflows as YAML), never what an HTML form posts.
  http.removeContentTypeParser('text/plain');
  http.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'text/yaml'],
    { parseAs: 'string', bodyLimit: 262_144 },
    (_req, body, done) => done(null, body),
  );
  registerAuthRoutes(http, { tokens, sessions, authenticators, secureCookie: cfg.COOKIE_SECURE });
  registerStatusRoutes(http, {
    services: cfg.ADMIN_SERVICES,
    probeTimeoutMs: cfg.ADMIN_PROBE_TIMEOUT_MS,
    queues,
  });
  registerOverviewRoutes(http, { pool, queues });
  registerConversationRoutes(http, { pool });
  registerLogRoutes(http, { tail });
  registerParkingRoutes(http, { parking, pool });
  registerPairingRoutes(http, { pool });
  registerConfigRoutes(http, { pool, skillsDir: cfg.SKILLS_DIR });
  registerWorkflowRoutes(http, {
    scheduler: { url: cfg.SCHEDULER_URL, token: cfg.SCHEDULER_TOKEN, timeoutMs: cfg.SCHEDULER_TIMEOUT_MS },
    pool,
    audit,
  });
  registerTokenRoutes(http, { pool, tokens });
  registerAuditRoutes(http, { audit });
  (await import('./console/index.ts')).registerConsole(http);
  const bullQueue = await mountBullBoard(http, {
    redisUrl: cfg.REDIS_URL,
    prefix: cfg.BULLMQ_PREFIX,
    queue: cfg.SCHEDULER_QUEUE ?? `${cfg.BROKER_PREFIX}-workflows`,
    log,
  });

  return {
    http,
    pool,
    link,
    tail,
    bullQueue,
    async closeDependencies() {
      await tail.close();
      await bullQueue.close().catch(() => {});
      await link.close();
      await pool.end().catch(() => {});
    },
  };
}
