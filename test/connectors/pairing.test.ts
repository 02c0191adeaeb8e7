import { randomBytes } from 'node:crypto';
import { PairingStore } from '@switchboard/connector';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { numericId, TelegramUpdates } from '../fakes/telegram/harness.ts';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';

const SECRET = 'pairing-webhook-secret-0123456789';

/**
 * Stranger mode end to end: the Telegram connector (real grammY against the fake Bot API) in front
 * of a real agent-worker, RabbitMQ and PostgreSQL. Each user is a fresh Telegram account, so the
 * tests share one stack without seeing each other's pairing state.
 */
describe('stranger mode and pairing (telegram)', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let tg: FakeTelegram;
  let svc: ServiceProcess;
  let db: pg.Pool;
  let store: PairingStore;
  const updates = new TelegramUpdates();
  const baseEnv = () => ({
    TELEGRAM_BOT_TOKEN: tg.token,
    TELEGRAM_API_ROOT: tg.apiRoot,
    TELEGRAM_MODE: 'webhook',
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    ALLOWED_USERS: String(numericId('friend')),
  });

  beforeAll(async () => {
    tg = await startFakeTelegram();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-telegram', {
      ...baseEnv(),
      STRANGER_MODE: 'verification_code',
      PAIRING_MAX_ATTEMPTS: '3',
    }));
    store = new PairingStore(db);
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await tg?.close();
  });

  const account = (what: string) => `${what}${randomBytes(3).toString('hex')}`;
  const chatOf = (user: string) => String(numericId(user));

  /** A direct message from `user`, delivered to the connector's webhook; asserts it was acknowledged. */
  async function say(user: string, text: string, to: ServiceProcess = svc): Promise<void> {
    const update = updates.message({ chat: 'direct', userId: user, text });
    expect(await tg.deliverWebhook(update, { url: `${to.url}/telegram/webhook`, secret: SECRET })).toBe(200);
  }

  const repliesTo = (user: string) => tg.sent.filter((m) => m.chatId === chatOf(user)).map((m) => m.text);
  const replyTo = (user: string, containing: string) =>
    waitFor(`a reply to ${user} containing "${containing}"`, () =>
      repliesTo(user).find((t) => t.includes(containing)),
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}\nreplies: ${JSON.stringify(repliesTo(user))}\n${stack.dumpLogs(30)}`,
      );
    });

  /** What the operator reads in the connector's log to hand the code over. */
  const codeFromLog = (user: string, from: ServiceProcess = svc) =>
    waitFor(`the pairing code of ${user} in the log`, () => {
      for (const line of from.logs) {
        if (!line.includes('pairing requested')) continue;
        const entry = JSON.parse(line) as { 'log.level': string; labels?: Record<string, string> };
        if (entry.labels?.user_id === chatOf(user) && entry['log.level'] === 'warn') {
          return entry.labels.pairing_code;
        }
      }
      return undefined;
    });

  /** Whether the model was ever shown text containing `s`. */
  const modelSaw = (s: string) =>
    llm.calls.some((c) => c.messages.some((m) => String(m.content).includes(s)));

  it('lets an allowlisted user through without pairing', async () => {
    const word = account('hello');
    await say('friend', `hi ${word}`);
    await replyTo('friend', `echo: hi ${word}`);
    const { rows } = await db.query('SELECT 1 FROM pairing_requests WHERE external_id = $1', [
      chatOf('friend'),
    ]);
    expect(rows).toHaveLength(0);
  });

  it('pairs a stranger who sends back the code from the operator; the next message reaches the model', async () => {
    const user = account('newcomer');
    const first = account('first');
    await say(user, `hello ${first}`);
    const notice = await replyTo(user, 'not yet approved');
    expect(notice).toMatch(/Your request number is \d+/);
    const code = await codeFromLog(user);
    expect(code).toMatch(/^\d{6}$/);
    // The code is the operator's to give: never in the chat.
    expect(repliesTo(user).some((t) => t.includes(code))).toBe(false);

    await say(user, code);
    await replyTo(user, 'you are approved');
    const question = account('question');
    await say(user, `what about ${question}?`);
    await replyTo(user, `echo: what about ${question}?`);

    expect(modelSaw(first)).toBe(false);
    expect(modelSaw(code)).toBe(false);
    const { rows } = await db.query('SELECT approved_by FROM paired_users WHERE external_id = $1', [
      chatOf(user),
    ]);
    expect(rows).toEqual([{ approved_by: 'code' }]);
    // Nothing the stranger sent before pairing was stored as a conversation message.
    const stored = await db.query('SELECT 1 FROM messages WHERE content LIKE $1', [`%${first}%`]);
    expect(stored.rows).toHaveLength(0);
  });

  it('blocks a stranger after the last wrong code, refuses them while blocked, and never asks the model', async () => {
    const user = account('guesser');
    await say(user, 'let me in');
    await replyTo(user, 'not yet approved');
    const code = await codeFromLog(user);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');

    await say(user, wrong);
    await replyTo(user, '2 attempts left');
    await say(user, wrong);
    await replyTo(user, '1 attempt left');
    await say(user, wrong);
    await replyTo(user, 'that was the last attempt');
    const block = await db.query(
      "SELECT reason, until > now() + interval '50 minutes' AS long FROM pairing_blocklist WHERE external_id = $1",
      [chatOf(user)],
    );
    expect(block.rows).toEqual([{ reason: 'too many wrong pairing codes', long: true }]);

    // Even the right code is refused now; the block notice was this minute's answer.
    const repliesBefore = repliesTo(user).length;
    await say(user, code);
    await waitFor('the refusal in the log', () =>
      svc.logs.some(
        (l) =>
          l.includes('message from a blocked user refused (notice throttled)') && l.includes(chatOf(user)),
      ),
    );
    expect(repliesTo(user)).toHaveLength(repliesBefore);
    expect(
      (await db.query('SELECT 1 FROM paired_users WHERE external_id = $1', [chatOf(user)])).rows,
    ).toHaveLength(0);

    // A minute later (moved in the database, not slept) the next message gets one polite refusal.
    await db.query(
      `UPDATE pairing_blocklist SET last_notice_at = now() - interval '61 seconds' WHERE external_id = $1`,
      [chatOf(user)],
    );
    const plea = account('please');
    await say(user, plea);
    await replyTo(user, 'cannot use this assistant right now');
    expect(modelSaw('let me in') || modelSaw(plea) || modelSaw(wrong)).toBe(false);
  });

  it('lets an administrator approve a pending request by id, without the code', async () => {
    const user = account('waiter');
    await say(user, 'may I?');
    await replyTo(user, 'not yet approved');
    const pending = await waitFor('the pending request', async () =>
      (await store.listPending({ platform: 'telegram' })).find((r) => r.externalId === chatOf(user)),
    );
    expect(pending).toMatchObject({ status: 'pending', conversationId: chatOf(user), botId: '7000001' });
    await store.approve(pending.id, 'ops-alice');
    const word = account('approved');
    await say(user, `thanks ${word}`);
    await replyTo(user, `echo: thanks ${word}`);
    const { rows } = await db.query('SELECT approved_by FROM paired_users WHERE external_id = $1', [
      chatOf(user),
    ]);
    expect(rows).toEqual([{ approved_by: 'admin:ops-alice' }]);
    expect(modelSaw('may I?')).toBe(false);
  });

  it('blocks a stranger whose request expired, even when the right code comes late', async () => {
    const quick = await stack.startService('ingress-telegram', {
      ...baseEnv(),
      STRANGER_MODE: 'verification_code',
      PAIRING_CODE_TTL_S: '1',
    });
    try {
      const user = account('sleeper');
      await say(user, 'hello', quick);
      await replyTo(user, 'not yet approved');
      const code = await codeFromLog(user, quick);
      await waitFor('the request to expire', async () => {
        const { rows } = await db.query(
          'SELECT expires_at <= now() AS expired FROM pairing_requests WHERE external_id = $1',
          [chatOf(user)],
        );
        return rows[0]?.expired === true;
      });
      await say(user, code, quick);
      await replyTo(user, 'has expired');
      const { rows } = await db.query(
        `SELECT r.status, b.reason FROM pairing_requests r
         JOIN pairing_blocklist b ON b.platform = r.platform AND b.external_id = r.external_id
         WHERE r.external_id = $1`,
        [chatOf(user)],
      );
      expect(rows).toEqual([{ status: 'expired', reason: 'pairing code expired' }]);
      expect(
        (await db.query('SELECT 1 FROM paired_users WHERE external_id = $1', [chatOf(user)])).rows,
      ).toHaveLength(0);
    } finally {
      await quick.kill();
    }
  });

  it('direct_block: refuses strangers outright and publishes nothing; allowlisted users are answered', async () => {
    const strict = await stack.startService('ingress-telegram', {
      ...baseEnv(),
      STRANGER_MODE: 'direct_block',
    });
    try {
      const user = account('outsider');
      const word = account('knock');
      await say(user, `open up ${word}`, strict);
      await replyTo(user, 'only answers approved users');
      const friendly = account('friendly');
      await say('friend', `still ok ${friendly}`, strict);
      await replyTo('friend', `echo: still ok ${friendly}`);
      expect(modelSaw(word)).toBe(false);
      const { rows } = await db.query('SELECT 1 FROM pairing_requests WHERE external_id = $1', [
        chatOf(user),
      ]);
      expect(rows).toHaveLength(0);
      expect(
        (await db.query('SELECT 1 FROM messages WHERE content LIKE $1', [`%${word}%`])).rows,
      ).toHaveLength(0);
    } finally {
      await strict.kill();
    }
  });
});
