import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService } from '../../scripts/lib/spawn-service.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { slackHarness } from '../fakes/slack/harness.ts';
import { type FakeSlack, messageEvent, startFakeSlack } from '../fakes/slack/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';
import { connectorContract } from './contract.ts';

connectorContract(slackHarness('http'));
connectorContract(slackHarness('socket'));

/** Slack beyond the shared contract: threads, the double delivery of mentions, files, start-up checks. */
describe('slack connector: threads, files, start-up', () => {
  let llm: FakeLlm;
  let stack: TestStack;
  let fake: FakeSlack;
  let svc: ServiceProcess;
  let events: string;
  let db: pg.Pool;

  const posted = (s: string) => fake.api.posted.filter((p) => p.text.includes(s));
  const replyContaining = (s: string) =>
    waitFor(`a Slack reply containing "${s}"`, () => posted(s)[0]).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
    });
  const deliver = async (event: Record<string, unknown>) => {
    const payload = fake.envelope(event);
    const res = await fake.postEvent(events, payload);
    expect(res.status).toBe(200);
    return payload;
  };

  beforeAll(async () => {
    fake = await startFakeSlack();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-slack', {
      SLACK_BOT_TOKEN: fake.id.botToken,
      SLACK_SIGNING_SECRET: fake.signingSecret,
      SLACK_API_URL: fake.apiUrl,
      ATTACHMENT_MAX_BYTES: '1000',
    }));
    events = `${svc.url}/slack/events`;
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await fake?.close();
  });

  it('answers a mention once, in a thread under it, although Slack sends it as two events', async () => {
    const text = `<@${fake.id.botUserId}> how full is /var?`;
    const msg = messageEvent({ channel: 'C0THREADS', channelType: 'channel', user: 'U0ALICE', text });
    await deliver(msg);
    await deliver(messageEvent({ channel: 'C0THREADS', user: 'U0ALICE', text, ts: msg.ts }, 'app_mention'));
    const reply = await replyContaining('echo: how full is /var?');
    expect(reply).toMatchObject({ channel: 'C0THREADS', threadTs: msg.ts });

    // A follow-up in that thread is the same conversation and is answered in the same thread.
    const follow = messageEvent({
      channel: 'C0THREADS',
      channelType: 'channel',
      user: 'U0ALICE',
      text: `<@${fake.id.botUserId}> and /home?`,
      threadTs: msg.ts,
      parentUserId: 'U0ALICE',
    });
    await deliver(follow);
    expect(await replyContaining('echo: and /home?')).toMatchObject({
      channel: 'C0THREADS',
      threadTs: msg.ts,
    });
    expect(posted('echo: how full is /var?')).toHaveLength(1);
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM messages WHERE role = 'user' AND content IN ('how full is /var?', 'and /home?')`,
    );
    expect(rows[0].n).toBe(2);
  });

  it('answers a DM inline, not in a thread', async () => {
    await deliver(
      messageEvent({ channel: 'D0BOB', channelType: 'im', user: 'U0BOB', text: 'status please' }),
    );
    expect(await replyContaining('echo: status please')).toMatchObject({
      channel: 'D0BOB',
      threadTs: undefined,
    });
  });

  it('ignores its own messages and edits', async () => {
    await deliver(
      messageEvent({
        channel: 'D0BOB',
        channelType: 'im',
        user: fake.id.botUserId,
        botId: fake.id.botId,
        text: 'own words',
      }),
    );
    await deliver({
      type: 'message',
      subtype: 'message_changed',
      channel: 'D0BOB',
      channel_type: 'im',
      ts: '1700000000.000001',
      message: { type: 'message', user: 'U0BOB', text: 'edited words', ts: '1700000000.000001' },
    });
    await deliver(messageEvent({ channel: 'D0BOB', channelType: 'im', user: 'U0BOB', text: 'marker after' }));
    await replyContaining('echo: marker after');
    expect(posted('own words')).toHaveLength(0);
    expect(posted('edited words')).toHaveLength(0);
  });

  it('downloads a shared file with the bot token, stores it and answers', async () => {
    const file = fake.api.addUserFile('df.log', 'text/plain', Buffer.from('disk /dev/sda1 is 91% full\n'));
    await deliver(
      messageEvent({
        channel: 'D0CAROL',
        channelType: 'im',
        user: 'U0CAROL',
        text: 'what does this log say?',
        subtype: 'file_share',
        files: [file],
      }),
    );
    await replyContaining('echo: what does this log say?');
    const { rows } = await db.query('SELECT name, size, data FROM attachments WHERE platform = $1', [
      'slack',
    ]);
    expect(rows).toEqual([expect.objectContaining({ name: 'df.log', size: 27 })]);
    expect(String(rows[0].data)).toContain('91% full');
  });

  it('tells the user when a file is over the size limit and still answers the text', async () => {
    const file = fake.api.addUserFile('core.dump', 'application/octet-stream', Buffer.alloc(5_000, 1));
    await deliver(
      messageEvent({
        channel: 'D0CAROL',
        channelType: 'im',
        user: 'U0CAROL',
        text: 'and this one?',
        subtype: 'file_share',
        files: [file],
      }),
    );
    const notice = await replyContaining('core.dump');
    expect(notice.text).toMatch(/could not read core\.dump .*over the size limit/);
    await replyContaining('echo: and this one?');
  });

  it('logs only JSON lines, none carrying a token or the signing secret', async () => {
    // A refused request is logged too; make sure there is one.
    const forged = fake.envelope(
      messageEvent({ channel: 'D0EVE', channelType: 'im', user: 'U0EVE', text: 'x' }),
    );
    expect((await fake.postEvent(events, forged, { signingSecret: 'wrong-secret' })).status).toBe(401);
    await waitFor('the refusal in the log', () => svc.logs.some((l) => l.includes('Slack request refused')));
    for (const line of svc.logs) {
      expect(() => JSON.parse(line), line).not.toThrow();
      expect(line).not.toContain(fake.id.botToken);
      expect(line).not.toContain(fake.signingSecret);
    }
  });

  it('refuses to start without a bot token, naming the missing setting', async () => {
    await expect(
      spawnService(
        'ingress-slack',
        { ...stack.baseEnv, SLACK_SIGNING_SECRET: 'abcdefgh12345678' },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/SLACK_BOT_TOKEN: is required/);
  });

  it('refuses to start with neither a signing secret nor an app token', async () => {
    await expect(
      spawnService(
        'ingress-slack',
        { ...stack.baseEnv, SLACK_BOT_TOKEN: fake.id.botToken },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/SLACK_SIGNING_SECRET: is required.*or set SLACK_APP_TOKEN/s);
  });

  it('refuses to start with a bot token Slack rejects', async () => {
    await expect(
      spawnService(
        'ingress-slack',
        {
          ...stack.baseEnv,
          SLACK_BOT_TOKEN: 'xoxb-revoked-token',
          SLACK_SIGNING_SECRET: fake.signingSecret,
          SLACK_API_URL: fake.apiUrl,
        },
        { readyTimeoutMs: 15_000 },
      ),
    ).rejects.toThrow(/SLACK_BOT_TOKEN was not accepted.*invalid_auth/);
  });
});
