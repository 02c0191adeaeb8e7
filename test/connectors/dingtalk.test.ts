import { createHash } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dingtalkHarness, dingtalkStreamHarness } from '../fakes/dingtalk/harness.ts';
import { type FakeDingtalk, startFakeDingtalk } from '../fakes/dingtalk/server.ts';
import type { FakeLlm } from '../fakes/llm/server.ts';
import { startConnectorTestbed, stopConnectorTestbed } from '../support/connector-testbed.ts';
import { waitFor } from '../support/infra.ts';
import type { ServiceProcess, TestStack } from '../support/stack.ts';
import { connectorContract } from './contract.ts';

describe('HTTP callback mode', () => connectorContract(dingtalkHarness));
describe('Stream mode', () => connectorContract(dingtalkStreamHarness));

/** What only DingTalk has: session webhooks that expire, files behind downloadCodes. */
describe('DingTalk specifics', () => {
  let dt: FakeDingtalk;
  let llm: FakeLlm;
  let stack: TestStack;
  let svc: ServiceProcess;
  let db: pg.Pool;
  let callback: string;

  beforeAll(async () => {
    dt = await startFakeDingtalk();
    ({ llm, stack, svc, db } = await startConnectorTestbed('ingress-dingtalk', {
      DINGTALK_APP_KEY: dt.appKey,
      DINGTALK_APP_SECRET: dt.appSecret,
      DINGTALK_API_URL: dt.url,
    }));
    callback = `${svc.url}/dingtalk/callback`;
  });
  afterAll(async () => {
    await stopConnectorTestbed({ llm, stack, db });
    await dt?.close();
  });

  const reply = (s: string) =>
    waitFor(`a reply containing "${s}"`, () => dt.sends.find((m) => m.text.includes(s))).catch((err) => {
      throw new Error(`${(err as Error).message}\n${stack.dumpLogs(30)}`);
    });

  it('answers through the API once the session webhook has expired', async () => {
    const direct = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidLateDirect',
      userId: 'staff-late',
      text: 'late direct',
      sessionTtlMs: 30_000,
    });
    const group = dt.robotMessage({
      chat: 'group',
      conversationId: 'cidLateGroup',
      userId: 'staff-late',
      text: 'late group',
      mention: true,
      sessionTtlMs: 30_000,
    });
    expect(await dt.postCallback(callback, direct)).toBe(200);
    expect(await dt.postCallback(callback, group)).toBe(200);
    expect(await reply('echo: late direct')).toMatchObject({ via: 'oto', conversationId: 'cidLateDirect' });
    expect(await reply('echo: late group')).toMatchObject({ via: 'group', conversationId: 'cidLateGroup' });
  });

  it('downloads a picture through messageFiles/download and stores it', async () => {
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from(`pic-${Date.now()}`)]);
    const code = dt.addFile('photo.png', png);
    const body = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidPicture',
      userId: 'staff-pic',
      text: '',
      pictureDownloadCode: code,
    });
    expect(await dt.postCallback(callback, body)).toBe(200);
    const sha = createHash('sha256').update(png).digest('hex');
    const { rows } = await db.query('SELECT platform, size, data FROM attachments WHERE sha256 = $1', [sha]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ platform: 'dingtalk', size: png.length });
    expect(Buffer.compare(rows[0].data, png)).toBe(0);
    // The worker got the message too and answered in the same chat.
    await waitFor('an answer in the picture chat', () =>
      dt.sends.find((m) => m.conversationId === 'cidPicture'),
    );
  });
});
