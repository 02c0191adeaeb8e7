import { PairingStore } from '@switchboard/connector';
import amqplib from 'amqplib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService } from '../../scripts/lib/spawn-service.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { numericId, TelegramUpdates } from '../fakes/telegram/harness.ts';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { AMQP_URL, waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';

/** Telegram beyond the shared contract: long polling, commands, files both ways, typing, start-up checks. */
describe('telegram connector: polling, commands, files', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let tg: FakeTelegram;
  let svc: ServiceProcess;
  let db: pg.Pool;
  const updates = new TelegramUpdates();

  const replyContaining = (s: string) =>
    waitFor(`a Telegram reply containing "${s}"`, () => tg.sent.find((m) => m.text.includes(s)));

  beforeAll(async () => {
    tg = await startFakeTelegram();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-telegram', {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'polling',
      TELEGRAM_POLL_TIMEOUT_S: '1',
      ATTACHMENT_MAX_BYTES: '1000',
    }));
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await tg?.close();
  });

  it('takes updates by long polling and confirms them only once published', async () => {
    const update = updates.message({ chat: 'direct', userId: 'poller', text: 'polled hello' });
    tg.pushUpdate(update);
    const reply = await replyContaining('echo: polled hello');
    expect(reply.replyTo).toBeDefined();
    await waitFor('the offset past the update', () => tg.confirmedOffset > (update.update_id as number));
    // The typing indicator went to the chat before the answer.
    expect(tg.typing).toContain(reply.chatId);
  });

  it('treats a command addressed to this bot in a group as a mention, and ignores one for another bot', async () => {
    const mine = updates.message(
      { chat: 'group', userId: 'cmd-user', text: '/disks@sb_test_bot sda' },
      {
        entities: [{ type: 'bot_command', offset: 0, length: '/disks@sb_test_bot'.length }],
      },
    );
    const theirs = updates.message(
      { chat: 'group', userId: 'cmd-user', text: '/disks@other_bot please' },
      {
        entities: [{ type: 'bot_command', offset: 0, length: '/disks@other_bot'.length }],
      },
    );
    tg.pushUpdate(theirs);
    tg.pushUpdate(mine);
    // The bot's name is taken off the command, so the agent sees the plain command.
    await replyContaining('echo: /disks sda');
    expect(tg.sent.some((m) => m.text.includes('please'))).toBe(false);
  });

  it('answers chat commands from the worker itself, on the platform', async () => {
    // Paired: under STRANGER_MODE=open a stranger's /whoami shows nothing internal (test/hostile).
    await new PairingStore(db).pair(
      { platform: 'telegram', externalId: String(numericId('curious')) },
      'ops',
    );
    tg.pushUpdate(updates.message({ chat: 'direct', userId: 'curious', text: '/whoami' }));
    const reply = await replyContaining('on telegram');
    expect(reply.text).toMatch(/Your Switchboard id is <code>[0-9a-f-]{36}<\/code>/);
  });

  it('answers a reply to one of its own messages in a group without a mention', async () => {
    const update = updates.message(
      { chat: 'group', userId: 'replier', text: 'thanks, and what about disk 2?' },
      {
        reply_to_message: {
          message_id: 1,
          date: 0,
          chat: { id: -100_777, type: 'supergroup', title: 'Ops' },
          from: { id: 7_000_001, is_bot: true, first_name: 'Switchboard Test', username: 'sb_test_bot' },
          text: 'earlier answer',
        },
      },
    );
    tg.pushUpdate(update);
    await replyContaining('what about disk 2?');
  });

  it('downloads a document, stores it and refers to it from the envelope', async () => {
    tg.addFile('doc-1', Buffer.from('disk /dev/sda1 is 91% full\n'));
    const update = updates.message(
      { chat: 'direct', userId: 'filer', text: '' },
      {
        text: undefined,
        caption: 'what does this log say?',
        document: {
          file_id: 'doc-1',
          file_unique_id: 'udoc-1',
          file_name: 'df.log',
          mime_type: 'text/plain',
          file_size: 27,
        },
      },
    );
    tg.pushUpdate(update);
    const reply = await replyContaining('echo: what does this log say?');
    // The model is told what was attached (the fake model echoes what it read).
    expect(reply.text).toContain('[Attached: df.log, text/plain, 27 bytes]');
    const { rows } = await db.query('SELECT name, size, data FROM attachments WHERE platform = $1', [
      'telegram',
    ]);
    expect(rows).toEqual([expect.objectContaining({ name: 'df.log', size: 27 })]);
    expect(String(rows[0].data)).toContain('91% full');
  });

  it('tells the user when a file is over the size limit and still answers the text', async () => {
    tg.addFile('big-1', Buffer.alloc(5_000, 1));
    const update = updates.message(
      { chat: 'direct', userId: 'big-filer', text: '' },
      {
        text: undefined,
        caption: 'and this one?',
        document: { file_id: 'big-1', file_unique_id: 'ubig-1', file_name: 'core.dump', file_size: 5_000 },
      },
    );
    tg.pushUpdate(update);
    const notice = await replyContaining('core.dump');
    expect(notice.text).toMatch(/could not read core\.dump .*over the size limit/);
    await replyContaining('echo: and this one?');
  });

  it('keeps an update it could not take and offers it again (nothing lost while the database refuses)', async () => {
    await db.query('REVOKE INSERT ON reply_contexts FROM CURRENT_USER');
    try {
      const update = updates.message({ chat: 'direct', userId: 'patient', text: 'held back' });
      tg.pushUpdate(update);
      await waitFor('the connector to offer the update again', () =>
        svc.logs.some((l) => l.includes('update not taken; offering it again')),
      );
      expect(tg.confirmedOffset).toBeLessThanOrEqual(update.update_id as number);
      await db.query('GRANT INSERT ON reply_contexts TO CURRENT_USER');
      await replyContaining('echo: held back');
      await waitFor('the offset past the update', () => tg.confirmedOffset > (update.update_id as number));
    } finally {
      await db.query('GRANT INSERT ON reply_contexts TO CURRENT_USER');
    }
  });

  it('answers every message in a group whose channel setting says always, without a restart', async () => {
    await db.query(
      `INSERT INTO channel_settings (platform, bot_id, channel_id, group_policy) VALUES ('telegram', $1, $2, 'always')`,
      ['7000001', '-100999'],
    );
    tg.pushUpdate(
      updates.message({ chat: 'group', chatId: '100999', userId: 'talker', text: 'no mention here' }),
    );
    await replyContaining('echo: no mention here');
  });

  it('refuses a user not on the allowlist politely, and never asks the model', async () => {
    const gated = await stack.startService('ingress-telegram', {
      TELEGRAM_BOT_TOKEN: tg.token,
      TELEGRAM_API_ROOT: tg.apiRoot,
      TELEGRAM_MODE: 'webhook',
      TELEGRAM_WEBHOOK_SECRET: 'gated-secret-0123456789',
      ALLOWED_USERS: '424242',
    });
    const url = `${gated.url}/telegram/webhook`;
    const secret = 'gated-secret-0123456789';
    const stranger = updates.message({ chat: 'direct', userId: 'stranger', text: 'let me in' });
    expect(await tg.deliverWebhook(stranger, { url, secret })).toBe(200);
    const refusal = await replyContaining('only answers approved users');
    expect(refusal.chatId).toBe(String((stranger.message as { chat: { id: number } }).chat.id));
    const friend = updates.message({ chat: 'direct', userId: '424242', text: 'friend here' });
    expect(await tg.deliverWebhook(friend, { url, secret })).toBe(200);
    await replyContaining('echo: friend here');
    expect(llm.calls.some((c) => c.messages.some((m) => String(m.content).includes('let me in')))).toBe(
      false,
    );
    await gated.kill();
  });

  it('sends a reply that carries a stored file as a document after its text', async () => {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO attachments (sha256, platform, name, mime_type, size, data)
       VALUES ('abc123', 'agent', 'report.csv', 'text/csv', 9, convert_to('host,disk', 'UTF8')) RETURNING id`,
    );
    const conn = await amqplib.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    const reply = {
      v: 1,
      kind: 'outbound',
      id: 'reply-with-file',
      platform: 'telegram',
      botId: '7000001',
      conversationId: '4242',
      inReplyTo: 'telegram:7000001:none',
      text: 'Here is the **report**.',
      attachments: [{ kind: 'file', name: 'report.csv', url: `attachment://${rows[0]!.id}` }],
      status: 'ok',
      createdAt: new Date().toISOString(),
      traceId: 'trace-file',
    };
    ch.publish(`${stack.prefix}.outbound`, 'out.telegram.7000001', Buffer.from(JSON.stringify(reply)), {
      persistent: true,
    });
    await ch.waitForConfirms();
    await conn.close();
    const doc = await waitFor('the document', () => tg.sent.find((m) => m.fileName === 'report.csv'));
    expect(doc).toMatchObject({ method: 'sendDocument', chatId: '4242' });
    const text = tg.sent.find((m) => m.text === 'Here is the <b>report</b>.');
    expect(tg.sent.indexOf(text!)).toBeLessThan(tg.sent.indexOf(doc));
  });

  it('refuses to start without a token, naming the missing setting', async () => {
    await expect(
      spawnService(
        'ingress-telegram',
        { ...stack.baseEnv, TELEGRAM_MODE: 'polling' },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/TELEGRAM_BOT_TOKEN: is required/);
  });

  it('refuses webhook mode without a secret token', async () => {
    await expect(
      spawnService(
        'ingress-telegram',
        { ...stack.baseEnv, TELEGRAM_BOT_TOKEN: tg.token, TELEGRAM_MODE: 'webhook' },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/TELEGRAM_WEBHOOK_SECRET: is required when TELEGRAM_MODE=webhook/);
  });

  it('refuses to start with a token Telegram rejects', async () => {
    await expect(
      spawnService(
        'ingress-telegram',
        {
          ...stack.baseEnv,
          TELEGRAM_BOT_TOKEN: '123:AAwrongwrongwrongwrongwrong',
          TELEGRAM_API_ROOT: tg.apiRoot,
        },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/getMe failed — check TELEGRAM_BOT_TOKEN: 401 Unauthorized/);
  });
});
