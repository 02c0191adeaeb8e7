import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from './errors.ts';
import { registerEnvSecrets } from './logger.ts';

/**
 * Settings every service shares. Each service extends this shape with its own keys and builds
 * its config once at start with {@link loadConfig}.
 */
export const commonConfigShape = {
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  AMQP_URL: z.string().regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL'),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  BROKER_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,30}$/, 'lower-case letters, digits, - and _ only')
    .default('sb'),
  BROKER_QUEUE_TYPE: z.enum(['quorum', 'classic']).default('quorum'),
  BROKER_PARTITIONS: z.coerce.number().int().min(1).max(256).default(8),
  BROKER_PREFETCH: z.coerce.number().int().min(1).max(10_000).default(64),
  RETRY_DELAYS_MS: z
    .string()
    .default('1000,5000,30000')
    .transform((s, ctx) => {
      const parts = s.split(',').map((p) => Number(p.trim()));
      if (parts.length === 0 || parts.some((n) => !Number.isInteger(n) || n < 1)) {
        ctx.addIssue({ code: 'custom', message: 'comma-separated positive integers (milliseconds)' });
        return z.NEVER;
      }
      return parts;
    }),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(4),
  /**
   * `true`: this service declares the shared topology (exchanges, agent partitions, retry tiers,
   * parking) on every connection. `false`: it only checks the exchanges exist — in compose each
   * service has its own broker user, and only the agent-worker's may declare (or delete) them.
   */
  BROKER_DECLARE_TOPOLOGY: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  HTTP_HOST: z.string().default('127.0.0.1'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  OUTBOX_POLL_MS: z.coerce.number().int().min(50).default(2_000),
};

export const commonConfigSchema = z.object(commonConfigShape);
export type CommonConfig = z.infer<typeof commonConfigSchema>;

/**
 * `NAME_FILE` points at a file holding NAME's value (Docker secrets, Vault agent templates).
 * The file wins only when NAME itself is unset, so an explicit value is never silently replaced.
 */
export function resolveFileVars(
  env: NodeJS.ProcessEnv,
  known?: Set<string>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  for (const [key, path] of Object.entries(env)) {
    if (!key.endsWith('_FILE') || !path) continue;
    const name = key.slice(0, -'_FILE'.length);
    // Other software's *_FILE variables (TF_CLI_CONFIG_FILE, …) are none of our business.
    if (known && !known.has(name)) continue;
    if (out[name] !== undefined && out[name] !== '') continue;
    try {
      out[name] = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new SwitchboardError(
        ErrorCodes.CONFIG_INVALID,
        `${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    // The logger masked secret-named variables at creation, before this file was read: without this
    // a value from a Docker secret could reach a log line (a URL in a connection error, a 401 body).
    registerEnvSecrets({ [name]: out[name] });
  }
  // Empty strings mean "unset": compose passes `${VAR:-}` through as "".
  for (const [k, v] of Object.entries(out)) if (v === '') out[k] = undefined;
  return out;
}

/** Builds the typed config once; every problem is reported with the key it belongs to. */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const known = schema instanceof z.ZodObject ? new Set(Object.keys(schema.shape)) : undefined;
  const resolved = resolveFileVars(env, known);
  const parsed = schema.safeParse(resolved);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => {
    const key = i.path.join('.') || '(root)';
    const missing = i.code === 'invalid_type' && resolved[String(i.path[0])] === undefined;
    return `  ${key}: ${missing ? `is required (set ${key} or ${key}_FILE)` : i.message}`;
  });
  throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `invalid configuration:\n${lines.join('\n')}`);
}
