/**
 * The compose file and .env.example against the services' own config schemas: a setting the
 * appliance passes that no service reads (a typo) would silently do nothing, and a setting a
 * service reads that the appliance cannot pass would be unreachable for an operator.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { connectorConfigShape } from '../../packages/connector/src/config.ts';
import { commonConfigShape } from '../../packages/core/src/config.ts';
import { adminConfigSchema } from '../../services/admin/src/config.ts';
import { workerConfigSchema } from '../../services/agent-worker/src/config.ts';
import { alertRelayConfigSchema } from '../../services/alert-relay/src/config.ts';
import { serviceConfigSchema as backupConfigSchema } from '../../services/backup/src/config.ts';
import { dingtalkConfigShape } from '../../services/ingress-dingtalk/src/config.ts';
import { discordConfigShape } from '../../services/ingress-discord/src/config.ts';
import { slackConfigShape } from '../../services/ingress-slack/src/config.ts';
import { telegramConfigShape } from '../../services/ingress-telegram/src/config.ts';
import { webConfigSchema } from '../../services/ingress-web/src/config.ts';
import { wecomConfigShape } from '../../services/ingress-wecom/src/config.ts';
import { schedulerConfigSchema } from '../../services/scheduler/src/config.ts';
import { toolBrowserConfigSchema } from '../../services/tool-runner/src/browser/config.ts';
import { toolRunnerConfigSchema } from '../../services/tool-runner/src/config.ts';
import { sandboxConfigSchema } from '../../services/tool-runner/src/sandbox/config.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const compose = parse(readFileSync(`${ROOT}/docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, unknown> }>;
};
const envExample = readFileSync(`${ROOT}/.env.example`, 'utf8');

const connector = <S extends z.ZodRawShape>(shape: S) =>
  z.object({ ...commonConfigShape, ...connectorConfigShape, ...shape });
const schemas = {
  'ingress-web': webConfigSchema,
  'agent-worker': workerConfigSchema,
  'ingress-telegram': connector(telegramConfigShape),
  'ingress-slack': connector(slackConfigShape),
  'ingress-discord': connector(discordConfigShape),
  'ingress-wecom': connector(wecomConfigShape),
  'ingress-dingtalk': connector(dingtalkConfigShape),
  'tool-runner': toolRunnerConfigSchema,
  // The tool-runner's renderer, with no database URL (browser/main.ts).
  'tool-browser': toolBrowserConfigSchema,
  'tool-sandbox': sandboxConfigSchema,
  'alert-relay': alertRelayConfigSchema,
  backup: backupConfigSchema,
  scheduler: schedulerConfigSchema,
  admin: adminConfigSchema,
} as const;
// Read by @switchboard/core's secrets provider (loadSecretsSettings) in every service that uses it.
const SECRETS_SETTINGS = new Set([
  'SECRETS_BACKEND',
  'SECRETS_REFRESH_S',
  'SECRETS_RETRY_MAX_S',
  'VAULT_ADDR',
  'VAULT_CACERT',
  'VAULT_KV_MOUNT',
  'VAULT_KV_PATH',
  'VAULT_NAMESPACE',
  'VAULT_ROLE_ID',
  'VAULT_SECRET_ID',
]);
// Read by the bundles' file lookups, not by the config schema.
// BACKUP_URL/BACKUP_TOKEN: read by the `switchboard` CLI run inside the admin container.
const NOT_IN_SCHEMA = new Set([
  'SB_MIGRATIONS_DIR',
  'SB_WEB_PUBLIC_DIR',
  'NODE_ENV',
  'BACKUP_URL',
  'BACKUP_TOKEN_FILE',
]);
// Set by one service for another, never by an operator: the tool-runner tells the sandbox it
// starts as its child (process mode) to exit with it.
// SCHEDULER_QUEUE: the admin's bull-board follows the scheduler's own queue name unless a test
// points it elsewhere.
const INTERNAL = new Set(['SANDBOX_EXIT_WITH_PARENT', 'SANDBOX_RUNNER_UID', 'SCHEDULER_QUEUE']);
// Compose's default differs from the service's on purpose: other hosts inside the compose network.
// MODEL_CHAIN: the scheduler has no model unless told; compose gives it the workers' chain.
// ADMIN_SERVICES: compose lists the services by their compose names.
const DELIBERATE_DEFAULTS = new Set(['OLLAMA_URL', 'MODEL_CHAIN', 'ADMIN_SERVICES']);

describe.each(Object.entries(schemas))('%s settings', (service, schema) => {
  const keys = new Set(Object.keys(schema.shape));
  const env = Object.keys(compose.services[service]?.environment ?? {});

  it('passes only settings the service reads', () => {
    const unknown = env.filter(
      (k) =>
        !NOT_IN_SCHEMA.has(k) &&
        !SECRETS_SETTINGS.has(k.replace(/_FILE$/, '')) &&
        !keys.has(k) &&
        !keys.has(k.replace(/_FILE$/, '')),
    );
    expect(unknown).toEqual([]);
  });

  it('lets an operator set every setting the service reads', () => {
    // Compose passes some under a per-service name (DB_POOL_SIZE ← WORKER_DB_POOL_SIZE); .env.example names them all.
    const unreachable = [...keys].filter(
      (k) =>
        !INTERNAL.has(k) &&
        !env.includes(k) &&
        !env.includes(`${k}_FILE`) &&
        !new RegExp(`^# ${k}(_FILE)?=`, 'm').test(envExample),
    );
    expect(unreachable).toEqual([]);
  });

  it("shows the service's own defaults, in compose and in .env.example", () => {
    // `KEY: ${VAR:-default}` whose default differs from the schema's would make the appliance
    // behave unlike the docs; .env.example's `# VAR=default` must say the same as compose.
    const shape = schema.shape as Record<string, z.ZodType>;
    const drift: string[] = [];
    for (const [key, raw] of Object.entries(compose.services[service]?.environment ?? {})) {
      const m = /^\$\{([A-Z][A-Z0-9_]*):-([^$]*)\}$/.exec(String(raw));
      if (!m || !shape[key] || DELIBERATE_DEFAULTS.has(key)) continue;
      const [, variable = '', fallback = ''] = m;
      // Compose passes an empty value through; the services read it as unset.
      const parse = (v: string) => shape[key]?.safeParse(v === '' ? undefined : v);
      const own = shape[key].safeParse(undefined);
      const same = (v: string) => {
        const r = parse(v);
        // A required setting without a default (a platform token) is "unset" on both sides.
        return r?.success === own.success && (!own.success || isDeepStrictEqual(r?.data, own.data));
      };
      if (!same(fallback)) drift.push(`${key}: compose ${fallback || '(empty)'}`);
      const documented = new RegExp(`^# ${variable}=(.*)$`, 'm').exec(envExample)?.[1];
      if (documented !== undefined && !same(documented.replace(/^"(.*)"$/, '$1'))) {
        drift.push(`${variable}: .env.example ${documented}`);
      }
    }
    expect(drift).toEqual([]);
  });
});
