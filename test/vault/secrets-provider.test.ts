import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import winston from 'winston';
import { createServiceHttp } from '../../packages/core/src/http.ts';
import {
  createSecretsProvider,
  EnvSecretsProvider,
  loadSecretsSettings,
  type SecretsError,
  type SecretsProvider,
  VaultSecretsProvider,
} from '../../packages/core/src/secrets/index.ts';
import { freePort, ROOT } from '../../scripts/lib/spawn-service.ts';
import { type FakeVault, startFakeVault } from '../fakes/vault/server.ts';
import { waitFor } from '../support/infra.ts';

const ROLE_ID = 'role-gateway-6f1c';
const SECRET_ID = 'secret-id-c0ffee-very-private';
const PATH = 'switchboard/gateway';
const FIRST_TOKEN = 'xoxb-first-platform-token';
const SECOND_TOKEN = 'xoxb-rotated-platform-token';

/** A logger whose lines the test can read, to check what is (and is never) written. */
function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeVault(o: { tokenTtlS?: number; tokenMaxTtlS?: number } = {}): Promise<FakeVault> {
  const fake = await startFakeVault({
    roles: [{ roleId: ROLE_ID, secretId: SECRET_ID, readPaths: [PATH] }],
    ...o,
  });
  fake.putSecret('secret', PATH, { PLATFORM_TOKEN: FIRST_TOKEN, DB_PASSWORD: 'pw-1', PORT: 8443 });
  cleanups.push(() => fake.close());
  return fake;
}

function vaultProvider(fake: { url: string }, o: { secretId?: string; refreshMs?: number } = {}) {
  const { log, lines } = captureLogger();
  const settings = loadSecretsSettings({
    SECRETS_BACKEND: 'vault',
    VAULT_ADDR: fake.url,
    VAULT_ROLE_ID: ROLE_ID,
    VAULT_SECRET_ID: o.secretId ?? SECRET_ID,
    VAULT_KV_PATH: PATH,
  });
  const provider = new VaultSecretsProvider(
    { log, required: ['PLATFORM_TOKEN'], refreshMs: o.refreshMs ?? 300_000, retryMinMs: 50, retryMaxMs: 200 },
    settings.vault as NonNullable<typeof settings.vault>,
  );
  cleanups.push(() => provider.stop());
  return { provider, lines };
}

function expectNoSecretsIn(lines: string[]) {
  const all = lines.join('\n');
  for (const s of [SECRET_ID, FIRST_TOKEN, SECOND_TOKEN, 'pw-1', 'hvs.']) expect(all).not.toContain(s);
}

