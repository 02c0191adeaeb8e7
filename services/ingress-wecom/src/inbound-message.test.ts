import type { NormalizedMessage } from '@switchboard/connector';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeWecom, messageXml, startFakeWecom } from '../../../test/fakes/wecom/server.ts';
import {
  conversationOf,
  destinationOf,
  type NormalizeOptions,
  normalizeCallback,
} from './inbound-message.ts';
import { WecomApi } from './wecom-api.ts';
import { parseXmlFields } from './xml.ts';

let fake: FakeWecom;
let opts: NormalizeOptions;

beforeAll(async () => {
  fake = await startFakeWecom();
  const api = new WecomApi({
    baseUrl: fake.url,
    corpId: fake.corpId,
    secret: fake.secret,
    agentId: fake.agentId,
  });
  opts = {
    agentId: fake.agentId,
    botName: 'Switchboard',
    fetchMedia: (id, max) => api.downloadMedia(id, max),
  };
});
afterAll(() => fake.close());

const base = () => ({
  corpId: fake.corpId,
  agentId: fake.agentId,
  from: 'ZhangSan',
  msgId: fake.nextMsgId(),
});

function normalized(xml: string): NormalizedMessage {
  const m = normalizeCallback(parseXmlFields(xml), opts);
  if ('skip' in m) throw new Error(`skipped: ${m.skip}`);
  return m;
}

describe('normalizeCallback', () => {
  it('takes a direct text message, keeping the 64-bit MsgId exact', () => {
    const b = base();
    const m = normalized(messageXml({ ...b, content: '  你好，帮我看看 <b>&amp; ]]> 这个  ' }));
    expect(BigInt(b.msgId)).toBeGreaterThan(BigInt(Number.MAX_SAFE_INTEGER));
    expect(m).toMatchObject({
      platformMessageId: b.msgId,
      conversationId: 'user:ZhangSan',
      chatType: 'direct',
      user: { id: 'ZhangSan' },
      // Verbatim: CDATA is not entity-decoded, and trimming is the runtime's.
      text: '  你好，帮我看看 <b>&amp; ]]> 这个  ',
      addressedToBot: true,
      replyContext: { touser: 'ZhangSan' },
      attachments: [],
    });
  });

  it('tells a group message that @-mentions the app from one that does not', () => {
    const mentioned = normalized(
      messageXml({ ...base(), chatId: 'wrChat1', content: '@Switchboard 今天 on call 是谁？' }),
    );
    expect(mentioned).toMatchObject({
      conversationId: 'chat:wrChat1',
      channelId: 'wrChat1',
      chatType: 'group',
      text: '今天 on call 是谁？',
      addressedToBot: true,
      replyContext: { chatid: 'wrChat1' },
    });
    const chatter = normalized(messageXml({ ...base(), chatId: 'wrChat1', content: '@LiSi lunch?' }));
    expect(chatter.addressedToBot).toBe(false);
    expect(chatter.text).toBe('@LiSi lunch?');
  });

  it('reads the reply destination back from the conversation id', () => {
    expect(destinationOf(conversationOf('direct', 'ZhangSan'))).toEqual({ touser: 'ZhangSan' });
    expect(destinationOf(conversationOf('group', 'wrChat1'))).toEqual({ chatid: 'wrChat1' });
    expect(destinationOf('somewhere-else')).toBeUndefined();
  });

  it('skips events, other apps, and types it cannot read', () => {
    const skip = (xml: string) => normalizeCallback(parseXmlFields(xml), opts);
    expect(
      skip(
        `<xml><ToUserName>${fake.corpId}</ToUserName><FromUserName>ZhangSan</FromUserName><MsgType>event</MsgType><Event>enter_agent</Event><AgentID>${fake.agentId}</AgentID></xml>`,
      ),
    ).toEqual({ skip: 'event enter_agent' });
    expect(skip(messageXml({ ...base(), agentId: 42, content: 'hi' }))).toEqual({
      skip: 'message for AgentID 42, not ours',
    });
    expect(skip('<xml><MsgType>shake</MsgType><FromUserName>a</FromUserName></xml>')).toEqual({
      skip: 'unsupported MsgType shake',
    });
  });

  it('downloads an image through media/get, named and typed by the download, within the cap', async () => {
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(1000, 1)]);
    const mediaId = fake.addMedia({
      type: 'image',
      filename: 'screenshot.png',
      contentType: 'image/png',
      data: png,
    });
    const m = normalized(messageXml({ ...base(), type: 'image', mediaId }));
    expect(m.text).toBe('');
    const [att] = m.attachments;
    expect(att?.kind).toBe('image');
    expect(await att!.download(10_000)).toEqual(png);
    expect(att).toMatchObject({ name: 'screenshot.png', mimeType: 'image/png' });
    await expect(att!.download(100)).rejects.toMatchObject({ code: 'SB_ERR_ATTACHMENT_TOO_LARGE' });
  });

  it('takes a file with its announced name', async () => {
    const mediaId = fake.addMedia({
      filename: 'x.bin',
      contentType: 'application/pdf',
      data: Buffer.from('%PDF-1.7'),
    });
    const m = normalized(messageXml({ ...base(), type: 'file', mediaId, fileName: '季度报告.pdf' }));
    expect(m.attachments[0]).toMatchObject({ kind: 'file', name: '季度报告.pdf' });
    expect((await m.attachments[0]!.download(1000)).toString()).toBe('%PDF-1.7');
  });
});
