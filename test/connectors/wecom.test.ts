import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeLlm } from '../fakes/llm/server.ts';
import {
  DEFAULT_WECOM_CHAT,
  WECOM_BOT_NAME,
  WecomFakePlatform,
  wecomHarness,
} from '../fakes/wecom/harness.ts';
import { messageXml, startFakeWecom } from '../fakes/wecom/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';
import { connectorContract } from './contract.ts';

connectorContract(wecomHarness);

/** What only WeCom has: the URL check, media by media_id, app group chats, the access token. */
describe('ingress-wecom against the fake WeCom', () => {
  let platform: WecomFakePlatform;
  let llm: FakeLlm;
  let stack: TestStack;
  let svc: ServiceProcess;
  let db: pg.Pool;
  const callbackUrl = () => `${svc.url}/wecom/callback`;

  beforeAll(async () => {
    platform = new WecomFakePlatform(await startFakeWecom());
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-wecom', platform.serviceEnv()));
    await platform.attach(svc);
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await platform?.close();
  });

  const replyWith = (s: string) =>
    waitFor(`a reply containing "${s}"`, () => platform.fake.sent.find((m) => m.content?.includes(s))).catch(
      (err: Error) => {
        throw new Error(`${err.message}\n${stack.dumpLogs(30)}`);
      },
    );

  it('passes the URL check WeCom makes when the callback URL is saved', async () => {
    const ok = await platform.fake.verifyUrl(callbackUrl());
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(ok.expected);
    expect((await platform.fake.verifyUrl(callbackUrl(), { badSignature: true })).status).toBe(401);
  });

  it('answers in an app group chat through appchat/send, and in a direct chat through message/send', async () => {
    const word = `grp${randomBytes(4).toString('hex')}`;
    await platform.sendUserMessage({ chat: 'group', userId: 'u-grp', text: word, mention: true });
    const group = await replyWith(`echo: ${word}`);
    expect(group).toMatchObject({ endpoint: 'appchat/send', to: DEFAULT_WECOM_CHAT, msgtype: 'markdown' });
    expect(group.content).not.toContain(`@${WECOM_BOT_NAME}`);
    const dm = `dm${randomBytes(4).toString('hex')}`;
    await platform.sendUserMessage({ chat: 'direct', userId: 'u-dm', text: dm });
    expect(await replyWith(`echo: ${dm}`)).toMatchObject({ endpoint: 'message/send', to: 'u-dm' });
  });

  it('downloads an image a user sends through media/get and stores it', async () => {
    const image = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), randomBytes(2048)]);
    const mediaId = platform.fake.addMedia({
      type: 'image',
      filename: 'alert.png',
      contentType: 'image/png',
      data: image,
    });
    const xml = messageXml({
      corpId: platform.fake.corpId,
      agentId: platform.fake.agentId,
      from: 'u-img',
      msgId: platform.fake.nextMsgId(),
      type: 'image',
      mediaId,
    });
    const r = await platform.fake.postCallback(callbackUrl(), platform.fake.callbackRequest(xml));
    expect(r.status).toBe(200);
    const sha256 = createHash('sha256').update(image).digest('hex');
    const { rows } = await db.query(
      `SELECT name, mime_type, size FROM attachments WHERE platform = 'wecom' AND sha256 = $1`,
      [sha256],
    );
    expect(rows).toEqual([{ name: 'alert.png', mime_type: 'image/png', size: image.length }]);
    await replyWith('alert.png');
  });

  it('fetched one access token for every call so far', () => {
    expect(platform.fake.sent.length).toBeGreaterThanOrEqual(3);
    expect(platform.fake.gettokenCalls).toBe(1);
  });

  it('does not start with a secret WeCom refuses, and says which setting to check', async () => {
    await expect(
      stack.startService('ingress-wecom', { ...platform.serviceEnv(), WECOM_SECRET: 'not-the-secret' }),
    ).rejects.toThrow(/WECOM_SECRET/);
  });
});
