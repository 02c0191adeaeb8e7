import { PlatformApiError } from '@switchboard/connector';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeDingtalk, startFakeDingtalk } from '../../../test/fakes/dingtalk/server.ts';
import { DingtalkApi, SessionThrottledError, SessionWebhookError } from './api-client.ts';

let dt: FakeDingtalk;
let api: DingtalkApi;
const md = { title: 'Hi', text: '**hello**' };

beforeAll(async () => {
  dt = await startFakeDingtalk();
});
afterAll(() => dt.close());
beforeEach(() => {
  api = new DingtalkApi({ apiUrl: dt.url, appKey: dt.appKey, appSecret: dt.appSecret, robotCode: dt.appKey });
  dt.failNextSends(0, 'server_error');
});

async function failure(p: Promise<unknown>): Promise<PlatformApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlatformApiError);
  return err as PlatformApiError;
}

describe('DingtalkApi', () => {
  it('buys one access token and reuses it, even for concurrent callers', async () => {
    const before = dt.tokensIssued;
    const tokens = await Promise.all([api.accessToken(), api.accessToken(), api.accessToken()]);
    expect(new Set(tokens).size).toBe(1);
    await api.accessToken();
    expect(dt.tokensIssued - before).toBe(1);
  });

  it('reports refused credentials as a final 400', async () => {
    const bad = new DingtalkApi({
      apiUrl: dt.url,
      appKey: dt.appKey,
      appSecret: 'wrong',
      robotCode: dt.appKey,
    });
    const err = await failure(bad.accessToken());
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('invalidClientSecret');
    expect(err.message).not.toContain('wrong');
  });

  it('buys a new token after DingTalk stops accepting the cached one', async () => {
    dt.robotMessage({ chat: 'group', conversationId: 'cidTok', userId: 'u', text: 'x' });
    await api.sendToGroup('cidTok', md);
    const before = dt.tokensIssued;
    dt.revokeTokens();
    const err = await failure(api.sendToGroup('cidTok', md));
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(true);
    await api.sendToGroup('cidTok', md);
    expect(dt.tokensIssued - before).toBe(1);
  });

  it('sends markdown to a direct chat (batchSend) and to a group (groupMessages/send)', async () => {
    dt.robotMessage({ chat: 'direct', conversationId: 'cidD', userId: 'staff-7', text: 'x' });
    dt.robotMessage({ chat: 'group', conversationId: 'cidG', userId: 'staff-7', text: 'x' });
    expect(await api.sendToUsers(['staff-7'], md)).toEqual(expect.any(String));
    expect(await api.sendToGroup('cidG', md)).toEqual(expect.any(String));
    expect(dt.sends.slice(-2)).toMatchObject([
      { via: 'oto', conversationId: 'cidD', msgtype: 'sampleMarkdown', title: 'Hi', text: '**hello**' },
      { via: 'group', conversationId: 'cidG', msgtype: 'sampleMarkdown', title: 'Hi', text: '**hello**' },
    ]);
  });

  it('maps the OpenAPI QPS limit (403 QpsLimit…) to a 429 with a wait, and 5xx to a retryable error', async () => {
    dt.robotMessage({ chat: 'group', conversationId: 'cidQ', userId: 'u', text: 'x' });
    dt.failNextSends(1, 'rate_limit');
    const limited = await failure(api.sendToGroup('cidQ', md));
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 1_000, retryable: true });
    dt.failNextSends(1, 'server_error');
    const down = await failure(api.sendToGroup('cidQ', md));
    expect(down).toMatchObject({ status: 500, retryable: true });
  });

  it('does not retry what DingTalk refuses for good', async () => {
    const unknownGroup = await failure(api.sendToGroup('cidNoSuchGroup', md));
    expect(unknownGroup).toMatchObject({ status: 400, retryable: false });
    const unknownUser = await failure(api.sendToUsers(['nobody'], md));
    expect(unknownUser).toMatchObject({ status: 400, retryable: false });
  });

  it('replies through a session webhook and tells throttling, failure and a dead session apart', async () => {
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidS', userId: 'u', text: 'x' });
    const hook = String(body.sessionWebhook);
    await api.sendBySession(hook, md);
    expect(dt.sends.at(-1)).toMatchObject({ via: 'session', conversationId: 'cidS', msgtype: 'markdown' });

    dt.failNextSends(1, 'rate_limit');
    await expect(api.sendBySession(hook, md)).rejects.toBeInstanceOf(SessionThrottledError);
    dt.failNextSends(1, 'server_error');
    const down = await failure(api.sendBySession(hook, md));
    expect(down.retryable).toBe(true);

    const expired = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidE',
      userId: 'u',
      text: 'x',
      sessionTtlMs: -1,
    });
    await expect(api.sendBySession(String(expired.sessionWebhook), md)).rejects.toBeInstanceOf(
      SessionWebhookError,
    );
  });

  it('never puts the session webhook URL (a credential) into an error', async () => {
    const err = await failure(
      api.sendBySession('http://127.0.0.1:1/robot/sendBySession?session=SECRET123', md),
    );
    expect(err.message).not.toContain('SECRET123');
    expect(err.retryable).toBe(true);
  });
});
