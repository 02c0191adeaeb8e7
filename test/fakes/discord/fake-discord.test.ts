import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { waitFor } from '../../support/infra.ts';
import { type FakeDiscord, startFakeDiscord } from './server.ts';

interface Frame {
  op: number;
  // biome-ignore lint/suspicious/noExplicitAny: gateway payloads are read field by field in the checks
  d: any;
  s?: number | null;
  t?: string | null;
}

/** A bare gateway client, to see the fake's protocol without discord.js smoothing it over. */
class RawGateway {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => this.frames.push(JSON.parse(data.toString()) as Frame));
    ws.on('close', (code) => {
      this.closeCode = code;
    });
  }
  static async open(url: string, query = '?v=10&encoding=json'): Promise<RawGateway> {
    const ws = new WebSocket(`${url}${query}`);
    const g = new RawGateway(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return g;
  }
  send(op: number, d: unknown) {
    this.ws.send(JSON.stringify({ op, d }));
  }
  next(pred: (f: Frame) => boolean, what: string) {
    return waitFor(what, () => this.frames.find(pred), 5_000);
  }
  closed(what = 'the close') {
    return waitFor(what, () => this.closeCode, 5_000);
  }
  identify(token: string, intents = (1 << 0) | (1 << 9) | (1 << 12) | (1 << 15)) {
    this.send(2, {
      token,
      intents,
      properties: { os: 'linux', browser: 'test', device: 'test' },
      shard: [0, 1],
    });
  }
}

const auth = (dc: FakeDiscord, token = dc.token) => ({ authorization: `Bot ${token}` });
const json = { 'content-type': 'application/json' };

