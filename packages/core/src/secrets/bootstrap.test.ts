import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import winston from 'winston';
import { ErrorCodes, SwitchboardError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { bootstrapSecrets, watchRotation } from './bootstrap.ts';
import { EnvSecretsProvider } from './env-provider.ts';

function capturedLogger(): { log: Logger; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const log = createLogger('bootstrap-test', 'debug');
  let buf = '';
  log.clear();
  log.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk, _enc, cb) {
          buf += String(chunk);
          cb();
        },
      }),
    }),
  );
  const raw = () => buf;
  return {
    log,
    raw,
    lines: () =>
      buf
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether anything accepts TCP connections on the port. */
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

async function configError(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  expect((err as SwitchboardError).code).toBe(ErrorCodes.CONFIG_INVALID);
  return err as SwitchboardError;
}

describe('bootstrapSecrets with the env backend', () => {
  it.each([
    ['unset', undefined],
    ['empty', ''],
    ['env', 'env'],
  ])(
    'returns the environment untouched and starts nothing when SECRETS_BACKEND is %s',
    async (_n, backend) => {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
        HTTP_PORT: String(port),
        ...(backend === undefined ? {} : { SECRETS_BACKEND: backend }),
      };
      const secrets = await bootstrapSecrets({
        service: 'svc',
        defaultHttpPort: port,
        registry: new Registry(),
        env,
      });
      expect(secrets.env).toBe(env);
      expect(secrets.provider).toBeUndefined();
      expect(secrets.readiness).toEqual({});
      expect(await listening(port)).toBe(false);
      // Declaring live keys is harmless without a backend that can rotate them.
      secrets.onRotate(['X_TOKEN'], () => {});
      await secrets.close();
    },
  );

  it('refuses an unknown backend and a Vault backend without its settings, before listening', async () => {
    const port = await freePort();
    const base = { service: 'svc', defaultHttpPort: port, registry: new Registry() };
    const unknown = await configError(
      bootstrapSecrets({ ...base, env: { SECRETS_BACKEND: 'consul', HTTP_PORT: String(port) } }),
    );
    expect(unknown.message).toContain('SECRETS_BACKEND');
    const vault = await configError(
      bootstrapSecrets({ ...base, env: { SECRETS_BACKEND: 'vault', HTTP_PORT: String(port) } }),
    );
    for (const key of ['VAULT_ADDR', 'VAULT_KV_PATH', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID'])
      expect(vault.message).toContain(key);
    expect(await listening(port)).toBe(false);
  });
});

describe('watchRotation', () => {
  let dir: string;
  const cleanups: Array<() => Promise<void> | void> = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sb-rotation-'));
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A provider over files, rewritten by the test as an operator (or a Vault agent) would. */
  async function fileProvider(values: Record<string, string>) {
    const env: NodeJS.ProcessEnv = {};
    const write = (v: Record<string, string>) => {
      for (const [k, value] of Object.entries(v)) {
        writeFileSync(join(dir, k), value);
        env[`${k}_FILE`] = join(dir, k);
      }
    };
    write(values);
    const captured = capturedLogger();
    const provider = new EnvSecretsProvider(
      { log: captured.log, optional: Object.keys(values), refreshMs: 300_000, retryMaxMs: 1_000 },
      env,
    );
    provider.start();
    await provider.whenReady(5_000);
    cleanups.push(() => provider.stop());
    return { provider, write, ...captured };
  }

  it('hands declared keys to their handler and asks for a restart for the others, values never logged', async () => {
    const old = {
      PLATFORM_TOKEN: 'tok-old-9b1e5c77aa',
      DATABASE_URL: 'postgres://sb:pw-old-41c9e2@db/sb',
      AMQP_URL: 'amqp://sb:amqp-pw-unchanged-77@rabbit',
    };
    const { provider, write, log, lines, raw } = await fileProvider(old);
    const rotation = watchRotation(provider, { service: 'ingress-test', log });
    cleanups.push(rotation.stop);
    const applied: Array<Record<string, string>> = [];
    rotation.onRotate(['PLATFORM_TOKEN', 'OTHER_TOKEN'], (v) => {
      applied.push(v);
    });

    const next = { PLATFORM_TOKEN: 'tok-new-3f0d2a8812', DATABASE_URL: 'postgres://sb:pw-new-8d7f10@db/sb' };
    write(next);
    expect((await provider.refresh()).sort()).toEqual(['DATABASE_URL', 'PLATFORM_TOKEN']);

    await vi.waitFor(() => expect(applied).toEqual([{ PLATFORM_TOKEN: next.PLATFORM_TOKEN }]), {
      timeout: 5_000,
    });
    await vi.waitFor(() =>
      expect(
        lines()
          .filter((l) => l['log.level'] === 'warn')
          .map((l) => l.message),
      ).toEqual(['DATABASE_URL changed in its file; restart ingress-test to use it']),
    );
    expect(lines().some((l) => l.message === 'PLATFORM_TOKEN changed in its file; now in use')).toBe(true);
    // Key names stay readable for the operator (labels named like secrets would be masked).
    const warn = lines().find((l) => l['log.level'] === 'warn');
    expect(warn?.labels).toEqual({ restart_needed_key: 'DATABASE_URL' });

    // A later line quoting the new values (an error body, a URL) is masked as well.
    log.error(`platform answered 401 for ${next.PLATFORM_TOKEN}; pool failed for ${next.DATABASE_URL}`);
    for (const v of [...Object.values(old), ...Object.values(next), 'pw-new-8d7f10'])
      expect(raw()).not.toContain(v);
  });

  it('logs a handler that refuses a value, and keeps going', async () => {
    const { provider, write, log, lines } = await fileProvider({ PLATFORM_TOKEN: 'tok-first-0c3b7e' });
    const rotation = watchRotation(provider, { service: 'ingress-test', log });
    cleanups.push(rotation.stop);
    rotation.onRotate(['PLATFORM_TOKEN'], () => {
      throw new Error('the new PLATFORM_TOKEN does not look like a token; keeping the current one');
    });
    write({ PLATFORM_TOKEN: 'not-a-token-5e2d' });
    await provider.refresh();
    await vi.waitFor(() =>
      expect(lines().find((l) => l['log.level'] === 'error')?.message).toBe(
        'PLATFORM_TOKEN changed in its file but could not be applied: the new PLATFORM_TOKEN does not look like a token; keeping the current one',
      ),
    );
    expect(lines().some((l) => String(l.message).includes('restart'))).toBe(false);
  });
});
