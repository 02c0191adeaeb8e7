import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/lib/spawn-service.ts';
import { discordHarness, Snowflakes } from '../fakes/discord/harness.ts';
import { type FakeDiscord, startFakeDiscord } from '../fakes/discord/server.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';
import { connectorContract } from './contract.ts';

connectorContract(discordHarness);

const unique = (what: string) => `${what}${randomBytes(4).toString('hex')}`;

/** What only a gateway platform has: reconnects, threads, replies as addressing, a token refused at start. */
describe('ingress-discord on the gateway', () => {
  let dc: FakeDiscord;
  let llm: FakeLlm;
  let stack: TestStack;
  let svc: ServiceProcess;
  let db: pg.Pool;
  const ids = new Snowflakes();
  const env = () => ({
    DISCORD_BOT_TOKEN: dc.token,
    DISCORD_API_URL: dc.apiUrl,
    GROUP_POLICY: 'mention',
    ATTACHMENT_MAX_BYTES: '4096',
  });

  const postsContaining = (s: string) => dc.botPosts().filter((p) => p.content.includes(s));
  const waitPost = (s: string, timeoutMs = 20_000) =>
    waitFor(`a bot message containing "${s}"`, () => postsContaining(s)[0], timeoutMs).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
    });
  const dm = (user: string, content: string) =>
    dc.post({ channelId: dc.world.dmChannel(ids.of(user)), userId: ids.of(user), content });

  beforeAll(async () => {
    dc = await startFakeDiscord();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-discord', env()));
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await dc?.close();
  });

  it('quotes the question in a guild channel and shows typing first', async () => {
    const word = unique('quoted');
    const q = dc.post({
      channelId: dc.world.generalId,
      userId: ids.of('u-quote'),
      content: word,
      mentionBot: true,
    });
    const reply = await waitPost(`echo: ${word}`);
    // The mention was removed before the model saw the text.
    expect(reply.content).toBe(`echo: ${word}`);
    expect(reply.channelId).toBe(dc.world.generalId);
    expect(reply.replyTo).toBe(q.id);
    expect(reply.allowedMentions).toEqual({ parse: [], replied_user: true });
    expect(dc.typing().some((t) => t.channelId === dc.world.generalId)).toBe(true);
  });

  it('answers inside a thread, and treats a reply to its own message as addressed to it', async () => {
    const thread = dc.createThread(dc.world.generalId, unique('thread'));
    const first = unique('inthread');
    dc.post({ channelId: thread, userId: ids.of('u-thread'), content: first, mentionBot: true });
    const answer = await waitPost(`echo: ${first}`);
    expect(answer.channelId).toBe(thread);

    // A reply with its ping switched off carries no mention at all; it is still for the bot.
    const followUp = unique('followup');
    dc.post({
      channelId: thread,
      userId: ids.of('u-thread'),
      content: followUp,
      replyTo: answer.id,
      replyPing: false,
    });
    const second = await waitPost(`echo: ${followUp}`);
    expect(second.channelId).toBe(thread);
  });

  it("ignores other bots' messages and its own echoes", async () => {
    const fromBot = unique('otherbot');
    dc.post({
      channelId: dc.world.generalId,
      userId: ids.of('a-bot'),
      content: fromBot,
      mentionBot: true,
      authorIsBot: true,
    });
    const marker = unique('marker');
    dm('u-bots', marker);
    await waitPost(`echo: ${marker}`);
    expect(postsContaining(fromBot)).toHaveLength(0);
    // Discord echoes every bot message on the gateway; none of them may come back as a question.
    const { rows } = await db.query("SELECT 1 FROM messages WHERE role = 'user' AND content LIKE 'echo:%'");
    expect(rows).toHaveLength(0);
  });

  it('stores an attachment under the cap and tells the user about one over it', async () => {
    const word = unique('withfile');
    dc.post({
      channelId: dc.world.dmChannel(ids.of('u-files')),
      userId: ids.of('u-files'),
      content: word,
      attachments: [{ name: 'notes.txt', contentType: 'text/plain', data: Buffer.from('runbook notes\n') }],
    });
    await waitPost(`echo: ${word}`);
    const { rows } = await db.query("SELECT name, size FROM attachments WHERE platform = 'discord'");
    expect(rows).toContainEqual({ name: 'notes.txt', size: 14 });

    const big = unique('bigfile');
    dc.post({
      channelId: dc.world.dmChannel(ids.of('u-files')),
      userId: ids.of('u-files'),
      content: big,
      attachments: [
        { name: 'dump.bin', contentType: 'application/octet-stream', data: Buffer.alloc(10_000) },
      ],
    });
    const notice = await waitPost('dump.bin');
    expect(notice.content).toMatch(/could not read/i);
    await waitPost(`echo: ${big}`);
  });

  it('resumes after the connection drops and answers what was sent meanwhile', async () => {
    for (const how of ['terminate', 'reconnect'] as const) {
      const before = { ...dc.gateway.stats };
      dc.gateway.drop(how);
      // Sent while the bot is away: Discord keeps it in the session and replays it on RESUME.
      const word = unique(`during${how}`);
      dm('u-drop', word);
      await waitFor('the session resumed', () => dc.gateway.stats.resumes > before.resumes);
      await waitPost(`echo: ${word}`);
      expect(dc.gateway.stats.identifies).toBe(before.identifies);
      const after = unique(`after${how}`);
      dm('u-drop', after);
      await waitPost(`echo: ${after}`);
    }
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('answers a message once even when it arrives again after a restart', async () => {
    const word = unique('restart');
    const q = dm('u-restart', word);
    await waitPost(`echo: ${word}`);
    expect(await svc.kill('SIGTERM')).toBe(0);
    svc = await stack.startService('ingress-discord', env());
    // A fresh process has an empty discord.js cache; only the runtime's de-duplication can stop this.
    dc.redispatch(q.id);
    const marker = unique('marker');
    dm('u-restart', marker);
    await waitPost(`echo: ${marker}`);
    expect(postsContaining(`echo: ${word}`)).toHaveLength(1);
    expect(svc.logs.some((l) => l.includes('duplicate platform delivery ignored'))).toBe(true);
  });

  it('stops at start with a clear message when Discord refuses the token, and publishes nothing', async () => {
    const wrong = `${randomBytes(18).toString('base64url')}.wrong.${randomBytes(20).toString('base64url')}`;
    const before = { identifies: dc.gateway.stats.identifies, posts: dc.botPosts().length };
    const run = spawn(process.execPath, ['--import', 'tsx', 'services/ingress-discord/src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...stack.baseEnv,
        ...env(),
        DISCORD_BOT_TOKEN: wrong,
        HTTP_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    run.stdout.on('data', (c: Buffer) => (output += c.toString()));
    run.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
    expect(code).toBe(78);
    expect(output).toContain('Discord refused DISCORD_BOT_TOKEN');
    expect(output).not.toContain(wrong);
    expect(dc.gateway.stats.identifies).toBe(before.identifies);
    expect(dc.botPosts()).toHaveLength(before.posts);
  });
});
