import { createLogger, createMetricsRegistry } from '@switchboard/core';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeWecom, startFakeWecom } from '../../../test/fakes/wecom/server.ts';
import { WecomAdapter } from './adapter.ts';
import { loadWecomConfig } from './config.ts';

let fake: FakeWecom;
let adapter: WecomAdapter;

const env = (over: Record<string, string> = {}) => ({
  AMQP_URL: 'amqp://localhost',
  DATABASE_URL: 'postgres://localhost/unused',
  WECOM_CORP_ID: fake.corpId,
  WECOM_AGENT_ID: String(fake.agentId),
  WECOM_SECRET: fake.secret,
  WECOM_TOKEN: fake.token,
  WECOM_ENCODING_AES_KEY: fake.encodingAesKey,
  WECOM_API_URL: `${fake.url}/`,
  ...over,
});
const deps = () => ({
  log: createLogger('ingress-wecom-test', 'error'),
  registry: createMetricsRegistry('t'),
});

beforeAll(async () => {
  fake = await startFakeWecom();
  adapter = new WecomAdapter(loadWecomConfig(env()), deps());
});
afterAll(() => fake.close());

describe('WecomAdapter', () => {
  it('is identified by CorpID and AgentId, and keeps CJK replies within 2048 bytes', () => {
    expect(adapter.botId).toBe(`${fake.corpId}:${fake.agentId}`);
    expect(Buffer.byteLength('字'.repeat(adapter.textLimit))).toBeLessThanOrEqual(2048);
    expect(adapter.format('Here is **bold** and `code`.')).toBe('Here is **bold** and `code`.');
  });

  it('answers where the message came from: the stored context first, the conversation id otherwise', async () => {
    await adapter.sendText(
      { conversationId: 'chat:wrOps', inReplyTo: 'x', context: { chatid: 'wrOps' } },
      'a',
    );
    await adapter.sendText(
      { conversationId: 'user:ZhangSan', inReplyTo: 'x', context: { touser: 'ZhangSan' } },
      'b',
    );
    await adapter.sendText({ conversationId: 'user:LiSi', inReplyTo: 'x', context: undefined }, 'c');
    await adapter.sendText({ conversationId: 'chat:wrDev', inReplyTo: 'x', context: undefined }, 'd');
    expect(fake.sent.slice(-4).map((s) => `${s.endpoint} ${s.to} ${s.content}`)).toEqual([
      'appchat/send wrOps a',
      'message/send ZhangSan b',
      'message/send LiSi c',
      'appchat/send wrDev d',
    ]);
    await expect(
      adapter.sendText({ conversationId: 'nowhere', inReplyTo: 'x', context: undefined }, 'e'),
    ).rejects.toMatchObject({ retryable: false });
  });

  it('sends a PNG as an image message and anything else as a file', async () => {
    const target = { conversationId: 'user:ZhangSan', inReplyTo: 'x', context: undefined };
    const png = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(64)]);
    await adapter.sendFile(target, { name: 'chart.png', mimeType: 'image/png', data: png });
    await adapter.sendFile(target, {
      name: 'notes.md',
      mimeType: 'text/markdown',
      data: Buffer.from('# notes\n'),
    });
    const [image, file] = fake.sent.slice(-2);
    expect(image).toMatchObject({ msgtype: 'image' });
    expect(fake.media.get(image!.mediaId!)).toMatchObject({ type: 'image', filename: 'chart.png' });
    expect(file).toMatchObject({ msgtype: 'file' });
    expect(fake.media.get(file!.mediaId!)).toMatchObject({ type: 'file', filename: 'notes.md' });
    await expect(
      adapter.sendFile(target, { name: 'tiny', mimeType: 'text/plain', data: Buffer.from('hi') }),
    ).rejects.toMatchObject({ retryable: false });
  });

  it('refuses to start with credentials WeCom rejects', async () => {
    const bad = new WecomAdapter(loadWecomConfig(env({ WECOM_SECRET: 'wrong' })), deps());
    const http = Fastify();
    await expect(bad.start({ http, sink: async () => 'published' })).rejects.toThrow(/WECOM_SECRET/);
    expect(bad.isReady()).toBe(false);
    await http.close();
  });

  it('starts while the WeCom API is unreachable, not ready until a token comes', async () => {
    const offline = new WecomAdapter(loadWecomConfig(env({ WECOM_API_URL: 'http://127.0.0.1:9' })), deps());
    const http = Fastify();
    await offline.start({ http, sink: async () => 'published' });
    expect(offline.isReady()).toBe(false);
    await http.close();
  });

  it('refuses a malformed configuration naming each key', () => {
    expect(() =>
      loadWecomConfig(
        env({ WECOM_AGENT_ID: 'app', WECOM_ENCODING_AES_KEY: 'x'.repeat(42), WECOM_TOKEN: 'has space' }),
      ),
    ).toThrow(/WECOM_AGENT_ID[\s\S]*WECOM_TOKEN[\s\S]*WECOM_ENCODING_AES_KEY/);
  });
});
