/**
 * The compose file and .env.example against the services' own config schemas: a setting the
 * appliance passes that no service reads (a typo) would silently do nothing, and a setting a
 * service reads that the appliance cannot pass would be unreachable for an operator.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { connectorConfigShape } from '../../packages/connector/src/config.ts';
import { commonConfigShape } from '../../packages/core/src/config.ts';
import { workerConfigSchema } from '../../services/agent-worker/src/config.ts';
import { dingtalkConfigShape } from '../../services/ingress-dingtalk/src/config.ts';
import { discordConfigShape } from '../../services/ingress-discord/src/config.ts';
import { slackConfigShape } from '../../services/ingress-slack/src/config.ts';
import { telegramConfigShape } from '../../services/ingress-telegram/src/config.ts';
import { webConfigSchema } from '../../services/ingress-web/src/config.ts';
import { wecomConfigShape } from '../../services/ingress-wecom/src/config.ts';

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
} as const;
// Read by the bundles' file lookups, not by the config schema.
const NOT_IN_SCHEMA = new Set(['SB_MIGRATIONS_DIR', 'SB_WEB_PUBLIC_DIR', 'NODE_ENV']);

describe.each(Object.entries(schemas))('%s settings', (service, schema) => {
  const keys = new Set(Object.keys(schema.shape));
  const env = Object.keys(compose.services[service]?.environment ?? {});

  it('passes only settings the service reads', () => {
    const unknown = env.filter(
      (k) => !NOT_IN_SCHEMA.has(k) && !keys.has(k) && !keys.has(k.replace(/_FILE$/, '')),
    );
    expect(unknown).toEqual([]);
  });

  it('lets an operator set every setting the service reads', () => {
    // Compose passes some under a per-service name (DB_POOL_SIZE ← WORKER_DB_POOL_SIZE); .env.example names them all.
    const unreachable = [...keys].filter(
      (k) =>
        !env.includes(k) &&
        !env.includes(`${k}_FILE`) &&
        !new RegExp(`^# ${k}(_FILE)?=`, 'm').test(envExample),
    );
    expect(unreachable).toEqual([]);
  });
});
