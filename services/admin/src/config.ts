import { commonConfigShape, loadConfig } from '@switchboard/core';
import { z } from 'zod';

const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');

/** `name=http://host:port,…`: the services whose /readyz the status page probes. */
const serviceList = z
  .string()
  .default('')
  .transform((s, ctx) => {
    const out: Array<{ name: string; url: string }> = [];
    for (const part of s
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const m = /^([A-Za-z0-9_.-]{1,64})=(https?:\/\/\S+)$/.exec(part);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `"${part}": expected name=http://host:port` });
        return z.NEVER;
      }
      out.push({ name: m[1]!, url: m[2]!.replace(/\/+$/, '') });
    }
    return out;
  });

export const adminConfigSchema = z.object({
  ...commonConfigShape,
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  ADMIN_SERVICES: serviceList,
  /** How long one /readyz probe may take before the service counts as not ready. */
  ADMIN_PROBE_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2_000),
  /** RabbitMQ's management API (http://rabbitmq:15672); unset: queue figures come from AMQP. */
  RABBITMQ_MANAGEMENT_URL: z.url({ protocol: /^https?$/ }).optional(),
  RABBITMQ_MANAGEMENT_USER: z.string().min(1).default('guest'),
  RABBITMQ_MANAGEMENT_PASSWORD: z.string().min(1).default('guest'),
  /** Redis of the scheduler's BullMQ queue, shown by bull-board at /admin/queues. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  /** The scheduler's queue name; unset: `<BROKER_PREFIX>-workflows`, as the scheduler names it. */
  SCHEDULER_QUEUE: z.string().min(1).max(100).optional(),
  BULLMQ_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, _ and - (at most 32)')
    .default('bull'),
  /** The scheduler's HTTP API, e.g. http://scheduler:9105. */
  SCHEDULER_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:9105'),
  /** The scheduler's WORKFLOW_WEBHOOK_TOKEN: the workflow routes answer 503 without it. */
  SCHEDULER_TOKEN: z.string().min(24, 'at least 24 characters').optional(),
  SCHEDULER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** Skills folder shown read-only under /admin/api/skills (the workers' SKILLS_DIR). */
  SKILLS_DIR: z.string().min(1).default('./workspace/skills'),
  /** false only for plain-HTTP development: the browser drops a Secure cookie sent over http. */
  COOKIE_SECURE: flag(true),
  /**
   * Extra origins whose pages may make changes with the console's cookie (comma-separated), for a
   * console reached through another proxy. The console's own origin is always accepted.
   */
  CONSOLE_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ protocol: /^https?$/ }))),
  /** Log lines kept for GET /admin/api/logs. */
  LOG_BUFFER_LINES: z.coerce.number().int().min(10).max(100_000).default(2_000),
  /** Most parked messages read for one listing (the queue is walked, then everything requeued). */
  PARKING_SCAN_LIMIT: z.coerce.number().int().min(1).max(10_000).default(500),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(5),
});

export type AdminConfig = z.infer<typeof adminConfigSchema>;

export function loadAdminConfig(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  return loadConfig(adminConfigSchema, env);
}
