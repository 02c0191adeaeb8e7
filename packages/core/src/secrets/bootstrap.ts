import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCodes, errorMessage, SwitchboardError } from '../errors.ts';
import { createServiceHttp, type ReadinessCheck } from '../http.ts';
import { createLogger, type Logger, registerEnvSecrets, registerSecret } from '../logger.ts';
import { gauge, type MetricsRegistry } from '../metrics.ts';
import { loadSecretsSettings } from './config.ts';
import { createSecretsProvider } from './index.ts';
import type { SecretsProvider } from './provider.ts';

export interface SecretsBootstrapOptions {
  /** Service name for logs, metrics and the "restart <service>" hint. */
  service: string;
  /** The service's own HTTP_PORT default: the stand-in server listens where the service will. */
  defaultHttpPort: number;
  /** The service's registry; the stand-in server's /metrics serves it. */
  registry: MetricsRegistry;
  env?: NodeJS.ProcessEnv;
  /** Tests only: first retry delay while Vault is away. */
  retryMinMs?: number;
}

/** Applies new values of credentials that can change while the service runs. */
export type LiveSecretsHandler = (values: Record<string, string>) => void | Promise<void>;

export interface ServiceSecrets {
  /**
   * What the service builds its config from: the process environment with Vault's keys on top
   * (a key in Vault wins over the same key, or its _FILE, in the environment).
   */
  readonly env: NodeJS.ProcessEnv;
  /** Undefined with SECRETS_BACKEND=env. */
  readonly provider: SecretsProvider | undefined;
  /** For createServiceHttp's readiness: `secrets` with Vault, nothing with the env backend. */
  readonly readiness: Record<string, ReadinessCheck>;
  /**
   * Declares keys the service applies without a restart. A changed key nobody declared is logged
   * as needing a restart (connection URLs, HTTP settings…).
   */
  onRotate(keys: readonly string[], apply: LiveSecretsHandler): void;
  /** Stops the provider's timers and the SIGHUP handler; last shutdown step. */
  close(): Promise<void>;
}

const httpSchema = z.object({
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
});

const levels = new Set(['error', 'warn', 'info', 'debug']);

/**
 * The first step of every service's start. With SECRETS_BACKEND=env (the default) it returns the
 * environment as it is and starts nothing. With SECRETS_BACKEND=vault it logs in and reads the
 * service's KV secret; until that succeeds a stand-in HTTP server on HTTP_HOST:HTTP_PORT answers
 * /healthz 200, /readyz 503 with the reason and /metrics, so a sealed or unreachable Vault leaves
 * the container alive and not ready instead of crash-looping. A configuration mistake (no
 * VAULT_ADDR, unreadable role_id file) throws CONFIG_INVALID, which runMain turns into exit 78.
 */