describe('Vault secrets provider (against the fake Vault, through node-vault)', () => {
  it('logs in with AppRole and reads the KV v2 secret', async () => {
    const fake = await fakeVault();
    const { provider, lines } = vaultProvider(fake);
    expect(provider.isReady()).toBe(false);
    expect(() => provider.readiness()).toThrow(/not loaded yet/);
    provider.start();
    await provider.whenReady(5_000);
    expect(provider.require('PLATFORM_TOKEN')).toBe(FIRST_TOKEN);
    expect(provider.get('DB_PASSWORD')).toBe('pw-1');
    // Non-string KV values arrive as their JSON text.
    expect(provider.get('PORT')).toBe('8443');
    expect(provider.version).toBe(1);
    expect(fake.counters.logins).toBe(1);
    expect(() => provider.require('NOPE')).toThrow(
      expect.objectContaining({ code: 'SB_ERR_SECRETS_NOT_FOUND' }),
    );
    expectNoSecretsIn(lines);
  });

  it('renews its token before it expires, without logging in again', async () => {
    const fake = await fakeVault({ tokenTtlS: 2 });
    const { provider } = vaultProvider(fake);
    provider.start();
    await provider.whenReady(5_000);
    // Each renewal lands at 2/3 of a 2 s lease; three of them span longer than the first lease.
    await waitFor('three renewals', () => fake.counters.renewals >= 3, 10_000);
    expect(fake.counters.failedRenewals).toBe(0);
    expect(fake.counters.logins).toBe(1);
    await provider.refresh();
    expect(fake.counters.logins).toBe(1);
    expect(provider.isReady()).toBe(true);
  });

  it('logs in again when renewal is refused, and when the lease is capped by max_ttl', async () => {
    const fake = await fakeVault({ tokenTtlS: 2 });
    const { provider } = vaultProvider(fake);
    provider.start();
    await provider.whenReady(5_000);
    fake.revokeAllTokens();
    await waitFor('a refused renewal', () => fake.counters.failedRenewals >= 1, 10_000);
    await waitFor('a second login', () => fake.counters.logins >= 2 && provider.hasToken(), 10_000);
    expect(provider.isReady()).toBe(true);

    const capped = await fakeVault({ tokenTtlS: 3, tokenMaxTtlS: 3 });
    const second = vaultProvider(capped);
    second.provider.start();
    await second.provider.whenReady(5_000);
    // The renewal at 2 s gets at most 1 s left (< a third of 3 s): a fresh login replaces the token.
    await waitFor('a login replacing the capped token', () => capped.counters.logins >= 2, 10_000);
    expect(capped.counters.renewals).toBeGreaterThanOrEqual(1);
  });

  it('picks up a rotated secret on the refresh timer and tells watchers', async () => {
    const fake = await fakeVault();
    const { provider, lines } = vaultProvider(fake, { refreshMs: 100 });
    provider.start();
    await provider.whenReady(5_000);
    const seen: Array<string | undefined> = [];
    const changedKeys: string[] = [];
    provider.watch('PLATFORM_TOKEN', (v) => seen.push(v));
    provider.on('change', (k: string) => changedKeys.push(k));
    fake.putSecret('secret', PATH, { PLATFORM_TOKEN: SECOND_TOKEN, DB_PASSWORD: 'pw-1', PORT: 8443 });
    await waitFor('the watcher to see the new token', () => seen.length > 0, 5_000);
    expect(seen).toEqual([SECOND_TOKEN]);
    expect(changedKeys).toEqual(['PLATFORM_TOKEN']);
    expect(provider.get('PLATFORM_TOKEN')).toBe(SECOND_TOKEN);
    expect(provider.version).toBe(2);
    // Key names are logged so an operator sees what rotated; values never are.
    expect(lines.join('\n')).toContain('PLATFORM_TOKEN');
    expectNoSecretsIn(lines);
  });

  it('picks up a rotated secret on refresh() (what SIGHUP calls), reporting removed keys too', async () => {
    const fake = await fakeVault();
    const { provider } = vaultProvider(fake);
    provider.start();
    await provider.whenReady(5_000);
    fake.putSecret('secret', PATH, { PLATFORM_TOKEN: SECOND_TOKEN, PORT: 8443 });
    expect((await provider.refresh()).sort()).toEqual(['DB_PASSWORD', 'PLATFORM_TOKEN']);
    expect(provider.get('DB_PASSWORD')).toBeUndefined();
    expect(await provider.refresh()).toEqual([]);
  });

  it('reloads on a real SIGHUP in a child process', async () => {
    const fake = await fakeVault();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/vault/sighup-child.ts')], {
      // tsx's CLI wrapper does not pass SIGHUP on to the node process it starts: load it in-process.
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        SECRETS_BACKEND: 'vault',
        SECRETS_REFRESH_S: '3600',
        VAULT_ADDR: fake.url,
        VAULT_ROLE_ID: ROLE_ID,
        VAULT_SECRET_ID: SECRET_ID,
        VAULT_KV_PATH: PATH,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      err += String(d);
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    await waitFor(`the child to be ready (stderr: ${err})`, () => out.includes('ready\n'), 30_000);
    fake.putSecret('secret', PATH, { PLATFORM_TOKEN: SECOND_TOKEN, DB_PASSWORD: 'pw-1', PORT: 8443 });
    child.kill('SIGHUP');
    await waitFor('the child to report the change', () => out.includes('change PLATFORM_TOKEN\n'), 10_000);
    // SIGHUP reloaded instead of killing the process (Node's default for SIGHUP).
    expect(child.exitCode).toBeNull();
    expect(fake.counters.reads).toBe(2);
  });

  it('reports not ready while Vault is sealed, keeps the cached values, and recovers on unseal', async () => {
    const fake = await fakeVault();
    const { provider } = vaultProvider(fake);
    const app = createServiceHttp({
      log: captureLogger().log,
      registry: new Registry(),
      readiness: { secrets: provider.readiness },
    });
    cleanups.push(() => app.close());
    provider.start();
    await provider.whenReady(5_000);
    expect((await app.inject('/readyz')).statusCode).toBe(200);

    fake.seal();
    await expect(provider.refresh()).rejects.toMatchObject({ code: 'SB_ERR_SECRETS_SEALED' });
    const sealed = await app.inject('/readyz');
    expect(sealed.statusCode).toBe(503);
    expect(sealed.json().checks.secrets).toBe('vault: read secret/switchboard/gateway: Vault is sealed');
    expect(provider.get('PLATFORM_TOKEN')).toBe(FIRST_TOKEN);
    // The loop keeps retrying with backoff while sealed, and never throws out of it.
    const refusals = fake.counters.sealedRefusals;
    await waitFor('retries while sealed', () => fake.counters.sealedRefusals >= refusals + 3, 5_000);

    fake.unseal();
    await waitFor('ready after unseal', () => provider.isReady(), 5_000);
    expect((await app.inject('/readyz')).statusCode).toBe(200);
  });

  it('starts not ready while Vault is sealed or unreachable, and becomes ready without a restart', async () => {
    const fake = await fakeVault();
    fake.seal();
    const { provider } = vaultProvider(fake);
    provider.start();
    const ready = provider.whenReady(10_000);
    await waitFor('a sealed login attempt', () => fake.counters.sealedRefusals >= 2, 5_000);
    expect(provider.error?.code).toBe('SB_ERR_SECRETS_SEALED');
    fake.unseal();
    await ready;
    expect(provider.require('PLATFORM_TOKEN')).toBe(FIRST_TOKEN);

    const { provider: nowhere } = vaultProvider({ url: `http://127.0.0.1:${await freePort()}` });
    nowhere.start();
    await waitFor('an unreachable error', () => nowhere.error?.code === 'SB_ERR_SECRETS_UNREACHABLE', 5_000);
    expect(nowhere.error?.message).toMatch(/unreachable \(ECONNREFUSED\)/);
    await expect(nowhere.whenReady(300)).rejects.toMatchObject({ code: 'SB_ERR_SECRETS_UNREACHABLE' });
  });

  it('fails AppRole login with a clear error on a wrong secret_id, never echoing it', async () => {
    const fake = await fakeVault();
    const { provider, lines } = vaultProvider(fake, { secretId: 'wrong-secret-id-value' });
    provider.start();
    const err = (await provider.whenReady(500).catch((e: unknown) => e)) as SecretsError;
    expect(err.code).toBe('SB_ERR_SECRETS_AUTH_FAILED');
    expect(err.message).toBe(
      'vault: AppRole login refused (invalid role or secret ID); check VAULT_ROLE_ID and VAULT_SECRET_ID',
    );
    expect(fake.counters.failedLogins).toBeGreaterThanOrEqual(1);
    expect(lines.join('\n')).not.toContain('wrong-secret-id-value');
    expect(lines.join('\n')).toContain('SB_ERR_SECRETS_AUTH_FAILED');
  });

  it('tells a path the policy forbids from a path with nothing stored', async () => {
    const fake = await startFakeVault({
      roles: [{ roleId: ROLE_ID, secretId: SECRET_ID, readPaths: [PATH, 'switchboard/empty'] }],
    });
    cleanups.push(() => fake.close());
    const { log } = captureLogger();
    const make = (path: string) => {
      const settings = loadSecretsSettings({
        SECRETS_BACKEND: 'vault',
        VAULT_ADDR: fake.url,
        VAULT_ROLE_ID: ROLE_ID,
        VAULT_SECRET_ID: SECRET_ID,
        VAULT_KV_PATH: path,
      });
      const p = createSecretsProvider(settings, { log, retryMinMs: 50 });
      cleanups.push(() => p.stop());
      return p;
    };
    await expect(make('switchboard/other-service').refresh()).rejects.toMatchObject({
      code: 'SB_ERR_SECRETS_FORBIDDEN',
      message:
        "vault: read secret/switchboard/other-service: permission denied (the role's policy must allow read on this path)",
    });
    // A 403 is first taken for a stale token: exactly one fresh login before giving up.
    expect(fake.counters.logins).toBe(2);
    await expect(make('switchboard/empty').refresh()).rejects.toMatchObject({
      code: 'SB_ERR_SECRETS_NOT_FOUND',
      message: 'vault: read secret/switchboard/empty: no secret at this path',
    });
  });

  it('reads secret_id from VAULT_SECRET_ID_FILE again at each login, so a rotated file is used', async () => {
    const fake = await fakeVault();
    const dir = mkdtempSync(join(tmpdir(), 'sb-vault-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'secret_id');
    writeFileSync(file, `${SECRET_ID}\n`);
    chmodSync(file, 0o600);
    const { log } = captureLogger();
    const settings = loadSecretsSettings({
      SECRETS_BACKEND: 'vault',
      VAULT_ADDR: fake.url,
      VAULT_ROLE_ID: ROLE_ID,
      VAULT_SECRET_ID_FILE: file,
      VAULT_KV_PATH: PATH,
    });
    const fromFile = createSecretsProvider(settings, { log, required: ['PLATFORM_TOKEN'], retryMinMs: 50 });
    cleanups.push(() => fromFile.stop());
    fromFile.start();
    await fromFile.whenReady(5_000);

    fake.setSecretId(ROLE_ID, 'secret-id-rotated');
    writeFileSync(file, 'secret-id-rotated\n');
    fake.revokeAllTokens();
    // A 403 on read with a token thought live: one fresh login, with the file as it is now.
    await fromFile.refresh();
    expect(fake.counters.logins).toBe(2);
    expect(fromFile.isReady()).toBe(true);
  });

  it('refuses an incomplete Vault configuration with every problem named', () => {
    expect(() => loadSecretsSettings({ SECRETS_BACKEND: 'vault', VAULT_ADDR: 'vault:8200' })).toThrow(
      expect.objectContaining({ code: 'SB_ERR_CONFIG_INVALID' }),
    );
    let message = '';
    try {
      loadSecretsSettings({ SECRETS_BACKEND: 'vault', VAULT_SECRET_ID_FILE: '/nonexistent/secret_id' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('VAULT_ADDR: is required when SECRETS_BACKEND=vault');
    expect(message).toContain('VAULT_KV_PATH: is required');
    expect(message).toContain('VAULT_ROLE_ID: is required');
    expect(message).toContain('VAULT_SECRET_ID_FILE: cannot read /nonexistent/secret_id (ENOENT)');
    expect(() => loadSecretsSettings({ SECRETS_BACKEND: 'consul' })).toThrow(/SECRETS_BACKEND/);
    const env = loadSecretsSettings({});
    expect(env).toMatchObject({ backend: 'env', refreshS: 300, retryMaxS: 30 });
  });
});

describe('env secrets provider', () => {
  it('reads NAME or NAME_FILE, and a rewritten file is picked up on refresh', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-secrets-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'platform_token');
    writeFileSync(file, `${FIRST_TOKEN}\n`);
    const { log, lines } = captureLogger();
    const provider: SecretsProvider = createSecretsProvider(loadSecretsSettings({}), {
      log,
      required: ['PLATFORM_TOKEN', 'DB_PASSWORD'],
      optional: ['OPTIONAL_KEY'],
      env: { PLATFORM_TOKEN_FILE: file, DB_PASSWORD: 'pw-1' },
    });
    cleanups.push(() => provider.stop());
    expect(provider).toBeInstanceOf(EnvSecretsProvider);
    provider.start();
    await provider.whenReady(2_000);
    expect(provider.get('PLATFORM_TOKEN')).toBe(FIRST_TOKEN);
    expect(provider.get('OPTIONAL_KEY')).toBeUndefined();
    const seen: Array<string | undefined> = [];
    provider.watch('PLATFORM_TOKEN', (v) => seen.push(v));
    writeFileSync(file, SECOND_TOKEN);
    expect(await provider.refresh()).toEqual(['PLATFORM_TOKEN']);
    expect(seen).toEqual([SECOND_TOKEN]);

    rmSync(file);
    await expect(provider.refresh()).rejects.toMatchObject({ code: 'SB_ERR_SECRETS_NOT_FOUND' });
    expect(provider.isReady()).toBe(false);
    expect(provider.get('PLATFORM_TOKEN')).toBe(SECOND_TOKEN);
    expectNoSecretsIn(lines);
  });

  it('is not ready while a required key is missing', async () => {
    const { log } = captureLogger();
    const provider = createSecretsProvider(loadSecretsSettings({}), { log, required: ['MISSING'], env: {} });
    cleanups.push(() => provider.stop());
    await expect(provider.refresh()).rejects.toThrow('env: required secret(s) missing: MISSING');
    expect(() => provider.readiness()).toThrow(/MISSING/);
  });
});
