import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapSecrets, type ServiceSecrets } from '../../packages/core/src/secrets/index.ts';
import { freePort } from '../../scripts/lib/spawn-service.ts';
import { startFakeVault } from '../fakes/vault/server.ts';
import { waitFor } from '../support/infra.ts';

const ROLE_ID = 'role-bootstrap-77a1';
const SECRET_ID = 'secret-id-bootstrap-0f9e3c';
const PATH = 'switchboard/ingress-test';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('bootstrapSecrets with SECRETS_BACKEND=vault', () => {
  it('serves health and a not-ready reason while sealed, then overlays Vault on the environment and frees the port', async () => {
    const vault = await startFakeVault({
      roles: [{ roleId: ROLE_ID, secretId: SECRET_ID, readPaths: [PATH] }],
    });
    cleanups.push(() => vault.close());
    vault.putSecret('secret', PATH, {
      API_TOKEN: 'tok-from-vault-6c0e1d',
      DATABASE_URL: 'postgres://sb:pw-vault-2b7f@db/sb',
    });
    vault.seal();
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      SECRETS_BACKEND: 'vault',
      VAULT_ADDR: vault.url,
      VAULT_ROLE_ID: ROLE_ID,
      VAULT_SECRET_ID: SECRET_ID,
      VAULT_KV_PATH: PATH,
      SECRETS_RETRY_MAX_S: '1',
      HTTP_PORT: String(port),
      API_TOKEN: 'tok-from-env-overridden',
      LOG_LEVEL: 'error',
      KEPT: 'from-env',
    };
    const registry = new Registry();
    let secrets: ServiceSecrets | undefined;
    const boot = bootstrapSecrets({
      service: 'ingress-test',
      defaultHttpPort: 1,
      registry,
      env,
      retryMinMs: 50,
    });
    void boot.then((s) => {
      secrets = s;
      cleanups.push(() => s.close());
    });

    const base = `http://127.0.0.1:${port}`;
    const body = await waitFor('/readyz 503 while sealed', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 503 ? ((await r.json()) as { checks: Record<string, string> }) : undefined;
    });
    expect(body.checks.secrets).toBe('vault: AppRole login: Vault is sealed');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await fetch(`${base}/metrics`).then((r) => r.text())).toMatch(
      /switchboard_secrets_ready\{backend="vault"\} 0/,
    );
    expect(secrets).toBeUndefined();

    vault.unseal();
    const s = await boot;
    expect(s.env.API_TOKEN).toBe('tok-from-vault-6c0e1d');
    expect(s.env.DATABASE_URL).toBe('postgres://sb:pw-vault-2b7f@db/sb');
    expect(s.env.KEPT).toBe('from-env');
    expect(Object.keys(s.readiness)).toEqual(['secrets']);
    await s.readiness.secrets?.();
    // The service listens on the same port next; its own request histogram must be registrable.
    await waitFor('the stand-in server closed', async () => !(await listening(port)));
    expect(await registry.getSingleMetric('switchboard_http_request_duration_seconds')).toBeUndefined();
    expect(await registry.metrics()).toMatch(/switchboard_secrets_ready\{backend="vault"\} 1/);
  });
});