export async function bootstrapSecrets(o: SecretsBootstrapOptions): Promise<ServiceSecrets> {
  const env = o.env ?? process.env;
  const backend = env.SECRETS_BACKEND;
  if (backend === undefined || backend === '' || backend === 'env') return envSecrets(env);

  const settings = loadSecretsSettings(env);
  if (settings.backend === 'env') return envSecrets(env);
  const http = httpSchema.safeParse({
    HTTP_HOST: env.HTTP_HOST || undefined,
    HTTP_PORT: env.HTTP_PORT || undefined,
  });
  if (!http.success)
    throw new SwitchboardError(
      ErrorCodes.CONFIG_INVALID,
      `invalid configuration:\n${http.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  const level = env.LOG_LEVEL && levels.has(env.LOG_LEVEL) ? env.LOG_LEVEL : 'info';
  const log = createLogger(o.service, level);
  const provider = createSecretsProvider(settings, { log, retryMinMs: o.retryMinMs });
  const readyGauge = gauge(o.registry, 'secrets_ready', '1 while the secrets backend answers', ['backend']);
  readyGauge.set({ backend: provider.backend }, 0);
  provider.on('ready', () => readyGauge.set({ backend: provider.backend }, 1));
  provider.on('unready', () => readyGauge.set({ backend: provider.backend }, 0));

  const ready = new Promise<void>((resolve) => provider.once('ready', resolve));
  const stopSighup = provider.reloadOnSighup();
  provider.start();
  if (!provider.isReady()) await waitServing(provider, ready, o, http.data, log);

  const values: Record<string, string> = {};
  for (const key of provider.keys()) {
    const v = provider.get(key);
    if (v !== undefined) values[key] = v;
  }
  protect(values);
  const rotation = watchRotation(provider, { service: o.service, log });
  return {
    env: { ...env, ...values },
    provider,
    readiness: { secrets: provider.readiness },
    onRotate: rotation.onRotate,
    close: async () => {
      stopSighup();
      rotation.stop();
      await provider.stop();
    },
  };
}

function envSecrets(env: NodeJS.ProcessEnv): ServiceSecrets {
  return {
    env,
    provider: undefined,
    readiness: {},
    onRotate: () => {},
    close: async () => {},
  };
}

/** Every value from the secrets backend is masked in logs, whatever its key is called. */
function protect(values: Record<string, string>): void {
  for (const v of Object.values(values)) registerSecret(v);
  // URL passwords and comma-separated lists, masked on their own too.
  registerEnvSecrets(values);
}

/** Serves health, readiness and metrics until the first read succeeds; SIGTERM meanwhile exits 0. */
async function waitServing(
  provider: SecretsProvider,
  ready: Promise<void>,
  o: SecretsBootstrapOptions,
  http: z.infer<typeof httpSchema>,
  log: Logger,
): Promise<void> {
  const server: FastifyInstance = createServiceHttp({
    log,
    registry: o.registry,
    readiness: { secrets: provider.readiness },
  });
  const port = http.HTTP_PORT ?? o.defaultHttpPort;
  const address = await server.listen({ host: http.HTTP_HOST, port });
  if (!provider.isReady())
    log.info(`${o.service}: waiting for secrets before starting; /readyz answers 503 until then`, {
      labels: { address, backend: provider.backend },
    });
  const stop = (signal: NodeJS.Signals) => {
    log.info('shutting down while waiting for secrets', { labels: { signal } });
    void Promise.allSettled([provider.stop(), server.close()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  try {
    await ready;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
  }
  // The service listens on the same port next, and registers its own request histogram.
  await server.close();
  o.registry.removeSingleMetric('switchboard_http_request_duration_seconds');
}

/**
 * Routes 'change' events of a started provider: values are masked in logs first, keys a handler
 * declared are applied live, every other key gets one warning that it needs a restart. The
 * provider emits one event per key synchronously; a microtask later the batch of one read is
 * complete, so a handler sees all the keys of one rotation together.
 */
export function watchRotation(
  provider: SecretsProvider,
  o: { service: string; log: Logger },
): { onRotate: ServiceSecrets['onRotate']; stop: () => void } {
  const handlers: Array<{ keys: ReadonlySet<string>; apply: LiveSecretsHandler }> = [];
  let batch: string[] = [];
  const where = provider.backend === 'vault' ? 'in Vault' : 'in its file';

  const flush = async (keys: string[]) => {
    const live = new Set<string>();
    for (const h of handlers) {
      const values: Record<string, string> = {};
      for (const key of keys) {
        const v = provider.get(key);
        if (h.keys.has(key) && v !== undefined) values[key] = v;
      }
      const names = Object.keys(values);
      if (names.length === 0) continue;
      for (const k of names) live.add(k);
      try {
        await h.apply(values);
        o.log.info(`${names.join(', ')} changed ${where}; now in use`, {
          labels: { applied_keys: names.join(',') },
        });
      } catch (err) {
        o.log.error(`${names.join(', ')} changed ${where} but could not be applied: ${errorMessage(err)}`, {
          labels: { failed_keys: names.join(',') },
        });
      }
    }
    for (const key of keys) {
      if (live.has(key)) continue;
      if (provider.get(key) === undefined)
        o.log.warn(`${key} was removed ${where}; ${o.service} keeps the value it started with`, {
          labels: { removed_key: key },
        });
      else
        o.log.warn(`${key} changed ${where}; restart ${o.service} to use it`, {
          labels: { restart_needed_key: key },
        });
    }
  };

  const onChange = (key: string) => {
    const v = provider.get(key);
    if (v !== undefined) protect({ [key]: v });
    batch.push(key);
    if (batch.length > 1) return;
    queueMicrotask(() => {
      const keys = batch;
      batch = [];
      void flush(keys);
    });
  };
  provider.on('change', onChange);
  return {
    onRotate: (keys, apply) => {
      handlers.push({ keys: new Set(keys), apply });
    },
    stop: () => provider.off('change', onChange),
  };
}
