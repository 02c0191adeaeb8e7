import { ChannelType } from 'discord-api-types/v10';
import type { ConnectorHarness, FakePlatform, UserMessage } from '../../connectors/harness.ts';
import { type FakeDiscord, startFakeDiscord } from './server.ts';
import { snowflake } from './snowflake.ts';

/** Discord ids are snowflakes; tests name users and chats with words, so each word gets one for good. */
export class Snowflakes {
  private readonly ids = new Map<string, string>();
  of(name: string): string {
    if (/^\d{17,19}$/.test(name)) return name;
    let id = this.ids.get(name);
    if (!id) {
      id = snowflake();
      this.ids.set(name, id);
    }
    return id;
  }
}

/** Where a test's message goes on the fake: the user's DM (one per chat id), or a guild channel. */
export function channelFor(
  dc: FakeDiscord,
  ids: Snowflakes,
  groups: Map<string, string>,
  m: UserMessage,
): string {
  if (m.chat === 'direct') return dc.world.dmChannel(ids.of(m.userId), m.chatId ?? '');
  if (!m.chatId) return dc.world.generalId;
  let id = groups.get(m.chatId);
  if (!id) {
    id = dc.createChannel(m.chatId);
    groups.set(m.chatId, id);
  }
  return id;
}

/** Wraps a started fake as the contract suite's FakePlatform. */
export function asFakePlatform(dc: FakeDiscord): FakePlatform {
  const ids = new Snowflakes();
  const groups = new Map<string, string>();
  const isThread = (id: string) => dc.world.channels.get(id)?.type === ChannelType.PublicThread;
  return {
    serviceEnv: () => ({ DISCORD_BOT_TOKEN: dc.token, DISCORD_API_URL: dc.apiUrl }),
    async sendUserMessage(m) {
      const msg = dc.post({
        channelId: channelFor(dc, ids, groups, m),
        userId: ids.of(m.userId),
        content: m.text,
        mentionBot: m.chat === 'group' && m.mention === true,
      });
      return { id: msg.id };
    },
    async redeliver(id) {
      dc.redispatch(id);
      return { id };
    },
    // A gateway has no webhook signature to forge; discord.test.ts checks a wrong token at start instead.
    sendWithBadSignature: async () => undefined,
    sent: () =>
      dc.botPosts().map((p) => ({
        conversation: p.channelId,
        text: p.content,
        thread: isThread(p.channelId) ? p.channelId : undefined,
        files: p.files,
      })),
    failNextSends: (n, kind) => dc.failNextSends(n, kind),
    sendCalls: () => dc.sendCalls(),
    typing: () => dc.typing().map((t) => t.channelId),
    close: () => dc.close(),
  };
}

export const discordHarness: ConnectorHarness = {
  platform: 'discord',
  textLimit: 2000,
  bold: (w) => `**${w}**`,
  startFake: async () => asFakePlatform(await startFakeDiscord()),
};
