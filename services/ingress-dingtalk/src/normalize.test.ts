import type { NormalizedMessage } from '@switchboard/connector';
import { createLogger } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeDingtalk, startFakeDingtalk } from '../../../test/fakes/dingtalk/server.ts';
import { DingtalkApi } from './api-client.ts';
import { callbackSchema } from './callback-schema.ts';
import { handleRobotMessage } from './inbound.ts';
import { type NormalizeOptions, normalizeCallback, readReplyContext, stripMention } from './normalize.ts';

let dt: FakeDingtalk;
let o: NormalizeOptions;
const log = createLogger('test', 'error');

beforeAll(async () => {
  dt = await startFakeDingtalk();
  const api = new DingtalkApi({
    apiUrl: dt.url,
    appKey: dt.appKey,
    appSecret: dt.appSecret,
    robotCode: dt.appKey,
  });
  o = { api, webhookOrigins: new Set([new URL(dt.url).origin]), robotName: 'Ops Bot' };
});
afterAll(() => dt.close());

const normalize = (body: Record<string, unknown>, opts = o) =>
  normalizeCallback(callbackSchema.parse(body), opts);

describe('normalizeCallback', () => {
  it('turns a single-chat text into a direct message with everything needed to answer it', () => {
    const body = dt.robotMessage({
      chat: 'direct',
      conversationId: 'cidDirect1',
      userId: 'staff-1',
      text: ' hi there ',
    });
    const msg = normalize(body);
    expect(msg).toMatchObject({
      platformMessageId: body.msgId,
      conversationId: 'cidDirect1',
      chatType: 'direct',
      user: { id: 'staff-1', name: 'Nick staff-1' },
      text: 'hi there',
      addressedToBot: true,
      mentions: [],
      attachments: [],
    });
    expect(msg.channelId).toBeUndefined();
    expect(msg.replyContext).toEqual({
      conversationType: '1',
      openConversationId: 'cidDirect1',
      senderStaffId: 'staff-1',
      sessionWebhook: body.sessionWebhook,
      sessionWebhookExpiresAt: body.sessionWebhookExpiredTime,
    });
    // The context outlives the webhook: after it expires the API still needs the staff id.
    expect(msg.replyContextExpiresAt).toBeUndefined();
    expect(readReplyContext(msg.replyContext)).toEqual(msg.replyContext);
  });

  it('marks a group message that @-mentions the robot as addressed, and lists the other people mentioned', () => {
    const body = {
      ...dt.robotMessage({
        chat: 'group',
        conversationId: 'cidGroup1',
        userId: 'staff-2',
        text: 'status?',
        mention: true,
      }),
      atUsers: [{ dingtalkId: dt.chatbotUserId }, { dingtalkId: '$:LWCP_v1:$other', staffId: 'staff-9' }],
    };
    const msg = normalize(body);
    expect(msg).toMatchObject({
      chatType: 'group',
      channelId: 'cidGroup1',
      text: 'status?',
      addressedToBot: true,
      mentions: ['staff-9'],
    });
    expect(msg.replyContext).toMatchObject({ conversationType: '2', openConversationId: 'cidGroup1' });
  });

  it('marks a group message without the mention as not addressed', () => {
    const msg = normalize(
      dt.robotMessage({ chat: 'group', conversationId: 'cidG', userId: 'u', text: 'chatter' }),
    );
    expect(msg.addressedToBot).toBe(false);
  });

  it('uses the encrypted sender id for people outside the organisation (no staff id)', () => {
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidX', userId: 'guest', text: 'hello' });
    delete body.senderStaffId;
    const msg = normalize(body);
    expect(msg.user.id).toBe(body.senderId);
    expect(msg.replyContext.senderStaffId).toBeUndefined();
  });

  it('does not keep a session webhook that points anywhere but DingTalk', () => {
    const body = {
      ...dt.robotMessage({ chat: 'direct', conversationId: 'cidY', userId: 'u', text: 'x' }),
      sessionWebhook: 'http://169.254.169.254/latest/meta-data?session=1',
    };
    const msg = normalize(body);
    expect(msg.replyContext.sessionWebhook).toBeUndefined();
    expect(msg.replyContext.sessionWebhookExpiresAt).toBeUndefined();
  });

  it('takes the quoted message of a reply as replyTo', () => {
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidQ', userId: 'u', text: 'and this?' });
    body.text = {
      content: 'and this?',
      isReplyMsg: true,
      repliedMsg: { msgId: 'msgQuoted==', msgType: 'text' },
    };
    expect(normalize(body).replyTo).toBe('msgQuoted==');
  });

  it('turns pictures, files, voice and rich text into attachments that download through the API', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000', 'hex');
    const code = dt.addFile('shot.png', png);
    const base = dt.robotMessage({ chat: 'direct', conversationId: 'cidA', userId: 'u', text: '' });
    const picture = normalize({ ...base, msgtype: 'picture', content: { downloadCode: code } });
    expect(picture.attachments).toHaveLength(1);
    expect(picture.attachments[0]!.kind).toBe('image');
    expect(await picture.attachments[0]!.download(1024)).toEqual(png);

    const file = normalize({
      ...base,
      msgtype: 'file',
      content: { downloadCode: code, fileName: 'report.pdf' },
    });
    expect(file.attachments[0]).toMatchObject({ kind: 'file', name: 'report.pdf' });

    const voice = normalize({
      ...base,
      msgtype: 'audio',
      content: { downloadCode: code, recognition: '明天开会' },
    });
    expect(voice.text).toBe('明天开会');
    expect(voice.attachments[0]!.kind).toBe('audio');

    const rich = normalize({
      ...base,
      msgtype: 'richText',
      content: { richText: [{ text: 'look ' }, { type: 'picture', downloadCode: code }, { text: 'here' }] },
    });
    expect(rich.text).toBe('look here');
    expect(rich.attachments.map((a) => a.kind)).toEqual(['image']);
  });

  it('refuses to download more than the cap', async () => {
    const code = dt.addFile('big.bin', Buffer.alloc(4096, 1));
    const base = dt.robotMessage({ chat: 'direct', conversationId: 'cidB', userId: 'u', text: '' });
    const msg = normalize({ ...base, msgtype: 'file', content: { downloadCode: code, fileName: 'big.bin' } });
    await expect(msg.attachments[0]!.download(1024)).rejects.toMatchObject({
      code: 'SB_ERR_ATTACHMENT_TOO_LARGE',
    });
  });

  it('strips a leading @RobotName when DingTalk left it in', () => {
    expect(stripMention('@Ops Bot  restart nginx', 'Ops Bot')).toBe('restart nginx');
    expect(stripMention('ask @Ops Bot later', 'Ops Bot')).toBe('ask @Ops Bot later');
    expect(stripMention('  hi ', undefined)).toBe('hi');
  });
});

