import { PlatformApiError } from '@switchboard/connector';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeWecom, startFakeWecom } from '../../../test/fakes/wecom/server.ts';
import { WecomApi } from './wecom-api.ts';

let fake: FakeWecom;
let clock: number;

const client = (o: Partial<ConstructorParameters<typeof WecomApi>[0]> = {}) =>
  new WecomApi({
    baseUrl: fake.url,
    corpId: fake.corpId,
    secret: fake.secret,
    agentId: fake.agentId,
    now: () => clock,
    ...o,
  });

async function rejection(p: Promise<unknown>): Promise<PlatformApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlatformApiError);
  return err as PlatformApiError;
}

beforeAll(async () => {
  fake = await startFakeWecom();
});
afterAll(() => fake.close());
beforeEach(() => {
  clock = Date.now();
  fake.failNextSends(0, 'busy');
});

describe('WecomApi', () => {
  it('sends markdown to a user and to an app group chat with one cached token', async () => {
    const api = client();
    const calls = fake.gettokenCalls;
    const [a, b] = await Promise.all([
      api.sendMarkdown({ touser: 'ZhangSan' }, '**部署**完成'),
      api.sendMarkdown({ touser: 'LiSi' }, 'second'),
    ]);
    await api.sendMarkdown({ chatid: 'wrOps' }, 'to the chat');
    expect(fake.gettokenCalls - calls).toBe(1);
    expect(a).toBeTruthy();
    expect(b).not.toBe(a);
    expect(fake.sent.slice(-3).map((s) => [s.endpoint, s.to, s.msgtype, s.content])).toEqual([
      ['message/send', 'ZhangSan', 'markdown', '**部署**完成'],
      ['message/send', 'LiSi', 'markdown', 'second'],
      ['appchat/send', 'wrOps', 'markdown', 'to the chat'],
    ]);
    expect(fake.sent.at(-3)?.body.agentid).toBe(fake.agentId);
  });

  it('renews the token shortly before it expires', async () => {
    const api = client();
    await api.sendMarkdown({ touser: 'ZhangSan' }, 'one');
    const calls = fake.gettokenCalls;
    clock += (7200 - 301) * 1000;
    await api.sendMarkdown({ touser: 'ZhangSan' }, 'two');
    expect(fake.gettokenCalls).toBe(calls);
    clock += 2_000;
    await api.sendMarkdown({ touser: 'ZhangSan' }, 'three');
    expect(fake.gettokenCalls).toBe(calls + 1);
  });

  it('replaces a token WeCom rejects (42001) once and sends', async () => {
    const api = client();
    await api.sendMarkdown({ touser: 'ZhangSan' }, 'before');
    const calls = fake.gettokenCalls;
    const sends = fake.sendCalls;
    fake.expireTokens();
    await api.sendMarkdown({ touser: 'ZhangSan' }, 'after');
    expect(fake.gettokenCalls).toBe(calls + 1);
    expect(fake.sendCalls - sends).toBe(2);
    expect(fake.sent.at(-1)?.content).toBe('after');
  });

  it('maps frequency limits and busy to retryable errors, HTTP 5xx too', async () => {
    const api = client();
    fake.failNextSends(1, 'rate_limit');
    const limited = await rejection(api.sendMarkdown({ touser: 'ZhangSan' }, 'x'));
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 1000, retryable: true });
    expect(limited.message).toContain('errcode 45009');
    fake.failNextSends(1, 'concurrency_limit');
    expect(await rejection(api.sendMarkdown({ chatid: 'wrOps' }, 'x'))).toMatchObject({
      status: 429,
      retryable: true,
    });
    fake.failNextSends(1, 'busy');
    expect(await rejection(api.sendMarkdown({ touser: 'ZhangSan' }, 'x'))).toMatchObject({ retryable: true });
    fake.failNextSends(1, 'server_error');
    const http = await rejection(api.sendMarkdown({ touser: 'ZhangSan' }, 'x'));
    expect(http).toMatchObject({ status: 500, retryable: true, code: 'SB_ERR_PLATFORM_API_FAILED' });
  });

  it('maps request errors to errors not worth retrying, without the token in the message', async () => {
    const api = client({ agentId: 999 });
    const wrongAgent = await rejection(api.sendMarkdown({ touser: 'ZhangSan' }, 'x'));
    expect(wrongAgent).toMatchObject({ retryable: false });
    expect(wrongAgent.message).toContain('errcode 40056');
    const tooLong = await rejection(client().sendMarkdown({ touser: 'ZhangSan' }, '字'.repeat(683)));
    expect(tooLong.message).toContain('errcode 45002');
    for (const e of [wrongAgent, tooLong]) expect(e.message).not.toMatch(/access_token=|corpsecret/);
  });

  it('refuses a wrong secret at gettoken as a configuration problem', async () => {
    const api = client({ secret: 'not-the-secret' });
    const err = await rejection(api.token());
    expect(err).toMatchObject({ retryable: false });
    expect(err.message).toMatch(/errcode 40001.*WECOM_SECRET/);
    expect(err.message).not.toContain('not-the-secret');
    expect(api.healthy).toBe(false);
  });

  it('reports a network failure as retryable', async () => {
    const api = client({ baseUrl: 'http://127.0.0.1:9' });
    expect(await rejection(api.sendMarkdown({ touser: 'ZhangSan' }, 'x'))).toMatchObject({ retryable: true });
  });

  it('uploads a file and sends it, and downloads media within a cap', async () => {
    const api = client();
    const data = Buffer.from('col1,col2\n1,2\n');
    const mediaId = await api.uploadMedia('file', { name: '报表.csv', mimeType: 'text/csv', data });
    await api.sendMedia({ touser: 'ZhangSan' }, 'file', mediaId);
    expect(fake.sent.at(-1)).toMatchObject({ msgtype: 'file', mediaId });
    expect(fake.media.get(mediaId)).toMatchObject({
      type: 'file',
      filename: '报表.csv',
      contentType: 'text/csv',
    });
    const got = await api.downloadMedia(mediaId, 1_000);
    expect(got).toMatchObject({ data, name: '报表.csv', mimeType: 'text/csv' });
    await expect(api.downloadMedia(mediaId, 5)).rejects.toMatchObject({
      code: 'SB_ERR_ATTACHMENT_TOO_LARGE',
    });
    const unknown = await rejection(api.downloadMedia('no-such-media', 1_000));
    expect(unknown.message).toContain('errcode 40007');
  });
});
