import { describe, expect, it } from 'vitest';
import { eventCallback, messageEvent } from '../../../test/fakes/slack/events.ts';
import { type EventCallback, eventCallbackSchema, normaliseEvent, slackToPlainText } from './normalise.ts';

const bot = { userId: 'U0BOT', botId: 'B0BOT' };
const noDownload = async () => Buffer.alloc(0);

function callback(event: Record<string, unknown>): EventCallback {
  return eventCallbackSchema.parse(
    eventCallback(event, { teamId: 'T1', appId: 'A1', botUserId: bot.userId }),
  );
}

function normalise(event: Record<string, unknown>) {
  return normaliseEvent(callback(event), bot, noDownload);
}

function message(event: Record<string, unknown>) {
  const n = normalise(event);
  if (n.kind !== 'message') throw new Error(`expected a message, got ignored: ${n.reason}`);
  return n.message;
}

describe('normaliseEvent', () => {
  it('makes a DM a direct message answered inline, addressed to the bot', () => {
    const m = message(
      messageEvent({ channel: 'D123', channelType: 'im', user: 'U1', text: 'hi', ts: '100.000001' }),
    );
    expect(m).toMatchObject({
      platformMessageId: 'D123:100.000001',
      conversationId: 'D123',
      chatType: 'direct',
      channelId: 'D123',
      threadId: undefined,
      user: { id: 'U1' },
      text: 'hi',
      addressedToBot: true,
      replyContext: { channel: 'D123' },
    });
  });

  it('keeps a DM thread as its own conversation', () => {
    const m = message(
      messageEvent({
        channel: 'D123',
        channelType: 'im',
        user: 'U1',
        text: 'more',
        ts: '101.1',
        threadTs: '100.1',
      }),
    );
    expect(m.conversationId).toBe('D123:100.1');
    expect(m.replyContext).toEqual({ channel: 'D123', threadTs: '100.1' });
    expect(m.replyTo).toBe('100.1');
  });

  it('answers an app_mention in a thread under the message and strips the mention', () => {
    const m = message(
      messageEvent(
        { channel: 'C9', user: 'U1', text: '<@U0BOT> what is   up? cc <@U2|bob>', ts: '200.5' },
        'app_mention',
      ),
    );
    expect(m).toMatchObject({
      platformMessageId: 'C9:200.5',
      conversationId: 'C9:200.5',
      chatType: 'group',
      channelId: 'C9',
      threadId: '200.5',
      text: 'what is up? cc <@U2|bob>',
      addressedToBot: true,
      mentions: ['U2'],
      replyContext: { channel: 'C9', threadTs: '200.5' },
    });
  });

  it('gives the app_mention and the message event of one mention the same id', () => {
    const a = message(
      messageEvent({ channel: 'C9', user: 'U1', text: '<@U0BOT> hi', ts: '300.1' }, 'app_mention'),
    );
    const b = message(
      messageEvent({ channel: 'C9', channelType: 'channel', user: 'U1', text: '<@U0BOT> hi', ts: '300.1' }),
    );
    expect(b.platformMessageId).toBe(a.platformMessageId);
    expect(b.addressedToBot).toBe(true);
  });

  it('leaves a channel message without a mention unaddressed, for the group policy to decide', () => {
    const m = message(
      messageEvent({ channel: 'C9', channelType: 'channel', user: 'U1', text: 'chatter', ts: '1.2' }),
    );
    expect(m.addressedToBot).toBe(false);
    expect(m.chatType).toBe('group');
  });

  it('treats a reply in a thread the bot started as addressed to it', () => {
    const m = message(
      messageEvent({
        channel: 'C9',
        channelType: 'channel',
        user: 'U1',
        text: 'thanks',
        ts: '5.2',
        threadTs: '5.1',
        parentUserId: 'U0BOT',
      }),
    );
    expect(m.addressedToBot).toBe(true);
    expect(m.conversationId).toBe('C9:5.1');
  });

  it('ignores the bot itself, edits, joins and other events', () => {
    expect(
      normalise(messageEvent({ channel: 'D1', channelType: 'im', user: 'U0BOT', text: 'x' })),
    ).toMatchObject({
      kind: 'ignored',
      reason: 'own message',
    });
    expect(
      normalise(messageEvent({ channel: 'D1', channelType: 'im', user: 'U7', botId: 'B0BOT', text: 'x' })),
    ).toMatchObject({ kind: 'ignored', reason: 'own message' });
    expect(
      normalise(
        messageEvent({
          channel: 'C1',
          channelType: 'channel',
          user: 'U1',
          text: 'x',
          subtype: 'channel_join',
        }),
      ),
    ).toMatchObject({ kind: 'ignored', reason: 'subtype channel_join' });
    expect(
      normalise({ type: 'message', subtype: 'message_changed', channel: 'C1', ts: '1.1', message: {} }),
    ).toMatchObject({ kind: 'ignored' });
    expect(normalise({ type: 'reaction_added', user: 'U1', reaction: 'tada' })).toMatchObject({
      kind: 'ignored',
      reason: 'unsupported event reaction_added',
    });
  });

  it('announces shared files, downloading only when asked and through the given downloader', async () => {
    const seen: Array<[string, number, string]> = [];
    const n = normaliseEvent(
      callback(
        messageEvent({
          channel: 'D1',
          channelType: 'im',
          user: 'U1',
          text: '',
          subtype: 'file_share',
          files: [
            {
              id: 'F1',
              name: 'cat.png',
              title: 'cat',
              mimetype: 'image/png',
              filetype: 'png',
              size: 3,
              url_private: 'https://files.example/F1/cat.png',
              url_private_download: 'https://files.example/download/F1/cat.png',
            },
          ],
        }),
      ),
      bot,
      async (url, max, name) => {
        seen.push([url, max, name]);
        return Buffer.from('png');
      },
    );
    if (n.kind !== 'message') throw new Error('expected a message');
    expect(n.message.attachments).toHaveLength(1);
    const [a] = n.message.attachments;
    expect(a).toMatchObject({ kind: 'image', name: 'cat.png', mimeType: 'image/png', size: 3 });
    expect(seen).toEqual([]);
    expect((await a!.download(10)).toString()).toBe('png');
    expect(seen).toEqual([['https://files.example/download/F1/cat.png', 10, 'cat.png']]);
  });
});

describe('slackToPlainText', () => {
  it('turns Slack markup back into what the person typed', () => {
    expect(slackToPlainText('see <https://a.example/x|the doc> and <https://b.example>')).toBe(
      'see the doc (https://a.example/x) and https://b.example',
    );
    expect(slackToPlainText('in <#C123|general>, <!here> <!subteam^S1|@ops>')).toBe(
      'in #general, @here @ops',
    );
    expect(slackToPlainText('a &lt;b&gt; &amp;lt; c')).toBe('a <b> &lt; c');
  });
});
