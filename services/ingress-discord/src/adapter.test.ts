import type { InboundOutcome, NormalizedMessage, ReplyTarget } from '@switchboard/connector';
import { PlatformApiError } from '@switchboard/connector';
import { createLogger, createMetricsRegistry, ErrorCodes, SwitchboardError } from '@switchboard/core';
import fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDiscord, startFakeDiscord } from '../../../test/fakes/discord/server.ts';
import { snowflake } from '../../../test/fakes/discord/snowflake.ts';
import { waitFor } from '../../../test/support/infra.ts';
import { DiscordAdapter } from './adapter.ts';
import { loadDiscordConfig } from './config.ts';

const deps = () => ({
  log: createLogger('ingress-discord-test', 'error'),
  registry: createMetricsRegistry('test'),
});
const config = (dc: FakeDiscord, token = dc.token) =>
  loadDiscordConfig({
    DISCORD_BOT_TOKEN: token,
    DISCORD_API_URL: dc.apiUrl,
    DISCORD_LOGIN_TIMEOUT_MS: '10000',
    AMQP_URL: 'amqp://127.0.0.1',
    DATABASE_URL: 'postgres://127.0.0.1/unused',
  });

describe('DiscordAdapter against the fake Discord', () => {
  let dc: FakeDiscord;
  let adapter: DiscordAdapter;
  const received: NormalizedMessage[] = [];
  const user = snowflake();
  let dmChannel: string;

  const arrived = (text: string) =>
    waitFor(`"${text}" handed to the runtime`, () => received.find((m) => m.text === text));
  const target = (
    channelId: string,
    messageId?: string,
    inReplyTo = `discord:x:${snowflake()}`,
  ): ReplyTarget => ({
    conversationId: channelId,
    inReplyTo,
    context: messageId ? { channelId, messageId } : undefined,
  });

  beforeAll(async () => {
    dc = await startFakeDiscord({ retryAfterSec: 0.1 });
    dmChannel = dc.world.dmChannel(user);
    adapter = new DiscordAdapter(config(dc), deps());
    await adapter.start({
      sink: async (m): Promise<InboundOutcome> => {
        received.push(m);
        return 'published';
      },
      http: fastify(),
    });
  });
  afterAll(async () => {
    await adapter?.stop();
    await dc?.close();
  });

  it('learns its id from READY and reports ready', () => {
    expect(adapter.botId).toBe(dc.world.bot.id);
    expect(adapter.isReady()).toBe(true);
  });

  it('hands over a DM as direct and addressed, with where to answer', async () => {
    const q = dc.post({ channelId: dmChannel, userId: user, content: 'how are the disks?' });
    const m = await arrived('how are the disks?');
    expect(m).toMatchObject({
      platformMessageId: q.id,
      conversationId: dmChannel,
      chatType: 'direct',
      addressedToBot: false,
      user: { id: user },
      replyContext: { channelId: dmChannel, messageId: q.id },
    });
    expect(m.user.name).toBeTruthy();
    expect(m.threadId).toBeUndefined();
  });

  it('addresses a guild message only when the bot is mentioned, and removes the mention', async () => {
    const general = dc.world.generalId;
    dc.post({ channelId: general, userId: user, content: 'chatting among ourselves' });
    dc.post({ channelId: general, userId: user, content: 'status of prod?', mentionBot: true });
    dc.post({ channelId: general, userId: user, content: 'lunch time', mentionEveryone: true });
    const mentioned = await arrived('status of prod?');
    expect(mentioned).toMatchObject({
      chatType: 'group',
      addressedToBot: true,
      conversationId: general,
      channelId: general,
    });
    expect((await arrived('chatting among ourselves')).addressedToBot).toBe(false);
    // @everyone is not an invitation for the bot.
    expect((await arrived('@everyone lunch time')).addressedToBot).toBe(false);
  });

  it('treats a reply to its own message as addressed even without the ping', async () => {
    const botMsg = await adapter.sendText(target(dc.world.generalId), 'I am the bot');
    const r = dc.post({
      channelId: dc.world.generalId,
      userId: user,
      content: 'and the second disk?',
      replyTo: botMsg!,
      replyPing: false,
    });
    const m = await arrived('and the second disk?');
    expect(m).toMatchObject({ addressedToBot: true, replyTo: botMsg, platformMessageId: r.id });
  });

  it('puts a thread message in the thread, under its channel for the group policy', async () => {
    const thread = dc.createThread(dc.world.generalId, 'incident-42');
    dc.post({ channelId: thread, userId: user, content: 'in the thread', mentionBot: true });
    const m = await arrived('in the thread');
    expect(m).toMatchObject({ conversationId: thread, threadId: thread, channelId: dc.world.generalId });
  });

  it("does not hand over other bots' messages nor its own echoes", async () => {
    dc.post({ channelId: dmChannel, userId: snowflake(), content: 'beep from a bot', authorIsBot: true });
    await adapter.sendText(target(dmChannel), 'my own words');
    dc.post({ channelId: dmChannel, userId: user, content: 'marker after bots' });
    await arrived('marker after bots');
    expect(received.some((m) => m.text === 'beep from a bot' || m.text === 'my own words')).toBe(false);
  });

  it('announces attachments with size and kind, and downloads them under a cap', async () => {
    dc.post({
      channelId: dmChannel,
      userId: user,
      content: 'two files',
      attachments: [
        { name: 'graph.png', contentType: 'image/png', data: Buffer.alloc(300, 1) },
        { name: 'log.txt', contentType: 'text/plain', data: Buffer.from('line 1\nline 2\n') },
      ],
    });
    const m = await arrived('two files');
    expect(m.attachments.map((a) => [a.kind, a.name, a.mimeType, a.size])).toEqual([
      ['image', 'graph.png', 'image/png', 300],
      ['file', 'log.txt', 'text/plain', 14],
    ]);
    expect((await m.attachments[1]!.download(1024)).toString()).toBe('line 1\nline 2\n');
    await expect(m.attachments[0]!.download(100)).rejects.toMatchObject({
      code: ErrorCodes.ATTACHMENT_TOO_LARGE,
    });
  });

  it('quotes the question with the first part of an answer only', async () => {
    const q = dc.post({ channelId: dmChannel, userId: user, content: 'long question' });
    const t = target(dmChannel, q.id);
    const first = await adapter.sendText(t, 'part one');
    await adapter.sendText(t, 'part two');
    const posts = dc.botPosts().slice(-2);
    expect(posts.map((p) => [p.content, p.replyTo])).toEqual([
      ['part one', q.id],
      ['part two', undefined],
    ]);
    expect(posts[0]!.id).toBe(first);
    expect(posts[0]!.allowedMentions).toEqual({ parse: [], replied_user: true });
  });

  it('still answers when the question was deleted meanwhile', async () => {
    const gone = snowflake();
    await adapter.sendText(target(dmChannel, gone), 'answer to a deleted question');
    const post = dc.botPosts().at(-1);
    expect(post?.content).toBe('answer to a deleted question');
    expect(post?.replyTo).toBeUndefined();
  });

  it('uploads a file as multipart and refuses one over the upload limit without calling', async () => {
    await adapter.sendFile(target(dmChannel), {
      name: 'report.csv',
      mimeType: 'text/csv',
      data: Buffer.from('a,b\n1,2\n'),
    });
    expect(dc.botPosts().at(-1)?.files).toEqual(['report.csv']);
    const calls = dc.sendCalls();
    const huge = {
      name: 'huge.bin',
      mimeType: 'application/octet-stream',
      data: Buffer.alloc(10 * 1024 * 1024 + 1),
    };
    const err = await adapter.sendFile(target(dmChannel), huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformApiError);
    expect(err).toMatchObject({ status: 413, retryable: false });
    expect(dc.sendCalls()).toBe(calls);
  });

  it('shows typing in the channel', async () => {
    await adapter.sendTyping(target(dmChannel));
    expect(dc.typing().at(-1)?.channelId).toBe(dmChannel);
  });

  it('hands a 429 to the runtime with retry-after, once; the next call waits instead of failing', async () => {
    const calls = dc.sendCalls();
    dc.failNextSends(1, 'rate_limit');
    const err = await adapter.sendText(target(dmChannel), 'limited').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformApiError);
    expect(err).toMatchObject({ status: 429, retryable: true, code: ErrorCodes.PLATFORM_RATE_LIMITED });
    expect((err as PlatformApiError).retryAfterMs).toBeGreaterThanOrEqual(100);
    // discord.js retried nothing by itself.
    expect(dc.sendCalls()).toBe(calls + 1);
    // The bucket is still empty for ~100 ms: discord.js waits that out itself rather than failing again.
    await expect(adapter.sendText(target(dmChannel), 'after the limit')).resolves.toBeTruthy();
  });

  it('hands a 5xx to the runtime at once, and a 4xx as not worth retrying', async () => {
    const calls = dc.sendCalls();
    dc.failNextSends(1, 'server_error');
    const five = await adapter.sendText(target(dmChannel), 'x').catch((e: unknown) => e);
    expect(five).toMatchObject({ status: 500, retryable: true, code: ErrorCodes.PLATFORM_API_FAILED });
    expect(dc.sendCalls()).toBe(calls + 1);
    const four = await adapter.sendText(target(snowflake()), 'to nowhere').catch((e: unknown) => e);
    expect(four).toBeInstanceOf(PlatformApiError);
    expect(four).toMatchObject({ status: 404, retryable: false });
    expect((four as Error).message).toContain('Unknown Channel');
  });

  it('is not ready while the gateway is away, and ready again once resumed', async () => {
    const resumes = dc.gateway.stats.resumes;
    dc.gateway.drop('terminate');
    await waitFor('not ready', () => !adapter.isReady());
    await waitFor('ready again', () => adapter.isReady() && dc.gateway.stats.resumes === resumes + 1);
  });
});

describe('DiscordAdapter start failures', () => {
  it('names the token when Discord refuses it, without printing it', async () => {
    const dc = await startFakeDiscord();
    const wrong = `${dc.token.slice(0, -4)}xxxx`;
    const adapter = new DiscordAdapter(config(dc, wrong), deps());
    try {
      const err = await adapter
        .start({ sink: async () => 'ignored', http: fastify() })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(err).toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
      expect((err as Error).message).toContain('DISCORD_BOT_TOKEN');
      expect((err as Error).message).not.toContain(wrong);
      expect(dc.gateway.stats.identifies).toBe(0);
    } finally {
      await dc.close();
    }
  });

  it('says which portal switch to flip when the Message Content intent is not granted', async () => {
    const dc = await startFakeDiscord({ messageContentIntent: false });
    const adapter = new DiscordAdapter(config(dc), deps());
    try {
      const err = await adapter
        .start({ sink: async () => 'ignored', http: fastify() })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.CONFIG_INVALID });
      expect((err as Error).message).toContain('Message Content Intent');
      expect(dc.gateway.stats.closeCodes).toEqual([4014]);
    } finally {
      await dc.close();
    }
  });
});
