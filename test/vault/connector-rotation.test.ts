import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type ServiceProcess, spawnService } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { TelegramUpdates } from '../fakes/telegram/harness.ts';
import { FAKE_BOT, type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { type FakeVault, startFakeVault } from '../fakes/vault/server.ts';
import { waitFor } from '../support/infra.ts';
import { TestStack } from '../support/stack.ts';

const ROLE_ID = 'role-ingress-telegram-51ab';
const SECRET_ID = 'secret-id-telegram-9c2e77f0';
const PATH = 'switchboard/ingress-telegram';
const OLD_TOKEN = `${FAKE_BOT.id}:AAOldVaultTokenForRotation_0123456789`;
const NEW_TOKEN = `${FAKE_BOT.id}:AANewVaultTokenAfterRotation_987654321`;
const WEBHOOK_SECRET = 'vault-webhook-secret-4d1f8e22';

/**
 * A real ingress-telegram process with SECRETS_BACKEND=vault against the fake Vault: started while
 * Vault is sealed, unsealed, then its bot token rotated in Vault and picked up on SIGHUP, with a
 * real agent-worker, RabbitMQ and PostgreSQL carrying each message.
 */
describe('a connector on Vault secrets: sealed start, unseal, token rotation on SIGHUP', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let vault: FakeVault;
  let tg: FakeTelegram;
  let dir: string;
  let url: string;
  let starting: Promise<ServiceProcess>;
  let startFailure: unknown;
  let svc: ServiceProcess | undefined;
  const updates = new TelegramUpdates();

  const logs = () => svc?.logs.join('\n') ?? '';
  const send = async (text: string) => {
    const update = updates.message({ chat: 'direct', userId: 'vault-user', text });
    const status = await tg.deliverWebhook(update, {
      url: `${url}/telegram/webhook`,
      secret: WEBHOOK_SECRET,
    });
    expect(status).toBe(200);
  };
  const reply = (text: string) =>
    waitFor(
      `a Telegram reply containing "${text}"`,
      () => tg.sent.find((m) => m.text.includes(text)),
      30_000,
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(20)}\n--- telegram ---\n${logs()}`);
    });

  beforeAll(async () => {
    llm = await startFakeLlm();
    stack = await new TestStack({ workers: 1, workerEnv: { OLLAMA_URL: llm.url } }).start();
    vault = await startFakeVault({ roles: [{ roleId: ROLE_ID, secretId: SECRET_ID, readPaths: [PATH] }] });
    vault.putSecret('secret', PATH, {
      TELEGRAM_BOT_TOKEN: OLD_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    vault.seal();
    tg = await startFakeTelegram({ token: OLD_TOKEN });
    dir = mkdtempSync(join(tmpdir(), 'sb-vault-tg-'));
    writeFileSync(join(dir, 'vault_role_id'), ROLE_ID, { mode: 0o600 });
    writeFileSync(join(dir, 'vault_secret_id'), SECRET_ID, { mode: 0o600 });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    // Not awaited: it resolves only once the service is ready, i.e. after the unseal below.
    starting = spawnService(
      'ingress-telegram',
      {
        ...stack.baseEnv,
        HTTP_PORT: String(port),
        SECRETS_BACKEND: 'vault',
        VAULT_ADDR: vault.url,
        VAULT_ROLE_ID_FILE: join(dir, 'vault_role_id'),
        VAULT_SECRET_ID_FILE: join(dir, 'vault_secret_id'),
        VAULT_KV_PATH: PATH,
        SECRETS_RETRY_MAX_S: '1',
        TELEGRAM_API_ROOT: tg.apiRoot,
        TELEGRAM_MODE: 'webhook',
        SEND_ATTEMPTS: '2',
      },
      { readyTimeoutMs: 120_000 },
    );
    starting.then(
      (s) => {
        svc = s;
      },
      (err: unknown) => {
        startFailure = err;
      },
    );
  });

  afterAll(async () => {
    const s = svc ?? (await starting?.catch(() => undefined));
    await s?.kill('SIGKILL');
    const queue = /"reply_queue":"([^"]+)"/.exec(s?.logs.join('\n') ?? '')?.[1];
    if (queue) stack?.extraQueues.push(queue);
    await stack?.stop();
    await tg?.close();
    await vault?.close();
    await llm?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stays alive and not ready while Vault is sealed, then serves once it is unsealed', async () => {
    await waitFor(
      '/healthz 200 from the waiting service',
      async () => {
        const r = await fetch(`${url}/healthz`);
        return r.status === 200;
      },
      60_000,
    );
    const notReady = await waitFor('/readyz 503 naming the seal', async () => {
      const r = await fetch(`${url}/readyz`);
      const body = (await r.json()) as { checks?: Record<string, string> };
      return r.status === 503 && /Vault is sealed/.test(body.checks?.secrets ?? '') ? body : undefined;
    });
    expect(notReady.checks?.secrets).toBe('vault: AppRole login: Vault is sealed');
    const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/switchboard_secrets_ready\{[^}]*backend="vault"[^}]*\} 0/);
    // It keeps retrying rather than exiting.
    await waitFor('three refused logins', () => vault.counters.sealedRefusals >= 3, 30_000);
    expect(startFailure).toBeUndefined();

    vault.unseal();
    const s = await starting;
    const ready = (await fetch(`${s.url}/readyz`).then((r) => r.json())) as {
      checks: Record<string, string>;
    };
    expect(ready.checks.secrets).toBe('ok');

    await send('hello from a sealed start');
    const sent = await reply('echo: hello from a sealed start');
    expect(sent.token).toBe(OLD_TOKEN);
  });

  it('sends with the token rotated in Vault after SIGHUP, without a restart', async () => {
    const s = svc!;
    const pid = s.proc.pid;
    vault.putSecret('secret', PATH, {
      TELEGRAM_BOT_TOKEN: NEW_TOKEN,
      TELEGRAM_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // The same broker, now also in Vault: a key the service cannot switch while running.
      AMQP_URL: stack.baseEnv.AMQP_URL!,
    });
    // As BotFather's /revoke: the old token stops working at once.
    tg.token = NEW_TOKEN;
    s.proc.kill('SIGHUP');
    await waitFor('the rotation applied', () =>
      s.logs.some((l) => l.includes('TELEGRAM_BOT_TOKEN changed in Vault; now in use')),
    );
    expect(logs()).toContain('AMQP_URL changed in Vault; restart ingress-telegram to use it');

    await send('hello after rotation');
    const sent = await reply('echo: hello after rotation');
    expect(sent.token).toBe(NEW_TOKEN);
    expect(s.proc.pid).toBe(pid);
    expect(s.proc.exitCode).toBeNull();
    expect(s.proc.signalCode).toBeNull();
  });

  it('never writes either token or the webhook secret in a log line', () => {
    const all = logs();
    expect(all).toContain('secrets loaded');
    for (const secret of [OLD_TOKEN, NEW_TOKEN, WEBHOOK_SECRET, SECRET_ID, OLD_TOKEN.split(':')[1]!])
      expect(all).not.toContain(secret);
  });
});
