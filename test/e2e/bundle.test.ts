import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';
import { type FakeLlm, startFakeLlm } from '../fakes/llm/server.ts';
import { TelegramUpdates } from '../fakes/telegram/harness.ts';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { AMQP_URL, createTestDatabase, deleteBrokerPrefix, uniqueName, waitFor } from '../support/infra.ts';

/**
 * What the Docker image runs: the esbuild bundles in dist/, with migrations and the chat page found
 * through SB_MIGRATIONS_DIR and SB_WEB_PUBLIC_DIR, started from outside the source tree.
 */
describe("the bundled services (the image's runtime)", () => {
  let llm: FakeLlm;
  let tg: FakeTelegram | undefined;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const prefix = uniqueName('tb');
  const procs: ReturnType<typeof spawn>[] = [];
  const cwd = mkdtempSync(join(tmpdir(), 'sb-bundle-'));

  beforeAll(async () => {
    execFileSync(
      process.execPath,
      ['scripts/build.mjs', '--only', 'ingress-web,agent-worker,ingress-telegram'],
      {
        cwd: ROOT,
        stdio: 'ignore',
      },
    );
    llm = await startFakeLlm();
    db = await createTestDatabase();
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await deleteBrokerPrefix(prefix, 2, 3, [`${prefix}.out.telegram.7000001`]);
    await tg?.close();
    await db?.drop();
    await llm?.close();
    rmSync(cwd, { recursive: true, force: true });
  });

  function start(bundle: string, env: Record<string, string>): { url: () => string } {
    let url = '';
    const p = spawn(process.execPath, [join(ROOT, 'dist', bundle)], {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        AMQP_URL,
        DATABASE_URL: db.url,
        BROKER_PREFIX: prefix,
        BROKER_PARTITIONS: '2',
        HTTP_PORT: '0',
        SB_MIGRATIONS_DIR: join(ROOT, 'packages/core/migrations'),
        SB_WEB_PUBLIC_DIR: join(ROOT, 'services/ingress-web/src/public'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(p);
    p.stdout!.on('data', (b: Buffer) => {
      const m = /"address":"(http:\/\/[^"]+)"/.exec(b.toString());
      if (m && !url) url = m[1]!;
    });
    return { url: () => url };
  }

  it('starts, serves the chat page and answers a message', async () => {
    const token = 'bundle-test-token-0123456789';
    const web = start('ingress-web.mjs', { API_TOKENS: token });
    start('agent-worker.mjs', { MODEL_CHAIN: 'ollama/fake-small', OLLAMA_URL: llm.url });
    await waitFor(
      'ingress-web bundle ready',
      async () => web.url() && (await fetch(`${web.url()}/readyz`)).ok,
      30_000,
    );
    const page = await fetch(`${web.url()}/`);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<title>Switchboard chat</title>');
    const res = await fetch(`${web.url()}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ conversationId: 'bundle', text: 'from the bundle' }),
    });
    const { id } = (await res.json()) as { id: string };
    const answer = await waitFor(
      'answer',
      async () => {
        const r = await fetch(`${web.url()}/v1/messages/${encodeURIComponent(id)}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const body = (await r.json()) as { status: string; reply?: { text: string } };
        return body.status === 'answered' ? body.reply : undefined;
      },
      30_000,
    );
    expect(answer?.text).toBe('echo: from the bundle');
  });

  it('runs a platform connector from its bundle', async () => {
    tg = await startFakeTelegram();
    start('agent-worker.mjs', { MODEL_CHAIN: 'ollama/fake-small', OLLAMA_URL: llm.url });
    const connector = start('ingress-telegram.mjs', {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_POLL_TIMEOUT_S: '1',
      // Strangers are asked for a pairing code by default; this test is about the bundle running.
      STRANGER_MODE: 'open',
    });
    await waitFor(
      'ingress-telegram bundle ready',
      async () => connector.url() && (await fetch(`${connector.url()}/readyz`)).ok,
      30_000,
    );
    tg.pushUpdate(new TelegramUpdates().message({ chat: 'direct', userId: 'bundled', text: 'hi bundle' }));
    const reply = await waitFor(
      'the Telegram reply',
      () => tg?.sent.find((m) => m.text === 'echo: hi bundle'),
      30_000,
    );
    expect(reply.parseMode).toBe('HTML');
  });
});