describe('fake Discord REST', () => {
  let dc: FakeDiscord;
  beforeAll(async () => {
    dc = await startFakeDiscord({ bucket: { limit: 2, windowMs: 60_000 }, retryAfterSec: 1.5 });
  });
  afterAll(() => dc.close());

  it('answers /gateway/bot only with the bot token, as Discord does', async () => {
    const anon = await fetch(`${dc.apiUrl}/v10/gateway/bot`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    const ok = await fetch(`${dc.apiUrl}/v10/gateway/bot`, { headers: auth(dc) });
    const body = (await ok.json()) as {
      url: string;
      shards: number;
      session_start_limit: { max_concurrency: number };
    };
    expect(body.url).toBe(dc.gatewayUrl);
    expect(body.shards).toBe(1);
    expect(body.session_start_limit.max_concurrency).toBe(1);
    expect((await fetch(`${dc.apiUrl}/v9/users/@me`, { headers: auth(dc) })).status).toBe(400);
  });

  it("refuses over-long and empty messages with Discord's error shapes", async () => {
    const url = `${dc.apiUrl}/v10/channels/${dc.world.threadId}/messages`;
    const long = await fetch(url, {
      method: 'POST',
      headers: { ...auth(dc), ...json },
      body: JSON.stringify({ content: 'x'.repeat(2001) }),
    });
    expect(long.status).toBe(400);
    expect(await long.json()).toMatchObject({
      code: 50035,
      errors: { content: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH' }] } },
    });
    const empty = await fetch(url, {
      method: 'POST',
      headers: { ...auth(dc), ...json },
      body: '{"content":""}',
    });
    expect(await empty.json()).toEqual({ message: 'Cannot send an empty message', code: 50006 });
  });

  it('rate-limits with the 429 body and headers Discord documents', async () => {
    const url = `${dc.apiUrl}/v10/channels/${dc.world.generalId}/messages`;
    const send = () =>
      fetch(url, {
        method: 'POST',
        headers: { ...auth(dc), ...json },
        body: JSON.stringify({ content: 'hi' }),
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(Number(first.headers.get('x-ratelimit-reset-after'))).toBeGreaterThan(0);
    expect(first.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]+$/);
    expect((await send()).status).toBe(200);
    const limited = await send();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1.5');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(await limited.json()).toEqual({
      message: 'You are being rate limited.',
      retry_after: 1.5,
      global: false,
    });
  });
});

describe('fake Discord gateway', () => {
  let dc: FakeDiscord;
  beforeAll(async () => {
    dc = await startFakeDiscord({ heartbeatIntervalMs: 1_000 });
  });
  afterAll(() => dc.close());

  it('says HELLO, acknowledges heartbeats, and closes 4003 for a payload before IDENTIFY', async () => {
    const g = await RawGateway.open(dc.gatewayUrl);
    const hello = await g.next((f) => f.op === 10, 'HELLO');
    expect(hello.d.heartbeat_interval).toBe(1_000);
    g.send(1, null);
    await g.next((f) => f.op === 11, 'HEARTBEAT_ACK');
    g.send(3, { since: null, activities: [], status: 'online', afk: false });
    expect(await g.closed()).toBe(4003);
  });

  it('closes 4004 for a wrong token, 4012 for another version, 4002 for compression', async () => {
    const g = await RawGateway.open(dc.gatewayUrl);
    g.identify('not-the-token');
    expect(await g.closed()).toBe(4004);
    expect(await (await RawGateway.open(dc.gatewayUrl, '?v=9&encoding=json')).closed()).toBe(4012);
    expect(
      await (await RawGateway.open(dc.gatewayUrl, '?v=10&encoding=json&compress=zlib-stream')).closed(),
    ).toBe(4002);
  });

  it('sends READY then GUILD_CREATE, sequences dispatches, and replays them on RESUME', async () => {
    const g = await RawGateway.open(dc.gatewayUrl);
    g.identify(dc.token);
    const ready = await g.next((f) => f.t === 'READY', 'READY');
    expect(ready.s).toBe(1);
    expect(ready.d).toMatchObject({
      v: 10,
      user: { id: dc.world.bot.id, bot: true },
      resume_gateway_url: dc.gatewayUrl,
    });
    const guild = await g.next((f) => f.t === 'GUILD_CREATE', 'GUILD_CREATE');
    expect(guild.s).toBe(2);
    expect(guild.d.channels.map((c: { id: string }) => c.id)).toContain(dc.world.generalId);
    expect(guild.d.threads.map((c: { id: string }) => c.id)).toContain(dc.world.threadId);

    // Closed with a code other than 1000/1001, the session stays resumable; what it missed is replayed.
    g.ws.close(4000);
    await g.closed();
    const missed = dc.post({
      channelId: dc.world.generalId,
      userId: '1574322786665627000',
      content: 'while away',
    });
    const again = await RawGateway.open(ready.d.resume_gateway_url);
    await again.next((f) => f.op === 10, 'HELLO');
    again.send(6, { token: dc.token, session_id: ready.d.session_id, seq: 2 });
    const replayed = await again.next((f) => f.t === 'MESSAGE_CREATE', 'the missed MESSAGE_CREATE');
    expect(replayed).toMatchObject({
      s: 3,
      d: { id: missed.id, content: 'while away', guild_id: dc.world.guildId },
    });
    const resumed = await again.next((f) => f.t === 'RESUMED', 'RESUMED');
    expect(resumed.s).toBe(4);
    again.ws.close(1000);
    await again.closed();

    // A session ended with 1000 cannot be resumed: INVALID_SESSION, d false.
    const late = await RawGateway.open(dc.gatewayUrl);
    late.send(6, { token: dc.token, session_id: ready.d.session_id, seq: 4 });
    expect((await late.next((f) => f.op === 9, 'INVALID_SESSION')).d).toBe(false);
    late.ws.close(1000);
  });

  it('empties guild messages for a session without the Message Content intent, unless they mention the bot', async () => {
    const g = await RawGateway.open(dc.gatewayUrl);
    g.identify(dc.token, (1 << 0) | (1 << 9) | (1 << 12));
    await g.next((f) => f.t === 'GUILD_CREATE', 'GUILD_CREATE');
    dc.post({ channelId: dc.world.generalId, userId: '1574322786665627001', content: 'plain' });
    dc.post({
      channelId: dc.world.generalId,
      userId: '1574322786665627001',
      content: 'to the bot',
      mentionBot: true,
    });
    const msgs = await waitFor('two MESSAGE_CREATE', () => {
      const m = g.frames.filter((f) => f.t === 'MESSAGE_CREATE');
      return m.length === 2 ? m : undefined;
    });
    expect(msgs.map((m) => m.d.content)).toEqual(['', `<@${dc.world.bot.id}> to the bot`]);
    g.ws.close(1000);
  });
});
