import type { InboundOutcome, NormalizedMessage } from '@switchboard/connector';
import { createLogger, createMetricsRegistry, createServiceHttp } from '@switchboard/core';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeWecom, messageXml, startFakeWecom } from '../../../test/fakes/wecom/server.ts';
import { CallbackCrypto } from './callback-crypto.ts';
import { CALLBACK_PATH, callbackRoutes } from './callback-routes.ts';
import { WecomApi } from './wecom-api.ts';

let fake: FakeWecom;
let app: FastifyInstance;
let url: string;
const received: NormalizedMessage[] = [];
let sinkAnswer: () => Promise<InboundOutcome> = async () => 'published';
let sinkCalled = false;

beforeAll(async () => {
  fake = await startFakeWecom();
  const log = createLogger('ingress-wecom-test', 'error');
  app = createServiceHttp({ log, registry: createMetricsRegistry('ingress-wecom-test'), readiness: {} });
  const api = new WecomApi({
    baseUrl: fake.url,
    corpId: fake.corpId,
    secret: fake.secret,
    agentId: fake.agentId,
  });
  const crypto = new CallbackCrypto({
    token: fake.token,
    encodingAesKey: fake.encodingAesKey,
    corpId: fake.corpId,
    maxClockSkewS: 300,
  });
  await app.register(async (scope) =>
    callbackRoutes(scope, {
      crypto,
      log,
      normalize: {
        agentId: fake.agentId,
        botName: 'Switchboard',
        fetchMedia: (id, max) => api.downloadMedia(id, max),
      },
      sink: async (msg) => {
        sinkCalled = true;
        const outcome = await sinkAnswer();
        received.push(msg);
        return outcome;
      },
    }),
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  url = `${address}${CALLBACK_PATH}`;
});
afterAll(async () => {
  await app.close();
  await fake.close();
});
beforeEach(() => {
  received.length = 0;
  sinkCalled = false;
  sinkAnswer = async () => 'published';
});

const text = (content: string, extra: Partial<Parameters<typeof messageXml>[0]> = {}) =>
  messageXml({
    corpId: fake.corpId,
    agentId: fake.agentId,
    from: 'ZhangSan',
    msgId: fake.nextMsgId(),
    content,
    ...extra,
  });

describe('WeCom callback', () => {
  it('answers the URL check with the decrypted echostr', async () => {
    const r = await fake.verifyUrl(url);
    expect(r.status).toBe(200);
    expect(r.body).toBe(r.expected);
  });

  it('refuses a URL check with a bad signature', async () => {
    const r = await fake.verifyUrl(url, { badSignature: true });
    expect(r.status).toBe(401);
    expect(r.body).not.toContain(r.expected);
  });

  it('takes a message, answering an empty 200 only after the sink settled', async () => {
    let release!: () => void;
    const settled = new Promise<void>((r) => {
      release = r;
    });
    sinkAnswer = async () => {
      await settled;
      return 'published';
    };
    const pending = fake.postCallback(url, fake.callbackRequest(text('你好')));
    let answered = false;
    void pending.then(() => {
      answered = true;
    });
    // The sink holds the answer; release it once the request provably reached it.
    await expect.poll(() => sinkCalled, { timeout: 5_000 }).toBe(true);
    expect(answered).toBe(false);
    release();
    expect(await pending).toEqual({ status: 200, body: '' });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ text: '你好', conversationId: 'user:ZhangSan', chatType: 'direct' });
  });

  it('answers 503 when the sink could not take the message, so WeCom retries', async () => {
    sinkAnswer = async () => {
      throw new Error('broker unavailable');
    };
    const r = await fake.postCallback(url, fake.callbackRequest(text('retry me')));
    expect(r.status).toBe(503);
  });

  it('refuses a bad signature, a foreign CorpID, a stale timestamp and another token with 401, taking nothing', async () => {
    const cases = [
      fake.callbackRequest(text('forged'), { badSignature: true }),
      fake.callbackRequest(text('forged'), { corpId: 'wwsomeoneelse' }),
      fake.callbackRequest(text('forged'), { timestamp: Math.floor(Date.now() / 1000) - 3600 }),
      fake.callbackRequest(text('forged'), { token: 'notourtoken' }),
    ];
    for (const c of cases) expect((await fake.postCallback(url, c)).status).toBe(401);
    const { query, body } = fake.callbackRequest(text('unsigned'));
    expect((await fake.postCallback(url, { query: { timestamp: query.timestamp! }, body })).status).toBe(401);
    expect(received).toHaveLength(0);
  });

  it('answers 400 to a body that is not WeCom XML', async () => {
    const { query } = fake.callbackRequest(text('x'));
    expect((await fake.postCallback(url, { query, body: '{"not":"xml"}' })).status).toBe(400);
    expect(
      (await fake.postCallback(url, { query, body: '<xml><ToUserName>a</ToUserName></xml>' })).status,
    ).toBe(400);
    // No Content-Type and no body at all.
    const bare = await request(`${url}?${new URLSearchParams(query)}`, { method: 'POST' });
    expect(bare.statusCode).toBe(400);
    await bare.body.dump();
    expect(received).toHaveLength(0);
  });

  it('reads a callback whatever Content-Type it is labelled with', async () => {
    const { query, body } = fake.callbackRequest(text('unlabelled'));
    const res = await request(`${url}?${new URLSearchParams(query)}`, { method: 'POST', body });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(received.map((m) => m.text)).toEqual(['unlabelled']);
  });

  it('acknowledges events without handing them on', async () => {
    const event = `<xml><ToUserName>${fake.corpId}</ToUserName><FromUserName>ZhangSan</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>enter_agent</Event><AgentID>${fake.agentId}</AgentID></xml>`;
    expect(await fake.postCallback(url, fake.callbackRequest(event))).toEqual({ status: 200, body: '' });
    expect(received).toHaveLength(0);
  });
});