describe('handleRobotMessage', () => {
  const taken: NormalizedMessage[] = [];
  const deps = () => ({
    normalize: o,
    log,
    sink: async (m: NormalizedMessage) => {
      taken.push(m);
      return 'published' as const;
    },
  });

  it('refuses a malformed message with the reason, publishing nothing', async () => {
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'cidM', userId: 'u', text: 'x' });
    const before = taken.length;
    for (const bad of [
      { ...body, msgId: undefined },
      { ...body, conversationType: '3' },
      { ...body, text: { content: 42 } },
      'not an object',
    ]) {
      const r = await handleRobotMessage(bad, deps());
      expect(r.kind).toBe('invalid');
    }
    expect(taken.length).toBe(before);
  });

  it('acknowledges message types it does not handle without publishing them', async () => {
    const body = {
      ...dt.robotMessage({ chat: 'direct', conversationId: 'c', userId: 'u', text: '' }),
      msgtype: 'interactiveCard',
    };
    const before = taken.length;
    expect(await handleRobotMessage(body, deps())).toEqual({ kind: 'done', outcome: 'unsupported' });
    expect(taken.length).toBe(before);
  });

  it('reports a message the runtime could not take as failed, so DingTalk delivers it again', async () => {
    const body = dt.robotMessage({ chat: 'direct', conversationId: 'c', userId: 'u', text: 'x' });
    const r = await handleRobotMessage(body, {
      ...deps(),
      sink: async () => Promise.reject(new Error('broker down')),
    });
    expect(r.kind).toBe('failed');
  });
});
